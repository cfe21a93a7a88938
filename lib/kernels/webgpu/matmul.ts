/**
 * BatchMatMul on the register-blocked GEMM of `gemm.ts`: transposeA/transposeB and batch
 * broadcasting where one side's batch is 1 or both are equal. Anything else returns null and the
 * caller falls back to the stock kernel.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { type GemmKernel, planGemm, runGemm, splitReduce } from "./gemm.ts";
import { ints, type WebgpuBackend } from "./program.ts";

function matmulKernel(transposeA: boolean, transposeB: boolean): GemmKernel {
  // A is [batchA, M, K] (or [batchA, K, M] transposed), B is [batchB, K, N] (or [batchB, N, K]).
  const aIndex = transposeA ? "k * uniforms.dimM + row" : "row * uniforms.dimK + k";
  const bIndex = transposeB ? "col * uniforms.dimK + k" : "k * uniforms.dimN + col";
  return {
    key: `matmul_${transposeA ? "T" : "N"}${transposeB ? "T" : "N"}`,
    variableNames: ["A", "B"],
    aContiguous: transposeA ? "row" : "k",
    bContiguous: transposeB ? "k" : "col",
    uniforms: "aBatchStride : i32, bBatchStride : i32, batches : i32,",
    code: `
alias RowA = i32;
alias KA = i32;
alias ColB = i32;
alias KB = i32;
fn setup(batch : i32) {}
fn rowA(row : i32) -> i32 { return row; }
fn kA(k : i32) -> i32 { return k; }
fn colB(col : i32) -> i32 { return col; }
fn kB(k : i32) -> i32 { return k; }
fn loadA(batch : i32, row : i32, k : i32) -> f32 {
  if (row >= uniforms.dimM || k >= uniforms.dimK) { return 0.0; }
  return A[batch * uniforms.aBatchStride + ${aIndex}];
}
fn loadB(batch : i32, k : i32, col : i32) -> f32 {
  if (k >= uniforms.dimK || col >= uniforms.dimN) { return 0.0; }
  return B[batch * uniforms.bBatchStride + ${bIndex}];
}
fn storeC(batch : i32, split : i32, row : i32, col : i32, value : f32) {
  result[((split * uniforms.batches + batch) * uniforms.dimM + row) * uniforms.dimN + col] = value;
}`,
  };
}

/** Batched matrix product as a GEMM launch (+ a split-K reduction); null when unsupported. */
export function batchMatMul(
  backend: WebgpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo | null {
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const KB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== KB) return null; // let the stock kernel raise its error message
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((x, y) => x * y, 1), batchB = outerB.reduce((x, y) => x * y, 1);
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batches = outer.reduce((x, y) => x * y, 1);
  // A flat batch index addresses both operands only if each is either unbatched or full-size
  // (a full-size operand's batch dims then equal the output's, since none can exceed them).
  if ((batchA !== 1 && batchA !== batches) || (batchB !== 1 && batchB !== batches)) return null;
  const outShape = [...outer, M, N];
  if (outShape.length > 6 || M * N * batches === 0) return null;

  const shape = planGemm(M, N, K, batches, true);
  if (!shape) return null;
  const tile = shape.tile;
  const kernel = matmulKernel(transposeA, transposeB);
  const a3 = { ...a, shape: [batchA, a.shape[ra - 2], a.shape[ra - 1]] };
  const b3 = { ...b, shape: [batchB, b.shape[rb - 2], b.shape[rb - 1]] };
  const extra = ints(batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N, batches);
  if (shape.splits === 1) {
    return runGemm(backend, kernel, tile, shape, [a3, b3], outShape, extra);
  }
  const partial = runGemm(backend, kernel, tile, shape, [a3, b3], [
    shape.splits,
    batches * M * N,
  ], extra);
  return splitReduce(backend, partial, shape.splits, outShape);
}
