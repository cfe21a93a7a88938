/**
 * Counts what a piece of tfjs work costs in operations: tfjs kernel calls (every op, including
 * the ones a kernel runs internally and the backward ones) and, on WebGPU, compute dispatches
 * (which also counts work recorded outside tfjs's kernel registry, such as our fused optimizer).
 * At small batch a training step is bound by this per-op cost, not by FLOPs.
 *
 * @module
 */
import { tf } from "../tf.ts";

/** Kernel calls and GPU dispatches made while `f` ran. */
export interface OpCount {
  /** Kernel calls, in total. */
  kernels: number;
  /** Kernel calls by kernel name, most frequent first. */
  byKernel: Record<string, number>;
  /** 0 off WebGPU. */
  dispatches: number;
}

/** Runs `f` and counts its kernel calls and (on WebGPU) compute dispatches. */
export async function countOps<T>(f: () => Promise<T> | T): Promise<OpCount & { result: T }> {
  const engine = tf.engine() as unknown as { runKernelFunc: (...a: unknown[]) => unknown };
  const runKernelFunc = engine.runKernelFunc;
  let kernels = 0, dispatches = 0;
  const names: Record<string, number> = {};
  engine.runKernelFunc = function (this: unknown, ...a: unknown[]) {
    kernels++;
    const name = (a[0] as { kernelName?: string })?.kernelName ?? "(custom)";
    names[name] = (names[name] ?? 0) + 1;
    return runKernelFunc.apply(this, a);
  };
  const encoder = (globalThis as { GPUComputePassEncoder?: { prototype: GPUComputePassEncoder } })
    .GPUComputePassEncoder?.prototype;
  const dispatch = encoder?.dispatchWorkgroups;
  if (encoder && dispatch) {
    encoder.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a) {
      dispatches++;
      return dispatch.apply(this, a);
    };
  }
  try {
    const result = await f();
    const byKernel = Object.fromEntries(Object.entries(names).sort((x, y) => y[1] - x[1]));
    return { kernels, byKernel, dispatches, result };
  } finally {
    engine.runKernelFunc = runKernelFunc;
    if (encoder && dispatch) encoder.dispatchWorkgroups = dispatch;
  }
}
