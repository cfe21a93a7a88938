/**
 * Training-mode batch normalization in four dispatches per layer (two forward, two backward)
 * instead of the ~35 small ones that moments, normalize and their gradients cost as separate tf
 * ops — at small batch a DCGAN step on WebGPU is bound by per-dispatch cost, and BatchNorm is a
 * third of its dispatches (`deno task bench --backend webgpu` prints the per-kernel counts).
 *
 * - stats: one workgroup per channel reduces x over every position (N·H·W) to the mean and then,
 *   in a second pass over the same values, the biased variance — two passes, as
 *   E[(x − μ)²] loses no precision the way E[x²] − μ² does;
 * - apply: y = (x − μ)·γ/√(σ² + ε) + β, elementwise;
 * - backward reductions: Σ dy and Σ dy·x̂ per channel (also dβ and dγ);
 * - backward apply: dx = γ/√(σ² + ε)·(dy − Σdy/M − x̂·Σdy·x̂/M).
 *
 * The backward dispatches bypass tfjs's tape, so when a gradient is itself being differentiated
 * (a penalty through a normalized network) the backward is built from tf ops instead, which stay
 * differentiable. Channels are the last axis (NHWC or [N, C]).
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { type GpuProgram, ints, MAX_DISPATCH, type WebgpuBackend } from "./program.ts";

const WG = 256;

/** Per-channel reduction over the M rows of an [M, C] view; writes result[0·C + c], result[C + c]. */
function reductionProgram(key: string, variables: string[], body: string): GpuProgram {
  return {
    outputShape: [2, 0], // set per call
    shaderKey: key,
    // A y axis makes the backend call main() (no flat global index): one workgroup per channel.
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [0, 1, 1],
    workgroupSize: [WG, 1, 1],
    variableNames: variables,
    uniforms: "rows : i32, channels : i32,",
    getUserCode: () => `
var<workgroup> red : array<f32, ${WG}>;
fn reduce(v : f32) -> f32 {
  let lid = i32(localId.x);
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}; s > 0; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
fn main() {
  let c = i32(workgroupId.x);
  let lid = i32(localId.x);
  let C = uniforms.channels;
  let M = uniforms.rows;
${body}
}`,
  };
}

/** mean (row 0) and biased variance (row 1) per channel. */
const STATS = (channels: number): GpuProgram => ({
  ...reductionProgram(
    "ganBnStats",
    ["x"],
    `  var s = 0.0;
  for (var r = lid; r < M; r = r + ${WG}) { s = s + x[r * C + c]; }
  let mean = reduce(s) / f32(M);
  var q = 0.0;
  for (var r = lid; r < M; r = r + ${WG}) { let d = x[r * C + c] - mean; q = q + d * d; }
  let variance = reduce(q) / f32(M);
  if (lid == 0) { result[c] = mean; result[C + c] = variance; }`,
  ),
  outputShape: [2, channels],
  dispatch: [channels, 1, 1],
});

/** Σ dy (row 0) and Σ dy·x̂ (row 1) per channel, x̂ = (x − μ)/√(σ² + ε). */
const BACK_STATS = (channels: number): GpuProgram => ({
  ...reductionProgram(
    "ganBnBackStats",
    ["dy", "x", "stats"],
    `  let mean = stats[c];
  let inv = inverseSqrt(stats[C + c] + uniforms.eps);
  var a = 0.0;
  var b = 0.0;
  for (var r = lid; r < M; r = r + ${WG}) {
    let g = dy[r * C + c];
    a = a + g;
    b = b + g * (x[r * C + c] - mean) * inv;
  }
  let sumDy = reduce(a);
  let sumDyXhat = reduce(b);
  if (lid == 0) { result[c] = sumDy; result[C + c] = sumDyXhat; }`,
  ),
  uniforms: "rows : i32, channels : i32, eps : f32,",
  outputShape: [2, channels],
  dispatch: [channels, 1, 1],
});

function elementwise(key: string, variables: string[], size: number, expr: string): GpuProgram {
  const workgroups = Math.ceil(size / WG);
  return {
    outputShape: [size],
    shaderKey: key,
    dispatchLayout: { x: [0] },
    // The backend folds a too-long x dispatch into x·y itself; getGlobalIndex() undoes it.
    dispatch: [workgroups, 1, 1],
    workgroupSize: [WG, 1, 1],
    variableNames: variables,
    uniforms: "rows : i32, channels : i32, eps : f32,",
    size: true,
    getUserCode: () => `
fn main(index : i32) {
  if (index < uniforms.size) {
    let C = uniforms.channels;
    let c = index % C;
    let inv = inverseSqrt(stats[C + c] + uniforms.eps);
    result[index] = ${expr};
  }
}`,
  };
}

function run(
  backend: WebgpuBackend,
  program: GpuProgram,
  inputs: tf.Tensor[],
  uniforms: { rows: number; channels: number; eps?: number },
  shape: number[],
): tf.Tensor {
  const data = ints(uniforms.rows, uniforms.channels);
  if (uniforms.eps !== undefined) data.push({ type: "float32", data: [uniforms.eps] });
  const info = backend.runWebGPUProgram(program, inputs, "float32", data);
  const t = tf.engine().makeTensorFromTensorInfo(info);
  return shape.length === t.rank && shape.every((d, i) => d === t.shape[i])
    ? t
    : tf.reshape(t, shape);
}

/** True when the fused path can run: webgpu backend, float32 input, sizes within one dispatch. */
export function canFuseBatchNorm(x: tf.Tensor): boolean {
  const c = x.shape[x.rank - 1];
  return tf.getBackend() === "webgpu" && x.dtype === "float32" && x.rank >= 2 && c > 0 &&
    c <= MAX_DISPATCH && x.size / c >= 2;
}

/** Output of {@link fusedBatchNormTrain}. */
export interface FusedBatchNormResult {
  /** Normalized, scaled and shifted x (differentiable w.r.t. x, γ and β). */
  y: tf.Tensor;
  /** Batch mean and biased variance per channel (no gradient; for the running statistics). */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch norm over every axis but the last: (x − μ_B)·γ/√(σ²_B + ε) + β, μ_B and σ²_B
 * (biased) from the batch, with its own backward. Needs the webgpu backend
 * ({@link canFuseBatchNorm}).
 */
export function fusedBatchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): FusedBatchNormResult {
  const backend = tf.backend() as unknown as WebgpuBackend;
  const C = x.shape[x.rank - 1], M = x.size / C;
  let stats!: tf.Tensor;
  const f = tf.customGrad((x, gamma, beta, save) => {
    const xt = x as tf.Tensor, g = gamma as tf.Tensor, b = beta as tf.Tensor;
    stats = tf.keep(run(backend, STATS(C), [xt], { rows: M, channels: C }, [2, C]));
    const apply = elementwise(
      "ganBnApply",
      ["x", "stats", "gamma", "beta"],
      xt.size,
      "(x[index] - stats[c]) * inv * gamma[c] + beta[c]",
    );
    const y = run(backend, apply, [xt, stats, g, b], { rows: M, channels: C, eps }, xt.shape);
    (save as tf.GradSaveFunc)([xt, g, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, st] = saved;
        // A tape recording now means this gradient will be differentiated again.
        if ((tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn()) {
          return opsBackward(dy, xs, gs, eps);
        }
        const sums = run(
          backend,
          BACK_STATS(C),
          [dy, xs, st],
          { rows: M, channels: C, eps },
          [2, C],
        );
        const dxProgram = elementwise(
          "ganBnBackApply",
          ["dy", "x", "stats", "sums", "gamma"],
          xs.size,
          "gamma[c] * inv * (dy[index] - sums[c] / f32(uniforms.rows) - " +
            "(x[index] - stats[c]) * inv * sums[C + c] / f32(uniforms.rows))",
        );
        const dx = run(backend, dxProgram, [dy, xs, st, sums, gs], {
          rows: M,
          channels: C,
          eps,
        }, xs.shape);
        const [dBeta, dGamma] = tf.split(tf.reshape(sums, [2 * C]), 2);
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = f(x, gamma, beta);
  const [mean, variance] = tf.split(tf.reshape(stats, [2 * C]), 2) as [tf.Tensor1D, tf.Tensor1D];
  stats.dispose();
  return { y, mean, variance };
}

/**
 * The same backward as differentiable tf ops, for gradients that are differentiated again. The
 * batch statistics are recomputed from x so that their dependence on x enters the second
 * derivative (the saved ones came from our kernel, outside the tape).
 */
function opsBackward(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, eps: number) {
  const C = x.shape[x.rank - 1];
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const inv = tf.rsqrt(tf.add(variance, eps));
  const xhat = tf.mul(tf.sub(x, mean), inv);
  const sumDy = tf.sum(dy, axes), sumDyXhat = tf.sum(tf.mul(dy, xhat), axes);
  const m = x.size / C;
  const dx = tf.mul(
    tf.mul(gamma, inv),
    tf.sub(tf.sub(dy, tf.div(sumDy, m)), tf.mul(xhat, tf.div(sumDyXhat, m))),
  );
  return [dx, sumDyXhat, sumDy];
}
