/**
 * Fused Adam: one WebGPU dispatch per variable computes the new moments and parameter, where the
 * op-by-op update in lib/optim.ts costs about a dozen dispatches (each ~0.1 ms of fixed cost
 * through tfjs-webgpu, which dominates at small batch).
 *
 * The kernel has three outputs, which tfjs's `runWebGPUProgram` (one `result` buffer) cannot
 * express, so it records its own dispatch into the backend's command stream, following the steps
 * of the backend's `recordAndSubmit`. Results go to fresh buffers that the variables then adopt
 * with `assign`: writing in place would also change any tensor that shares a variable's buffer
 * (tfjs shares buffers between a tensor and its clones and reshapes).
 *
 * @module
 */
import { tf } from "../../tf.ts";
import type { WebgpuBackend } from "./program.ts";

/** Adam hyper-parameters for one step, as torch.optim.Adam. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
}

const WGSL = `
struct Params { stepSize : f32, b1 : f32, b2 : f32, eps : f32, rootC2 : f32, n : u32 }
@group(0) @binding(0) var<storage, read> pIn : array<f32>;
@group(0) @binding(1) var<storage, read> gIn : array<f32>;
@group(0) @binding(2) var<storage, read> mIn : array<f32>;
@group(0) @binding(3) var<storage, read> vIn : array<f32>;
@group(0) @binding(4) var<storage, read_write> pOut : array<f32>;
@group(0) @binding(5) var<storage, read_write> mOut : array<f32>;
@group(0) @binding(6) var<storage, read_write> vOut : array<f32>;
@group(0) @binding(7) var<uniform> u : Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= u.n) { return; }
  let g = gIn[i];
  let m = u.b1 * mIn[i] + (1.0 - u.b1) * g;
  let v = u.b2 * vIn[i] + (1.0 - u.b2) * g * g;
  mOut[i] = m;
  vOut[i] = v;
  pOut[i] = pIn[i] - u.stepSize * m / (sqrt(v) / u.rootC2 + u.eps);
}`;

const pipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function pipelineFor(device: GPUDevice): GPUComputePipeline {
  let p = pipelines.get(device);
  if (!p) {
    const module = device.createShaderModule({ code: WGSL, label: "ganFusedAdam" });
    p = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    pipelines.set(device, p);
  }
  return p;
}

/**
 * One Adam step for `param` with gradient `grad` and moment variables `m`, `v` (same shape):
 * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², param ← param − (lr/c₁)·m / (√v/√c₂ + ε), with
 * cₖ = 1 − βₖ^step. One dispatch on the webgpu backend; tf ops with the same math elsewhere.
 */
export function fusedAdamStep(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  h: AdamHyper,
): void {
  const c1 = 1 - h.beta1 ** h.step, c2 = 1 - h.beta2 ** h.step;
  const all = [param, grad, m, v];
  if (tf.getBackend() !== "webgpu" || all.some((t) => t.dtype !== "float32") || param.size === 0) {
    tf.tidy(() => {
      const mNew = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
      const vNew = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
      m.assign(mNew);
      v.assign(vNew);
      const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(c2)), h.eps);
      param.assign(tf.sub(param, tf.div(tf.mul(mNew, h.lr / c1), denom)));
    });
    return;
  }
  const backend = tf.backend() as unknown as WebgpuBackend;
  const outs = [0, 1, 2].map(() => backend.makeTensorInfo(param.shape, "float32"));
  const infos: tf.TensorInfo[] = [...all, ...outs];
  for (const t of infos) backend.uploadToGPU(t.dataId);
  const n = param.size;
  const uniforms = backend.makeUniforms([
    { type: "float32", data: [h.lr / c1] },
    { type: "float32", data: [h.beta1] },
    { type: "float32", data: [h.beta2] },
    { type: "float32", data: [h.eps] },
    { type: "float32", data: [Math.sqrt(c2)] },
    { type: "uint32", data: [n] },
  ]);
  const pipeline = pipelineFor(backend.device);
  const buffer = (t: tf.TensorInfo) => backend.tensorMap.get(t.dataId).resource as GPUBuffer;
  const bindGroup = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      ...infos.map((t, i) => ({ binding: i, resource: { buffer: buffer(t) } })),
      { binding: 7, resource: uniforms },
    ],
  });
  // As the backend's recordAndSubmit: join the open compute pass, and mark every buffer as owned
  // by the pending commands so that disposing a tensor cannot recycle it before they run.
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) {
    backend.computePassEncoder = backend.commandEncoder!.beginComputePass();
  }
  const workgroups = Math.ceil(n / 256);
  const wx = Math.min(workgroups, 65535);
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  backend.computePassEncoder.dispatchWorkgroups(wx, Math.ceil(workgroups / wx), 1);
  for (const t of infos) backend.commandQueueOwnedIds.add(t.dataId);
  backend.dispatchCountInPass++;
  if (backend.dispatchCountInPass >= tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE")) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  [param, m, v].forEach((variable, i) => {
    const t = tf.engine().makeTensorFromTensorInfo(outs[i]);
    variable.assign(t);
    t.dispose();
  });
}
