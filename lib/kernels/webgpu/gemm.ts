/**
 * A generator of tiled, register-blocked WGSL matrix multiplications (C = A·B) whose operands are
 * read through kernel-specific WGSL functions. Plain matmul reads rows of a matrix; convolutions
 * read the im2col matrix on the fly (implicit GEMM), so every kernel here shares one inner loop.
 *
 * Work split: a workgroup of 256 threads, arranged wgy × wgx, computes a BM×BN tile of C
 * (BM = wgy·tm, BN = wgx·tn); each thread owns tm×tn outputs held in tm·tn/4 `vec4<f32>`
 * accumulators. The accumulators, the per-step loads and the k loop over one BK-deep slab are
 * written out one statement each by this generator: WGSL private arrays indexed in a loop are
 * spilled to memory by Deno's shader translation (the project measured 0.7 vs 9.6 TFLOP/s on an
 * H100 for the same kernel), individually named variables stay in registers.
 *
 * Each BK-deep slab of A and B is staged in workgroup memory, k-major, so a thread reads four
 * consecutive rows (or columns) of the slab as one vec4. The next slab's global loads are issued
 * into registers before the current slab is multiplied, so memory latency overlaps the math.
 *
 * Split-K: workgroup z enumerates (batch, split); split s multiplies the k range
 * [s·kChunk, (s+1)·kChunk) and the kernel's store function writes partial sums that
 * {@link splitReduce} adds. This gives parallelism to products with a small output and a long inner
 * dimension, such as the filter gradient of a convolution.
 *
 * @module
 */
import {
  type GpuProgram,
  ints,
  MAX_DISPATCH,
  type UniformData,
  type WebgpuBackend,
} from "./program.ts";
import type { tf } from "../../tf.ts";

/** Threads per workgroup. */
const THREADS = 256;

/**
 * Per-thread tile `tm` rows × `tn` columns of C (4 or 8 each), on a thread grid `wgx` threads wide
 * (16 for square tiles; 4 gives a 256×16 tile for C with few columns, 64 a 16×256 one for C with
 * few rows).
 */
export interface GemmTile {
  tm: 4 | 8;
  tn: 4 | 8;
  wgx: 4 | 16 | 64;
}

/**
 * The kernel-specific half of a GEMM shader: how to read A and B and where C goes.
 *
 * Element reads are split so that index arithmetic (integer divisions, in implicit GEMMs) is done
 * once per row, column or k rather than per element: a thread's staged rows and columns are fixed
 * for the whole k loop, and each staged vec4 shares one k. `code` must define the types `RowA`,
 * `KA`, `ColB`, `KB` (structs, or `alias X = i32;`) and
 * - `fn setup(batch : i32)`, run once per thread first (e.g. to fill `var<private>` state),
 * - `fn rowA(row : i32) -> RowA` and `fn kA(k : i32) -> KA`,
 * - `fn loadA(batch : i32, r : RowA, k : KA) -> f32`, 0 outside A (row >= dimM or k >= dimK),
 * - `fn colB(col : i32) -> ColB` and `fn kB(k : i32) -> KB`,
 * - `fn loadB(batch : i32, k : KB, c : ColB) -> f32`, 0 outside B,
 * - `fn storeC(batch : i32, split : i32, row : i32, col : i32, value : f32)`, called only for
 *   row < dimM, col < dimN,
 * and may use the generic uniforms `dimM, dimN, dimK, splits, kChunk, tilesPerSplit` plus its own
 * `uniforms` fields.
 */
export interface GemmKernel {
  /** Identifies `code` (and anything else baked into it) in the pipeline cache. */
  key: string;
  /** Input names, bound in order as read-only `array<f32>`. */
  variableNames: string[];
  /** Which index of A is contiguous in memory: decides which threads load which elements. */
  aContiguous: "row" | "k";
  /** Which index of B is contiguous in memory. */
  bContiguous: "col" | "k";
  /** Extra uniform fields, e.g. `"inH : i32, inW : i32,"`. */
  uniforms: string;
  code: string;
}

/** The sizes of one GEMM launch. */
export interface GemmShape {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Inner dimension. */
  K: number;
  /** Independent products (matmul batch, or transposed-conv phases); workgroup z. */
  batches: number;
  /** K split count (1 = no split); see the module doc. */
  splits: number;
}

/** Tile rows (BM), columns (BN) and slab depth (BK) for a per-thread tile. */
export function tileDims(tile: GemmTile): { BM: number; BN: number; BK: number } {
  const BM = (THREADS / tile.wgx) * tile.tm, BN = tile.wgx * tile.tn;
  // Slabs of at most 8 KiB per operand (16 KiB of workgroup memory is all WebGPU guarantees).
  return { BM, BN, BK: Math.max(BM, BN) >= 256 || BM * BN >= 128 * 128 ? 8 : 16 };
}

/**
 * Global → register loads for one operand. A slab of A is BM×BK, staged as BM·BK/4 vec4s that
 * each hold four consecutive rows at one k; thread `tid` stages vec4s tid, tid + 256, …
 * (threads past the count stage nothing). `contiguousRows` picks which index consecutive threads
 * walk, so that neighbouring threads read neighbouring addresses.
 */
function stagingSlots(rows: number, BK: number, contiguousRows: boolean, prefix: string) {
  const count = (rows * BK) / 4;
  const slots: { reg: string; quad: string; k: string; guard: string }[] = [];
  for (let i = 0; i * THREADS < count; i++) {
    const s = `(tid + ${i * THREADS})`;
    const guard = count < THREADS ? `tid < ${count}` : "true";
    slots.push(
      contiguousRows
        ? { reg: `${prefix}${i}`, quad: `${s} % ${rows / 4}`, k: `${s} / ${rows / 4}`, guard }
        : { reg: `${prefix}${i}`, quad: `${s} / ${BK}`, k: `${s} % ${BK}`, guard },
    );
  }
  return slots;
}

/** Generates the WGSL `main` for a tile and kernel (the backend adds the prelude). */
export function gemmSource(kernel: GemmKernel, tile: GemmTile): string {
  const { BM, BN, BK } = tileDims(tile);
  const wgx = tile.wgx, wgy = THREADS / wgx;
  const GM = tile.tm / 4, GN = tile.tn / 4; // vec4 groups per thread along rows / columns
  const aSlots = stagingSlots(BM, BK, kernel.aContiguous === "row", "stageA");
  const bSlots = stagingSlots(BN, BK, kernel.bContiguous === "col", "stageB");
  const lines: string[] = [];
  const emit = (s: string) => lines.push(s);

  emit(`var<workgroup> tileA : array<vec4<f32>, ${(BK * BM) / 4}>;`);
  emit(`var<workgroup> tileB : array<vec4<f32>, ${(BK * BN) / 4}>;`);
  emit(kernel.code);
  // Stores four consecutive columns of one row, skipping those outside C.
  emit(`fn storeRow4(batch : i32, split : i32, row : i32, col : i32, v : vec4<f32>) {`);
  emit(`  if (row >= uniforms.dimM) { return; }`);
  emit(`  for (var j = 0; j < 4; j = j + 1) {`);
  emit(`    if (col + j < uniforms.dimN) { storeC(batch, split, row, col + j, v[j]); }`);
  emit(`  }`);
  emit(`}`);
  emit(`fn main() {`);
  emit(`  let tx = i32(localId.x);`);
  emit(`  let ty = i32(localId.y);`);
  emit(`  let tid = ty * ${wgx} + tx;`);
  emit(`  let rowBase = i32(workgroupId.y) * ${BM};`);
  emit(`  let colBase = i32(workgroupId.x) * ${BN};`);
  emit(`  let batch = i32(workgroupId.z) / uniforms.splits;`);
  emit(`  let split = i32(workgroupId.z) % uniforms.splits;`);
  emit(`  let kBegin = split * uniforms.kChunk;`);
  // Staging coordinates are fixed per thread for the whole k loop.
  aSlots.forEach((s, i) => {
    emit(`  let aRow${i} = rowBase + 4 * (${s.quad});`);
    emit(`  let aK${i} = ${s.k};`);
  });
  bSlots.forEach((s, i) => {
    emit(`  let bCol${i} = colBase + 4 * (${s.quad});`);
    emit(`  let bK${i} = ${s.k};`);
  });
  emit(`  setup(batch);`);
  aSlots.forEach((_, i) => {
    for (let j = 0; j < 4; j++) emit(`  let aR${i}_${j} = rowA(aRow${i} + ${j});`);
  });
  bSlots.forEach((_, i) => {
    for (let j = 0; j < 4; j++) emit(`  let bC${i}_${j} = colB(bCol${i} + ${j});`);
  });
  const loadA = (i: number) =>
    `vec4<f32>(${[0, 1, 2, 3].map((j) => `loadA(batch, aR${i}_${j}, ak)`).join(", ")})`;
  const loadB = (i: number) =>
    `vec4<f32>(${[0, 1, 2, 3].map((j) => `loadB(batch, bk, bC${i}_${j})`).join(", ")})`;
  for (let r = 0; r < tile.tm; r++) {
    for (let h = 0; h < GN; h++) emit(`  var acc${r}_${h} = vec4<f32>(0.0);`);
  }
  // Iteration t issues the global loads of slab t, then multiplies slab t − 1 (already in
  // workgroup memory) while those loads are in flight, then stages slab t. The trip count comes
  // from a uniform only, so the barriers sit in uniform control flow; the last split's surplus
  // slabs load zeros (loaders return 0 for k >= dimK).
  emit(`  for (var t = 0; t <= uniforms.tilesPerSplit; t = t + 1) {`);
  emit(`    let k0 = kBegin + t * ${BK};`);
  const staged = [
    ...aSlots.map((s, i) => ({ ...s, k: `let ak = kA(k0 + aK${i});`, load: loadA(i) })),
    ...bSlots.map((s, i) => ({ ...s, k: `let bk = kB(k0 + bK${i});`, load: loadB(i) })),
  ];
  for (const s of staged) emit(`    var ${s.reg} = vec4<f32>(0.0);`);
  emit(`    if (t < uniforms.tilesPerSplit) {`);
  for (const s of staged) {
    emit(s.guard === "true" ? `      {` : `      if (${s.guard}) {`);
    emit(`        ${s.k}`);
    emit(`        ${s.reg} = ${s.load};`);
    emit(`      }`);
  }
  emit(`    }`);
  emit(`    if (t > 0) {`);
  const lane = ["x", "y", "z", "w"];
  for (let kk = 0; kk < BK; kk++) {
    emit(`      {`);
    for (let g = 0; g < GM; g++) {
      emit(`        let a${g} = tileA[${kk * (BM / 4) + g * wgy} + ty];`);
    }
    for (let h = 0; h < GN; h++) {
      emit(`        let b${h} = tileB[${kk * (BN / 4) + h * wgx} + tx];`);
    }
    for (let g = 0; g < GM; g++) {
      for (let i = 0; i < 4; i++) {
        for (let h = 0; h < GN; h++) {
          const acc = `acc${g * 4 + i}_${h}`;
          emit(`        ${acc} = fma(vec4<f32>(a${g}.${lane[i]}), b${h}, ${acc});`);
        }
      }
    }
    emit(`      }`);
  }
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`    if (t < uniforms.tilesPerSplit) {`);
  const store = (s: { guard: string }, line: string) =>
    emit(s.guard === "true" ? `      ${line}` : `      if (${s.guard}) { ${line} }`);
  aSlots.forEach((s, i) =>
    store(s, `tileA[aK${i} * ${BM / 4} + (aRow${i} - rowBase) / 4] = ${s.reg};`)
  );
  bSlots.forEach((s, i) =>
    store(s, `tileB[bK${i} * ${BN / 4} + (bCol${i} - colBase) / 4] = ${s.reg};`)
  );
  emit(`    }`);
  emit(`    workgroupBarrier();`);
  emit(`  }`);
  // Thread (tx, ty) owns rows (g·wgy + ty)·4 + i and columns (h·wgx + tx)·4 + j.
  for (let g = 0; g < GM; g++) {
    for (let i = 0; i < 4; i++) {
      for (let h = 0; h < GN; h++) {
        const row = `rowBase + ${g * wgy * 4 + i} + ty * 4`,
          col = `colBase + ${h * wgx * 4} + tx * 4`;
        emit(`  storeRow4(batch, split, ${row}, ${col}, acc${g * 4 + i}_${h});`);
      }
    }
  }
  emit(`}`);
  return lines.join("\n");
}

/** Generic uniform fields every GEMM shader declares first. */
const GEMM_UNIFORMS =
  "dimM : i32, dimN : i32, dimK : i32, splits : i32, kChunk : i32, tilesPerSplit : i32,";

/** Workgroups a launch should have to fill a large GPU (an H100 has 132 SMs). */
const TARGET_WORKGROUPS = 256;

/**
 * K loops shorter than this many slabs are never split: the extra reduction dispatch (~0.1 ms of
 * fixed cost through tfjs-webgpu) would cost more than the loop's latency.
 */
const MIN_SLABS_TO_SPLIT = 256;

/** Each split gets at least this many slabs. */
const MIN_SLABS_PER_SPLIT = 32;

/**
 * Products with at most this many outputs are left to the stock kernels, which give each output a
 * workgroup of its own that reduces over K (tfjs's MatMulReduceProgram) in one dispatch; a tile
 * here would be mostly empty and a long K would need a second, reduction dispatch.
 */
const TINY_OUTPUT = 128;

/** The square tiles, largest first, then the narrow ones (256×16 and 16×256). */
export const TILES: readonly GemmTile[] = [
  { tm: 8, tn: 8, wgx: 16 },
  { tm: 8, tn: 4, wgx: 16 },
  { tm: 4, tn: 8, wgx: 16 },
  { tm: 4, tn: 4, wgx: 16 },
  { tm: 4, tn: 4, wgx: 4 },
  { tm: 4, tn: 4, wgx: 64 },
];

let tileOverride: GemmTile | null = null;

/**
 * Forces one tile for every GEMM launch (null restores the automatic choice). For tests, which
 * must cover every tile with small matrices, and for benchmarks.
 */
export function setTileOverride(tile: GemmTile | null): void {
  tileOverride = tile;
}

/** The tiles worth considering for an M×N product, preferred first. */
function candidateTiles(M: number, N: number): GemmTile[] {
  if (tileOverride) return [tileOverride];
  // A C with at most 16 columns (or rows) fills a narrow tile; a 64-wide one would be mostly empty.
  if (N <= 16) return [TILES[4]];
  if (M <= 16) return [TILES[5]];
  return TILES.slice(0, 4).filter((t) => !(t.tm === 8 && M <= 64) && !(t.tn === 8 && N <= 64));
}

/**
 * Chooses the tile and K split of a launch. Bigger tiles do more math per byte staged (a thread's
 * 8×8 block does 64 FMAs per 4 vec4 reads of workgroup memory, a 4×4 block 16 per 2), so the
 * largest tile that leaves no 128-wide side half empty is preferred, and a long K is split to reach
 * the workgroup target; only when that cannot reach it do smaller tiles get a turn, and failing
 * that the plan with the most workgroups wins. `allowSplit` false gives `splits` 1. Returns null
 * for tiny products (see {@link TINY_OUTPUT}) and when the launch exceeds the dispatch limits.
 */
export function planGemm(
  M: number,
  N: number,
  K: number,
  batches: number,
  allowSplit: boolean,
): GemmShape & { tile: GemmTile } | null {
  if (M * N * batches <= TINY_OUTPUT) return null;
  let best: (GemmShape & { tile: GemmTile; workgroups: number }) | null = null;
  for (const tile of candidateTiles(M, N)) {
    const { BM, BN, BK } = tileDims(tile);
    const workgroups = Math.ceil(M / BM) * Math.ceil(N / BN) * batches;
    const slabs = Math.ceil(K / BK);
    const maxSplits = allowSplit && slabs >= MIN_SLABS_TO_SPLIT
      ? Math.min(Math.floor(slabs / MIN_SLABS_PER_SPLIT), Math.floor(MAX_DISPATCH / batches))
      : 1;
    const splits = Math.max(1, Math.min(maxSplits, Math.ceil(TARGET_WORKGROUPS / workgroups)));
    const plan = { M, N, K, batches, splits, tile, workgroups: workgroups * splits };
    if (!gemmFits(plan, tile)) continue;
    if (plan.workgroups >= TARGET_WORKGROUPS) return plan;
    if (!best || plan.workgroups > best.workgroups) best = plan;
  }
  return best;
}

/** Whether a launch fits in the device's dispatch limits. */
function gemmFits(shape: GemmShape, tile: GemmTile): boolean {
  const { BM, BN } = tileDims(tile);
  return Math.ceil(shape.N / BN) <= MAX_DISPATCH && Math.ceil(shape.M / BM) <= MAX_DISPATCH &&
    shape.batches * shape.splits <= MAX_DISPATCH;
}

/**
 * Runs one GEMM program. `outputShape` is the shape of the tensor `storeC` writes (for split
 * launches, the partial-sum buffer). `extra` fills the kernel's own uniform fields, in order.
 */
export function runGemm(
  backend: WebgpuBackend,
  kernel: GemmKernel,
  tile: GemmTile,
  shape: GemmShape,
  inputs: tf.TensorInfo[],
  outputShape: number[],
  extra: UniformData[],
): tf.TensorInfo {
  const { BM, BN, BK } = tileDims(tile);
  const kChunk = Math.ceil(Math.ceil(shape.K / shape.splits) / BK) * BK;
  const tilesPerSplit = Math.max(1, kChunk / BK);
  const rank = outputShape.length;
  const program: GpuProgram = {
    outputShape,
    shaderKey: `ganGemm_${kernel.key}_${tile.tm}x${tile.tn}w${tile.wgx}`,
    // Only its rank matters to the prelude (the shader computes its own coordinates).
    dispatchLayout: { x: [rank - 1], y: [rank - 2], z: [...Array(rank - 2).keys()] },
    dispatch: [Math.ceil(shape.N / BN), Math.ceil(shape.M / BM), shape.batches * shape.splits],
    workgroupSize: [tile.wgx, THREADS / tile.wgx, 1],
    variableNames: kernel.variableNames,
    uniforms: GEMM_UNIFORMS + kernel.uniforms,
    getUserCode: () => gemmSource(kernel, tile),
  };
  const uniforms = [
    ...ints(shape.M, shape.N, shape.K, shape.splits, kChunk, tilesPerSplit),
    ...extra,
  ];
  return backend.runWebGPUProgram(program, inputs, "float32", uniforms);
}

/**
 * Sums a `[splits, ...outShape]` partial-sum tensor over its first axis into a new tensor of
 * `outShape`, and frees the partials.
 */
export function splitReduce(
  backend: WebgpuBackend,
  partial: tf.TensorInfo,
  splits: number,
  outShape: number[],
): tf.TensorInfo {
  const size = outShape.reduce((a, b) => a * b, 1);
  const workgroups = Math.ceil(size / 256);
  const program: GpuProgram = {
    outputShape: outShape,
    shaderKey: "ganSplitReduce",
    dispatchLayout: { x: [...outShape.keys()] },
    // The backend folds a too-long x dispatch into x·y itself; getGlobalIndex() undoes it.
    dispatch: [workgroups, 1, 1],
    workgroupSize: [256, 1, 1],
    variableNames: ["partial"],
    uniforms: "splits : i32,",
    size: true,
    getUserCode: () => `
fn main(index : i32) {
  if (index < uniforms.size) {
    var sum = 0.0;
    for (var s = 0; s < uniforms.splits; s = s + 1) {
      sum = sum + partial[s * uniforms.size + index];
    }
    result[index] = sum;
  }
}`,
  };
  const out = backend.runWebGPUProgram(program, [partial], "float32", ints(splits));
  backend.disposeData(partial.dataId);
  return out;
}
