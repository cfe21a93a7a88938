/**
 * Fast CPU training kernels for the tfjs `wasm` backend.
 *
 * `registerFastKernels()` adds the four kernels wasm lacks for GAN training
 * (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput/Filter, UnsortedSegmentSum) and
 * replaces two slow ones (Conv2DBackpropInput, BatchMatMul with transposes); see `wasm.ts`.
 * `enableWasmThreads()` makes the wasm backend use its multi-threaded build under Deno.
 *
 * @module
 */
// The wasm backend registers its own kernels when its module is evaluated. Importing it here,
// before ours, guarantees that order — otherwise its registration would overwrite ours.
import "@tensorflow/tfjs-backend-wasm";
import { registerWasmKernels } from "./wasm.ts";

export { setBlas, useKernelVariant } from "./wasm.ts";
export { enableWasmThreads, type WasmThreadsResult } from "./threads.ts";

/**
 * Registers our kernels for the "wasm" backend; safe to call any number of times, before or after
 * `tf.setBackend("wasm")`. Returns the names of the kernels it registered.
 */
export function registerFastKernels(): string[] {
  return registerWasmKernels();
}
