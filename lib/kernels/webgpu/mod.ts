/**
 * Our WGSL kernels for the tfjs `webgpu` backend (tfjs-backend-webgpu 4.22.0).
 *
 * `registerWebgpuKernels()` replaces the stock BatchMatMul, Conv2D, Conv2DBackpropInput and
 * Conv2DBackpropFilter with register-blocked (implicit) GEMMs from `gemm.ts`. Each replacement
 * handles float32 NHWC cases and hands anything else (NCHW, exotic broadcasting, huge dispatches)
 * to the stock kernel it replaced. `fusedAdamStep` / `fusedRmspropStep` (used by lib/optim.ts)
 * update a parameter and its optimizer state in one dispatch.
 *
 * @module
 */
// The stock kernels register when the package is evaluated; importing it first guarantees they
// exist (and are saved) before ours replace them.
import "@tensorflow/tfjs-backend-webgpu";
import { tf } from "../../tf.ts";
import { batchMatMul } from "./matmul.ts";
import { conv2d, conv2dBackpropFilter, conv2dBackpropInput } from "./conv.ts";
import type { WebgpuBackend } from "./program.ts";

export { type AdamHyper, fusedAdamStep, fusedRmspropStep, type RmspropHyper } from "./optim.ts";

type Impl = (
  inputs: Record<string, tf.TensorInfo>,
  backend: WebgpuBackend,
  attrs: tf.NamedAttrMap,
) => tf.TensorInfo | null;

/** Kernel name → our implementation (returns null to defer to the stock kernel). */
const OURS: Record<string, Impl> = {
  BatchMatMul: (inputs, backend, attrs) =>
    batchMatMul(
      backend,
      inputs.a,
      inputs.b,
      attrs.transposeA as boolean,
      attrs.transposeB as boolean,
    ),
  Conv2D: (inputs, backend, attrs) => conv2d(backend, inputs.x, inputs.filter, attrs),
  Conv2DBackpropInput: (inputs, backend, attrs) =>
    conv2dBackpropInput(backend, inputs.dy, inputs.filter, attrs),
  Conv2DBackpropFilter: (inputs, backend, attrs) =>
    conv2dBackpropFilter(backend, inputs.x, inputs.dy, attrs),
};

/** The stock configs we replaced, to fall back to and to restore. */
const stock = new Map<string, tf.KernelConfig>();

/** Calls per kernel that ran ours vs fell back to stock, since the last reset. */
const counts: Record<string, { ours: number; stock: number }> = {};

/**
 * How often each registered kernel ran our implementation and how often it fell back to the stock
 * one (unsupported dtype, layout or shape); `reset` zeroes the counts after reading them.
 */
export function webgpuKernelCounts(reset = false): Record<string, { ours: number; stock: number }> {
  const copy = structuredClone(counts);
  if (reset) { for (const k of Object.keys(counts)) delete counts[k]; }
  return copy;
}

/**
 * Registers our kernels for the "webgpu" backend in place of the stock ones; safe to call any
 * number of times, before or after `tf.setBackend("webgpu")`. Returns the registered names.
 */
export function registerWebgpuKernels(): string[] {
  for (const [kernelName, impl] of Object.entries(OURS)) {
    if (stock.has(kernelName)) continue;
    const original = tf.getKernel(kernelName, "webgpu");
    if (!original) continue;
    stock.set(kernelName, original);
    tf.unregisterKernel(kernelName, "webgpu");
    tf.registerKernel({
      kernelName,
      backendName: "webgpu",
      kernelFunc: (args) => {
        const c = counts[kernelName] ??= { ours: 0, stock: 0 };
        const backend = args.backend as unknown as WebgpuBackend;
        const out = impl(args.inputs as Record<string, tf.TensorInfo>, backend, args.attrs ?? {});
        if (out) {
          c.ours++;
          return out;
        }
        c.stock++;
        return original.kernelFunc(args) as tf.TensorInfo;
      },
    });
  }
  return [...stock.keys()];
}

/** Restores the stock kernels (for A/B comparisons); `registerWebgpuKernels` re-installs ours. */
export function unregisterWebgpuKernels(): void {
  for (const [kernelName, original] of stock) {
    tf.unregisterKernel(kernelName, "webgpu");
    tf.registerKernel(original);
  }
  stock.clear();
}
