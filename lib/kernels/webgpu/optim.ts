/**
 * Fused optimizer updates: one WebGPU dispatch per variable computes the new state and parameter,
 * where the op-by-op update costs a dozen (Adam) or seven (RMSprop) dispatches, each with ~0.1 ms
 * of fixed cost through tfjs-webgpu — which dominates a training step at small batch.
 *
 * A kernel here has several outputs, which tfjs's `runWebGPUProgram` (one `result` buffer) cannot
 * express, so {@link dispatchElementwise} records its own dispatch into the backend's command
 * stream, following the steps of the backend's `recordAndSubmit`. Results go to fresh buffers that
 * the variables then adopt with `assign`: writing in place would also change any tensor that shares
 * a variable's buffer (tfjs shares buffers between a tensor and its clones and reshapes).
 *
 * On the wasm backend the same update runs as one WebAssembly SIMD pass (../simd_optim.ts), on cpu
 * as tf ops; both keep the float32 operations of the op-by-op update, so their results are
 * unchanged bit for bit.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import type { WebgpuBackend } from "./program.ts";
import {
  type AdamHyper,
  adamStepOps,
  type RmspropHyper,
  rmspropStepOps,
  wasmAdamStep,
  wasmRmspropStep,
} from "../simd_optim.ts";

export { type AdamHyper, adamStepOps, type RmspropHyper };

/** One uniform field: name and value (f32 or u32). */
type Uniform = { name: string; type: "f32" | "u32"; value: number };

/**
 * WGSL for an elementwise kernel over `n` elements: read-only inputs, read-write outputs, a
 * uniform struct, and `body` computing the outputs at index `i`.
 */
function elementwiseWgsl(inputs: string[], outputs: string[], uniforms: Uniform[], body: string) {
  const names = [...inputs, ...outputs];
  const decls = names.map((name, b) =>
    `@group(0) @binding(${b}) var<storage, ${b < inputs.length ? "read" : "read_write"}> ` +
    `${name} : array<f32>;`
  );
  const fields = [...uniforms.map((u) => `${u.name} : ${u.type}`), "n : u32"].join(", ");
  return `
struct Params { ${fields} }
${decls.join("\n")}
@group(0) @binding(${names.length}) var<uniform> u : Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>,
        @builtin(local_invocation_index) lid : u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= u.n) { return; }
${body}
}`;
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, label: string, code: string): GPUComputePipeline {
  let byLabel = pipelines.get(device);
  if (!byLabel) pipelines.set(device, byLabel = new Map());
  let p = byLabel.get(label);
  if (!p) {
    const module = device.createShaderModule({ code, label });
    p = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    byLabel.set(label, p);
  }
  return p;
}

/**
 * Runs an elementwise kernel with several outputs on the webgpu backend and returns the outputs
 * as new tensors (shaped like `inputs[0]`). The caller owns them.
 */
function dispatchElementwise(
  label: string,
  code: string,
  inputs: tf.Tensor[],
  nOutputs: number,
  uniforms: Uniform[],
): tf.Tensor[] {
  const backend = tf.backend() as unknown as WebgpuBackend;
  const shape = inputs[0].shape, n = inputs[0].size;
  const outs = Array.from({ length: nOutputs }, () => backend.makeTensorInfo(shape, "float32"));
  const infos: tf.TensorInfo[] = [...inputs, ...outs];
  for (const t of infos) backend.uploadToGPU(t.dataId);
  const uniformBuffer = backend.makeUniforms([
    ...uniforms.map((u) => ({
      type: u.type === "f32" ? "float32" as const : "uint32" as const,
      data: [u.value],
    })),
    { type: "uint32" as const, data: [n] },
  ]);
  const pipeline = pipelineFor(backend.device, label, code);
  const buffer = (t: tf.TensorInfo) => backend.tensorMap.get(t.dataId).resource as GPUBuffer;
  const bindGroup = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      ...infos.map((t, i) => ({ binding: i, resource: { buffer: buffer(t) } })),
      { binding: infos.length, resource: uniformBuffer },
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
  return outs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
}

/** True when the fused kernel can run: webgpu backend, float32, non-empty. */
function fusable(tensors: tf.Tensor[]): boolean {
  return tf.getBackend() === "webgpu" && tensors[0].size > 0 &&
    tensors.every((t) => t.dtype === "float32");
}

/** Assigns each variable its new value and frees the temporaries. */
function adopt(vars: tf.Variable[], values: tf.Tensor[]): void {
  vars.forEach((v, i) => v.assign(values[i]));
  tf.dispose(values);
}

const ADAM_UNIFORMS = ["stepSize", "b1", "b2", "eps", "rootC2"];
const ADAM_WGSL = elementwiseWgsl(
  ["pIn", "gIn", "mIn", "vIn"],
  ["pOut", "mOut", "vOut"],
  ADAM_UNIFORMS.map((name) => ({ name, type: "f32", value: 0 })),
  `  let g = gIn[i];
  let m = u.b1 * mIn[i] + (1.0 - u.b1) * g;
  let v = u.b2 * vIn[i] + (1.0 - u.b2) * g * g;
  mOut[i] = m;
  vOut[i] = v;
  pOut[i] = pIn[i] - u.stepSize * m / (sqrt(v) / u.rootC2 + u.eps);`,
);

/**
 * One Adam step for `param` with gradient `grad` and moment variables `m`, `v` (same shape):
 * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², param ← param − (lr/c₁)·m / (√v/√c₂ + ε), with
 * cₖ = 1 − βₖ^step. One dispatch on webgpu, one SIMD pass on wasm, tf ops on cpu.
 */
export function fusedAdamStep(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  h: AdamHyper,
): void {
  if (!fusable([param, grad, m, v])) {
    if (!wasmAdamStep(param, grad, m, v, h)) adamStepOps(param, grad, m, v, h);
    return;
  }
  const c1 = 1 - h.beta1 ** h.step, c2 = 1 - h.beta2 ** h.step;
  const values = [h.lr / c1, h.beta1, h.beta2, h.eps, Math.sqrt(c2)];
  const outs = dispatchElementwise(
    "ganFusedAdam",
    ADAM_WGSL,
    [param, grad, m, v],
    3,
    ADAM_UNIFORMS.map((name, i) => ({ name, type: "f32", value: values[i] })),
  );
  adopt([param, m, v], outs);
}

const RMSPROP_UNIFORMS = ["lr", "alpha", "eps"];
const RMSPROP_WGSL = elementwiseWgsl(
  ["pIn", "gIn", "sqIn"],
  ["pOut", "sqOut"],
  RMSPROP_UNIFORMS.map((name) => ({ name, type: "f32", value: 0 })),
  `  let g = gIn[i];
  let sq = u.alpha * sqIn[i] + (1.0 - u.alpha) * g * g;
  sqOut[i] = sq;
  pOut[i] = pIn[i] - g * u.lr / (sqrt(sq) + u.eps);`,
);

/**
 * One RMSprop step (torch.optim.RMSprop, no momentum): s ← αs + (1−α)g², param ← param −
 * lr·g / (√s + ε). One dispatch on webgpu, one SIMD pass on wasm, tf ops on cpu.
 */
export function fusedRmspropStep(
  param: tf.Variable,
  grad: tf.Tensor,
  sq: tf.Variable,
  h: RmspropHyper,
): void {
  if (!fusable([param, grad, sq])) {
    if (!wasmRmspropStep(param, grad, sq, h)) rmspropStepOps(param, grad, sq, h);
    return;
  }
  const values = [h.lr, h.alpha, h.eps];
  const outs = dispatchElementwise(
    "ganFusedRmsprop",
    RMSPROP_WGSL,
    [param, grad, sq],
    2,
    RMSPROP_UNIFORMS.map((name, i) => ({ name, type: "f32", value: values[i] })),
  );
  adopt([param, sq], outs);
}
