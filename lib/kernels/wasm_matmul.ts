/**
 * BatchMatMul on wasm with transposed operands.
 *
 * The wasm backend's BatchMatMul is fast for plain a·b (XNNPACK) but falls to a slow path when
 * `transposeA`/`transposeB` is set — measured on a 2-core machine for [64,1024]·[1024,784]: 5.6 ms
 * plain, 69 ms with transposeB, 276 ms with transposeA. Every matMul gradient uses exactly those
 * flags (dA = dY·Bᵀ, dB = Aᵀ·dY), so backward passes of every MLP/linear layer paid 10–50×.
 * Materializing the transpose first (a cheap copy) and calling the plain kernel restores speed.
 *
 * @module
 */
import { tf } from "../tf.ts";

type KernelFunc = tf.KernelConfig["kernelFunc"];

/** Registers the transpose-first BatchMatMul over the wasm one; returns the kernel name. */
export function registerWasmMatMul(): string[] {
  const orig = tf.getKernel("BatchMatMul", "wasm");
  const transpose = tf.getKernel("Transpose", "wasm");
  if (!orig || !transpose) return [];
  if ((orig.kernelFunc as { ganrepro?: boolean }).ganrepro) return ["BatchMatMul"];
  const plain = orig.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, attrs, backend } = args;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return plain(args);
    const made: tf.TensorInfo[] = [];
    const swapLast = (t: tf.TensorInfo): tf.TensorInfo => {
      const r = t.shape.length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const out = transpose.kernelFunc({
        inputs: { x: t },
        attrs: { perm },
        backend,
      }) as tf.TensorInfo;
      made.push(out);
      return out;
    };
    const A = inputs.a as tf.TensorInfo, B = inputs.b as tf.TensorInfo;
    const size = (t: tf.TensorInfo) => t.shape.reduce((x, y) => x * y, 1);
    const m = transposeA ? A.shape[A.shape.length - 1] : A.shape[A.shape.length - 2];
    const n = transposeB ? B.shape[B.shape.length - 2] : B.shape[B.shape.length - 1];
    const batch = Math.max(
      size(A) / (A.shape.at(-1)! * A.shape.at(-2)!),
      size(B) / (B.shape.at(-1)! * B.shape.at(-2)!),
    );
    // Either transpose the flagged operands (C = op(A)·op(B)), or compute Cᵀ = op(B)ᵀ·op(A)ᵀ, where
    // flagged operands need no copy, and transpose C back. Copy whichever is fewer elements.
    const direct = (transposeA ? size(A) : 0) + (transposeB ? size(B) : 0);
    const swapped = (transposeA ? 0 : size(A)) + (transposeB ? 0 : size(B)) + batch * m * n;
    let out: tf.TensorInfo;
    if (direct <= swapped) {
      out = plain({
        inputs: { ...inputs, a: transposeA ? swapLast(A) : A, b: transposeB ? swapLast(B) : B },
        attrs: { ...attrs, transposeA: false, transposeB: false },
        backend,
      }) as tf.TensorInfo;
    } else {
      const ct = plain({
        inputs: { ...inputs, a: transposeB ? B : swapLast(B), b: transposeA ? A : swapLast(A) },
        attrs: { ...attrs, transposeA: false, transposeB: false },
        backend,
      }) as tf.TensorInfo;
      made.push(ct);
      out = swapLast(ct);
      made.pop();
    }
    for (const t of made) (backend as tf.KernelBackend).disposeData(t.dataId);
    return out;
  };
  (kernelFunc as { ganrepro?: boolean }).ganrepro = true;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({ ...orig, kernelFunc });
  return ["BatchMatMul"];
}
