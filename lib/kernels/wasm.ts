/**
 * Training kernels for the tfjs `wasm` backend (tfjs 4.22.0) that it lacks or runs slowly.
 *
 * Verified on tfjs 4.22.0 under Deno (`tf.getKernelsForBackend("wasm")` vs `"cpu"`, and a
 * forward+backward of every op the nine papers use, run on wasm):
 * - Missing on wasm, needed by the papers — exactly four:
 *   Conv2DBackpropFilter (every conv / transposed-conv weight), DepthwiseConv2dNativeBackpropInput
 *   and DepthwiseConv2dNativeBackpropFilter (grouped / modulated convs), UnsortedSegmentSum (the
 *   gradient of GatherV2, i.e. every label embedding).
 * - Also missing, not needed: Complex, ComplexAbs, Real, Imag, FFT, IFFT, Einsum, Draw,
 *   RaggedGather, RaggedRange, RaggedTensorToTensor, StaticRegexReplace.
 * - Present and working (forward and gradient): Conv2D, Conv2DBackpropInput, moments/batchNorm,
 *   LeakyRelu, Prelu, Relu, Relu6, Elu, Selu, Sigmoid, Tanh, Softplus, logSigmoid, Sqrt, Rsqrt,
 *   Square, Abs, Exp, Log, Pow, Mean, Sum, Max, Min, MatMul, GatherV2 (forward), Concat, Pack,
 *   Tile, Slice, Pad, MirrorPad (reflect and symmetric), ResizeNearestNeighbor(+Grad),
 *   ResizeBilinear(+Grad), AvgPool(+Grad), MaxPool(+Grad), ClipByValue, Maximum, Minimum, Select,
 *   SquaredDifference, Transpose, Reverse, Softmax, SpaceToBatchND, OneHot, Cast, AddN, LRN.
 * - Present but slow (measured, one core): Conv2DBackpropInput ~2.5 GFLOP/s (Conv2D: ~28);
 *   BatchMatMul with transposeA or transposeB ~1–2 GFLOP/s (no transpose: ~30) — every dense
 *   layer's gradient uses those flags; Sum and Mean over non-innermost axes (batch-norm moments)
 *   transpose their input first; StridedSlice, large Transposes and DepthToSpace move data at
 *   18–70 ns per element.
 * - Failing identically on cpu (tfjs-core gradient gaps, not backend issues): gradients of
 *   StridedSlice, DepthToSpace, Cumsum (wrong shape), Prod, Einsum, dilated conv2d.
 *
 * Design: the FLOPs go through XNNPACK (the stock wasm Conv2D, DepthwiseConv2dNative and
 * BatchMatMul without transposes); the reshuffling around them is done by plain loops writing
 * into the wasm heap ({@link ./layout.ts}), because the wasm backend's own data-movement kernels
 * are slower than JS.
 * - Conv2DBackpropFilter: a stride-1 conv with dilation = stride over transposed operands (x read
 *   as [Ci, H, W, B], dy as the filter [OH, OW, B, Co]); for few input channels (RGB/greyscale
 *   layers) one GEMM `dW = im2col(x)ᵀ · dy` instead.
 * - Conv2DBackpropInput: split by stride phase. The input rows `h ≡ r (mod s)` only see the
 *   kernel taps `kh ≡ (r + pad) (mod s)`, so each of the s² phases is a dense stride-1 conv of
 *   `dy` with a ⌈K/s⌉-sized sub-filter — no zero-stuffing, no wasted MACs. Phases are then
 *   interleaved into dx. For few input channels or a 1×1 output: `dx = col2im(dy · Wᵀ)`.
 * - Sum, Mean over non-innermost axes (batch-norm moments): one pass in JS instead of the stock
 *   transpose-then-reduce.
 * - DepthwiseConv2dNativeBackpropInput: the same phase split over XNNPACK's depthwise conv.
 * - DepthwiseConv2dNativeBackpropFilter, UnsortedSegmentSum: direct loops (memory-bound anyway).
 * - BatchMatMul: transposes its operands with a blocked JS transpose, then the fast no-transpose
 *   GEMM.
 * - Identity, same-dtype Cast: share the input buffer instead of copying it.
 *
 * Under `--backend blas` ({@link setBlas}) every GEMM above goes to a native CBLAS sgemm instead
 * of XNNPACK, and the convolutions become im2col + one GEMM each (forward `col · W`, filter
 * gradient `colᵀ · dy`, input gradient `col2im(dy · Wᵀ)`): on one core that is 65–92 GFLOP/s on
 * DCGAN-64's layers against 23–37 for XNNPACK's conv and our wasm gradients (`deno task bench`).
 * Conv2D is registered for that switch only; with plain wasm it calls the stock kernel unchanged.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { Blas } from "./blas.ts";
import {
  col2imAdd,
  type ConvGeometry,
  im2col,
  im2colT,
  type PhasePlacement,
  placePhase,
  sumMiddleAxis,
  swapOuterAxes,
  swapOuterInner,
  transpose2d,
} from "./layout.ts";

type Info = tf.TensorInfo;
/** Arguments tfjs passes to a kernel function. */
export type KernelArgs = {
  inputs: Record<string, Info>;
  attrs?: tf.NamedAttrMap;
  backend: unknown;
};
type Args = KernelArgs;

/** The stock wasm kernel configs we replaced, saved so ours can call them and the bench can
 * switch back. Filled once, by {@link registerWasmKernels}. */
const stock = new Map<string, tf.KernelConfig>();

/** Largest im2col/col2im scratch matrix, in floats (256 MiB); bigger batches are chunked. */
let MAX_COL_FLOATS = 64 * 1024 * 1024;

/** The native BLAS of `--backend blas`, or null for plain wasm (XNNPACK GEMMs). */
let blas: Blas | null = null;

/**
 * Routes every GEMM of the wasm backend (BatchMatMul, and convolutions as im2col + GEMM) through
 * `b`, a native CBLAS (see `blas.ts`) — or back to XNNPACK with null. Results differ in the last
 * bits between the two, so the choice is part of a run's backend identity ("blas" vs "wasm").
 */
export function setBlas(b: Blas | null): void {
  blas = b;
}

/** Sets the im2col/col2im scratch cap in floats (tests use a tiny one to exercise batch
 * chunking); returns the previous cap. */
export function setScratchLimit(floats: number): number {
  const old = MAX_COL_FLOATS;
  MAX_COL_FLOATS = floats;
  return old;
}

/** Calls a stock wasm kernel (the saved original if we replaced it) on TensorInfos. */
function call(
  backend: BackendWasm,
  name: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): Info {
  const config = stock.get(name) ?? tf.getKernel(name, "wasm");
  if (config == null) throw new Error(`wasm kernel ${name} not registered`);
  return config.kernelFunc({ inputs, attrs, backend }) as Info;
}

/** A Float32Array over the whole wasm heap. Re-create it after any allocation: growing the
 * memory replaces the underlying buffer. Read from the Memory object itself, because with the
 * threaded build a worker thread may have grown it behind the main thread's cached views. */
function heapF32(backend: BackendWasm): Float32Array {
  // The module's .d.ts omits these Emscripten fields; tfjs itself reads HEAPU8 the same way.
  const m = backend.wasm as unknown as {
    wasmMemory?: WebAssembly.Memory; // threaded build
    asm?: { memory?: WebAssembly.Memory }; // single-threaded builds
    HEAPU8: Uint8Array;
  };
  const memory = m.wasmMemory ?? m.asm?.memory;
  return new Float32Array(memory != null ? memory.buffer : m.HEAPU8.buffer);
}

/** Element offset of a float32 tensor in {@link heapF32}. */
function at(backend: BackendWasm, t: Info): number {
  return backend.getMemoryOffset(t.dataId) / 4;
}

/** Intermediates of one kernel call, freed together in a `finally`. */
class Scratch {
  #list: Info[] = [];
  constructor(private backend: BackendWasm) {}
  /** Allocates an uninitialized float32 tensor on the wasm heap. */
  alloc(shape: number[]): Info {
    return this.keep(this.backend.makeOutput(shape, "float32"));
  }
  /** Registers an intermediate for disposal. */
  keep(t: Info): Info {
    this.#list.push(t);
    return t;
  }
  /** Frees one intermediate early (e.g. a big per-chunk matrix). */
  free(t: Info): void {
    this.#list = this.#list.filter((u) => u !== t);
    this.backend.disposeData(t.dataId);
  }
  dispose(): void {
    for (const t of this.#list) this.backend.disposeData(t.dataId);
    this.#list = [];
  }
}

function conv2dInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat ?? "NHWC") as "NHWC" | "NCHW";
  if (dataFormat !== "NHWC") throw new Error("wasm conv gradients support only NHWC");
  const dilations = (attrs.dilations ?? 1) as number | [number, number];
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as "same" | "valid" | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    depthwise,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error("wasm conv gradients support only dilations = 1 (as does tfjs-core)");
  }
  return info;
}

function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** GEMM [1, m, k] · [1, k, n] -> [1, m, n]: native BLAS when set, else stock XNNPACK. */
function gemm(backend: BackendWasm, a: Info, b: Info): Info {
  if (blas) return blasMatMul(backend, blas, a, b, false, false);
  return call(backend, "BatchMatMul", { a, b }, { transposeA: false, transposeB: false });
}

/**
 * BatchMatMul on the native BLAS: `op(a)·op(b)` per batch, with the transposes done by sgemm
 * itself. Batch dims broadcast the way the cpu backend does (equal sizes, or one of them 1).
 */
function blasMatMul(
  be: BackendWasm,
  lib: Blas,
  a: Info,
  b: Info,
  transposeA: boolean,
  transposeB: boolean,
): Info {
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`BatchMatMul: batch sizes ${batchA} and ${batchB} do not broadcast`);
  }
  const batchShape = (batchA >= batchB ? a : b).shape.slice(0, -2);
  const out = be.makeOutput([...batchShape, m, n], "float32");
  const heap = heapF32(be);
  const a0 = at(be, a), b0 = at(be, b), c0 = at(be, out);
  const batch = Math.max(batchA, batchB);
  for (let i = 0; i < batch; i++) {
    const ci = c0 + i * m * n;
    if (k === 0) {
      heap.fill(0, ci, ci + m * n);
      continue;
    }
    const ai = a0 + (batchA === 1 ? 0 : i * m * k), bi = b0 + (batchB === 1 ? 0 : i * k * n);
    lib.sgemm(transposeA, transposeB, m, n, k, heap, ai, heap, bi, heap, ci);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Convolutions on the native BLAS: one GEMM each over the im2col matrix `col` ([P, KH·KW·Ci], P =
// B·OH·OW output positions; W viewed as [KH·KW·Ci, Co]):
//   y = col · W,   dW = colᵀ · dy,   dx = col2im(dy · Wᵀ).
// The transposes are sgemm flags, so no operand is copied besides col itself.

/**
 * The batch-chunk loop shared by the three BLAS convolutions: allocates `out` (freed again if
 * anything throws) and, per chunk of images b0 ≤ b < b1, a scratch `col` matrix of `rows` =
 * (b1-b0)·OH·OW rows × KH·KW·Ci for `body` to fill or read. `body` gets fresh heap view and
 * offsets; the chunk's output rows start at row b0·OH·OW.
 */
function overColChunks(
  be: BackendWasm,
  info: tf.backend_util.Conv2DInfo,
  outShape: number[],
  body: (
    heap: Float32Array,
    col: number,
    out: number,
    b0: number,
    b1: number,
    rows: number,
  ) => void,
  zeroOut = false,
): Info {
  const g = geometry(info);
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const perImage = info.outHeight * info.outWidth;
  const chunk = batchChunk(g.batch, perImage, kkc);
  const out = be.makeOutput(outShape, "float32");
  const scratch = new Scratch(be);
  try {
    if (zeroOut) be.typedArrayFromHeap(out).fill(0);
    for (let b0 = 0; b0 < g.batch; b0 += chunk) {
      const b1 = Math.min(g.batch, b0 + chunk), rows = (b1 - b0) * perImage;
      const col = scratch.alloc([rows, kkc]);
      body(heapF32(be), at(be, col), at(be, out), b0, b1, rows);
      scratch.free(col);
    }
    return out;
  } catch (e) {
    be.disposeData(out.dataId);
    throw e;
  } finally {
    scratch.dispose();
  }
}

/** Conv2D forward as `col · W` per batch chunk (native BLAS only). */
function conv2DIm2col(
  be: BackendWasm,
  lib: Blas,
  x: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
): Info {
  const g = geometry(info);
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = info.outChannels, perImage = info.outHeight * info.outWidth;
  return overColChunks(be, info, info.outShape, (heap, col, y, b0, b1, rows) => {
    im2col(heap, at(be, x), col, g, b0, b1);
    const yRows = y + b0 * perImage * Co;
    lib.sgemm(false, false, rows, Co, kkc, heap, col, heap, at(be, filter), heap, yRows);
  });
}

/** Conv2DBackpropFilter as `colᵀ · dy`, accumulated over batch chunks (native BLAS only). */
function conv2DBackpropFilterBlas(
  be: BackendWasm,
  lib: Blas,
  x: Info,
  dy: Info,
  filterShape: number[],
  info: tf.backend_util.Conv2DInfo,
): Info {
  const g = geometry(info);
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = info.outChannels, perImage = info.outHeight * info.outWidth;
  // Zeroed only for an empty batch; otherwise the first chunk writes dW (beta = 0) and later
  // chunks accumulate into it (beta = 1).
  return overColChunks(be, info, filterShape, (heap, col, dw, b0, b1, rows) => {
    im2col(heap, at(be, x), col, g, b0, b1);
    const dyRows = at(be, dy) + b0 * perImage * Co;
    lib.sgemm(true, false, kkc, Co, rows, heap, col, heap, dyRows, heap, dw, b0 === 0 ? 0 : 1);
  }, g.batch === 0);
}

/** Conv2DBackpropInput as `col2im(dy · Wᵀ)` per batch chunk (native BLAS only). */
function conv2DBackpropInputBlas(
  be: BackendWasm,
  lib: Blas,
  dy: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
): Info {
  const g = geometry(info);
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = info.outChannels, perImage = info.outHeight * info.outWidth;
  return overColChunks(be, info, info.inShape, (heap, col, dx, b0, b1, rows) => {
    const dyRows = at(be, dy) + b0 * perImage * Co;
    lib.sgemm(false, true, rows, kkc, Co, heap, dyRows, heap, at(be, filter), heap, col);
    col2imAdd(heap, col, dx, g, b0, b1);
  }, true);
}

/** Conv2D: im2col + native GEMM under `--backend blas`; the stock XNNPACK conv otherwise (and
 * for dilated or NCHW convs, which no paper uses). */
function conv2D(args: Args): Info {
  const { inputs, attrs, backend } = args;
  const dilations = (attrs!.dilations ?? 1) as number | number[];
  const dilated = Array.isArray(dilations) ? dilations.some((d) => d !== 1) : dilations !== 1;
  if (
    !blas || dilated || (attrs!.dataFormat ?? "NHWC") !== "NHWC" || inputs.x.dtype !== "float32"
  ) {
    return call(backend as BackendWasm, "Conv2D", inputs, attrs);
  }
  const info = conv2dInfo(inputs.x.shape, inputs.filter.shape, attrs!, false);
  return conv2DIm2col(backend as BackendWasm, blas, inputs.x, inputs.filter, info);
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh-pt, ow·s+kw-pl, ci] dy[b,oh,ow,co]

/**
 * Conv2DBackpropFilter. Small-Ci layers (an RGB or greyscale input: KH·KW·Ci ≤ 256) use one GEMM
 * `dW = im2col(x)ᵀ · dy`; the others a dilated conv (see {@link conv2DBackpropFilterDilated}),
 * which needs no im2col matrix but is inefficient when Ci (its batch) is tiny.
 */
function conv2DBackpropFilter(args: Args): Info {
  const filterShape = args.attrs!.filterShape as number[];
  if (blas) {
    const { x, dy } = args.inputs;
    const info = conv2dInfo(x.shape, filterShape, args.attrs!, false);
    return conv2DBackpropFilterBlas(args.backend as BackendWasm, blas, x, dy, filterShape, info);
  }
  return filterShape[0] * filterShape[1] * filterShape[2] <= 256
    ? conv2DBackpropFilterIm2col(args)
    : conv2DBackpropFilterDilated(args);
}

/**
 * Filter gradient as one stride-1 XNNPACK conv with dilation = stride: read x as [Ci, H, W, B]
 * (Ci plays the batch, B the input channels) and dy as a filter [OH, OW, B, Co]; the conv output
 * [Ci, KH, KW, Co] is dW with its first axis moved. Only x and dy are reshuffled (in JS).
 */
export function conv2DBackpropFilterDilated({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { x, dy } = inputs;
  const filterShape = attrs!.filterShape as number[];
  const info = conv2dInfo(x.shape, filterShape, attrs!, false);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = info;
  const { outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  const sh = info.strideHeight, sw = info.strideWidth;
  const { top, left } = info.padInfo;
  const scratch = new Scratch(be);
  try {
    const xT = scratch.alloc([Ci, H, W, B]);
    const dyT = scratch.alloc([OH, OW, B, Co]);
    let heap = heapF32(be);
    swapOuterInner(heap, at(be, x), at(be, xT), B, H * W, Ci);
    swapOuterAxes(heap, at(be, dy), at(be, dyT), B, OH * OW, Co);
    // Rows the dilated conv must see: KH + (OH-1)·sh, starting `top` rows above x. If the forward
    // conv skipped trailing rows (negative bottom pad) the conv just yields extra rows we ignore.
    const bottom = Math.max(0, KH + (OH - 1) * sh - H - top);
    const right = Math.max(0, KW + (OW - 1) * sw - W - left);
    const out = scratch.keep(call(be, "Conv2D", { x: xT, filter: dyT }, {
      strides: [1, 1],
      dilations: [sh, sw],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: "NHWC",
    } as unknown as tf.NamedAttrMap));
    const dw = be.makeOutput(filterShape, "float32");
    heap = heapF32(be);
    const [, oh, ow] = out.shape; // oh >= KH, ow >= KW
    const o0 = at(be, out), d0 = at(be, dw);
    for (let ci = 0; ci < Ci; ci++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const src = o0 + ((ci * oh + kh) * ow + kw) * Co;
          heap.copyWithin(d0 + ((kh * KW + kw) * Ci + ci) * Co, src, src + Co);
        }
      }
    }
    return dw;
  } finally {
    scratch.dispose();
  }
}

/** Batch chunk size that keeps an im2col matrix of `perImage` rows × `cols` under the cap. */
function batchChunk(batch: number, perImage: number, cols: number): number {
  return Math.max(1, Math.min(batch, Math.floor(MAX_COL_FLOATS / (perImage * cols))));
}

/** Rows [r0, r1) of a tensor viewed as [rows, cols]: the tensor itself when that is all of it,
 * else a copy (a GEMM operand must be a whole tensor). */
function rowRange(
  be: BackendWasm,
  scratch: Scratch,
  t: Info,
  r0: number,
  r1: number,
  cols: number,
) {
  if (r0 === 0 && r1 * cols === tf.util.sizeFromShape(t.shape)) {
    return { ...t, shape: [1, r1, cols] };
  }
  const part = scratch.alloc([1, r1 - r0, cols]);
  const heap = heapF32(be), src = at(be, t) + r0 * cols;
  heap.copyWithin(at(be, part), src, src + (r1 - r0) * cols);
  return part;
}

/** Conv2DBackpropFilter as `dW = im2col(x)ᵀ · dy`, one GEMM per batch chunk (the transposed
 * im2col matrix is written directly). Exported for tests and the bench comparison. */
export function conv2DBackpropFilterIm2col({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { x, dy } = inputs;
  const filterShape = attrs!.filterShape as number[];
  const info = conv2dInfo(x.shape, filterShape, attrs!, false);
  const g = geometry(info);
  const Co = info.outChannels;
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const perImage = info.outHeight * info.outWidth;
  const chunk = batchChunk(g.batch, perImage, kkc);
  const dw = be.makeOutput(filterShape, "float32");
  const scratch = new Scratch(be);
  try {
    for (let b0 = 0; b0 < g.batch; b0 += chunk) {
      const b1 = Math.min(g.batch, b0 + chunk);
      const colT = scratch.alloc([1, kkc, (b1 - b0) * perImage]);
      im2colT(heapF32(be), at(be, x), at(be, colT), g, b0, b1);
      const dyRows = rowRange(be, scratch, dy, b0 * perImage, b1 * perImage, Co);
      const part = scratch.keep(gemm(be, colT, dyRows)); // [1, KH·KW·Ci, Co] = dW's layout
      const heap = heapF32(be), src = at(be, part), dst = at(be, dw);
      if (b0 === 0) heap.copyWithin(dst, src, src + kkc * Co);
      else for (let i = 0; i < kkc * Co; i++) heap[dst + i] += heap[src + i];
      scratch.dispose(); // this chunk's matrices
    }
    return dw;
  } catch (e) {
    be.disposeData(dw.dataId);
    throw e;
  } finally {
    scratch.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Input gradients by stride phase (Conv2DBackpropInput and its depthwise twin).

/** One stride phase: its sub-filter taps and where its conv output sits. */
interface Phase {
  rh: number;
  rw: number;
  /** First kernel tap of the phase and how many taps (every `stride`-th) it has. */
  kh0: number;
  kw0: number;
  jh: number;
  jw: number;
  /** Zero padding for the stride-1 conv over dy, and the output row/col of phase row 0. */
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  offsetH: number;
  offsetW: number;
}

/** Plans the s² stride phases of an input gradient (see the module comment). */
function planPhases(info: tf.backend_util.Conv2DInfo): Phase[] {
  const sh = info.strideHeight, sw = info.strideWidth;
  const axis = (r: number, s: number, pad: number, k: number, size: number, outSize: number) => {
    const k0 = (r + pad) % s; // first tap of this phase
    const j = k0 < k ? Math.ceil((k - k0) / s) : 0; // taps in this phase
    const c = Math.floor((r + pad) / s); // dy row read by tap k0 for phase row 0
    const before = Math.max(0, j - 1 - c);
    const offset = c - j + 1 + before; // conv output row holding phase row 0
    const rows = Math.ceil((size - r) / s); // phase rows inside dx
    const after = Math.max(0, rows + offset + j - 1 - outSize - before);
    return { k0, j, before, after, offset };
  };
  const phases: Phase[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const h = axis(
        rh,
        sh,
        info.padInfo.top,
        info.filterHeight,
        info.inHeight,
        info.outHeight,
      );
      const w = axis(rw, sw, info.padInfo.left, info.filterWidth, info.inWidth, info.outWidth);
      phases.push({
        rh,
        rw,
        kh0: h.k0,
        kw0: w.k0,
        jh: h.j,
        jw: w.j,
        padTop: h.before,
        padBottom: h.after,
        padLeft: w.before,
        padRight: w.after,
        offsetH: h.offset,
        offsetW: w.offset,
      });
    }
  }
  return phases;
}

/**
 * dx for a conv (depthwise = false; filter [KH, KW, Ci, Co]) or a depthwise conv (filter
 * [KH, KW, C, M]): one stride-1 XNNPACK conv of dy per stride phase, interleaved into dx.
 */
function inputGradByPhases(
  be: BackendWasm,
  dy: Info,
  filter: Info,
  info: tf.backend_util.Conv2DInfo,
  depthwise: boolean,
): Info {
  const [, KW, C, M] = filter.shape; // conv: C = Ci, M = Co; depthwise: channel multiplier M
  const sh = info.strideHeight, sw = info.strideWidth;
  const dx = be.makeOutput(info.inShape, "float32");
  const scratch = new Scratch(be);
  try {
    for (const p of planPhases(info)) {
      const place: PhasePlacement = {
        batch: info.batchSize,
        height: info.inHeight,
        width: info.inWidth,
        channels: C,
        strideHeight: sh,
        strideWidth: sw,
        rh: p.rh,
        rw: p.rw,
        srcHeight: 0,
        srcWidth: 0,
        offsetH: p.offsetH,
        offsetW: p.offsetW,
        reduce: depthwise ? M : 1,
      };
      if (p.jh === 0 || p.jw === 0) { // kernel smaller than the stride: this phase gets no taps
        placePhase(heapF32(be), -1, at(be, dx), place);
        continue;
      }
      // Sub-filter, flipped: g[m, n] = w[kh0 + s·(J-1-m), kw0 + s·(J-1-n)]; a conv needs it as
      // [J, J, Co, Ci] (dy channels in, dx channels out), a depthwise conv as [J, J, C·M, 1].
      const sub = scratch.alloc(depthwise ? [p.jh, p.jw, C * M, 1] : [p.jh, p.jw, M, C]);
      const heap = heapF32(be);
      const w0 = at(be, filter), s0 = at(be, sub);
      for (let m = 0; m < p.jh; m++) {
        for (let n = 0; n < p.jw; n++) {
          const kh = p.kh0 + sh * (p.jh - 1 - m), kw = p.kw0 + sw * (p.jw - 1 - n);
          const src = w0 + (kh * KW + kw) * C * M;
          const dst = s0 + (m * p.jw + n) * C * M;
          if (depthwise) heap.copyWithin(dst, src, src + C * M);
          else transpose2d(heap, src, dst, C, M);
        }
      }
      const convAttrs = {
        strides: [1, 1],
        dilations: [1, 1],
        pad: [[0, 0], [p.padTop, p.padBottom], [p.padLeft, p.padRight], [0, 0]],
        dataFormat: "NHWC",
        dimRoundingMode: undefined,
      } as unknown as tf.NamedAttrMap;
      const out = scratch.keep(
        depthwise
          ? call(be, "DepthwiseConv2dNative", { x: dy, filter: sub }, convAttrs)
          : call(be, "Conv2D", { x: dy, filter: sub }, convAttrs),
      );
      place.srcHeight = out.shape[1];
      place.srcWidth = out.shape[2];
      placePhase(heapF32(be), at(be, out), at(be, dx), place);
      scratch.free(out);
      scratch.free(sub);
    }
    return dx;
  } catch (e) {
    be.disposeData(dx.dataId);
    throw e;
  } finally {
    scratch.dispose();
  }
}

/**
 * Conv2DBackpropInput. Two cases use `dx = col2im(dy · Wᵀ)` instead of stride phases: a 1×1
 * output (DCGAN's first generator and last discriminator layer — a dense layer in disguise, where
 * a phase would be a K×K conv over a 1×1 image), and few input channels (Ci < 32: an RGB or
 * greyscale image, where the phase convs have too few output channels to keep XNNPACK busy).
 */
function conv2DBackpropInput(args: Args): Info {
  const { attrs, inputs } = args;
  const info = conv2dInfo(attrs!.inputShape as number[], inputs.filter.shape, attrs!, false);
  if (blas) {
    return conv2DBackpropInputBlas(
      args.backend as BackendWasm,
      blas,
      inputs.dy,
      inputs.filter,
      info,
    );
  }
  if ((info.outHeight === 1 && info.outWidth === 1) || info.inChannels < 32) {
    return conv2DBackpropInputCol2im(args);
  }
  return inputGradByPhases(args.backend as BackendWasm, inputs.dy, inputs.filter, info, false);
}

/** Conv2DBackpropInput by stride phases only (see the module comment); for tests and the bench. */
export function conv2DBackpropInputPhases({ inputs, attrs, backend }: Args): Info {
  const info = conv2dInfo(attrs!.inputShape as number[], inputs.filter.shape, attrs!, false);
  return inputGradByPhases(backend as BackendWasm, inputs.dy, inputs.filter, info, false);
}

/** Conv2DBackpropInput as `dx = col2im(dy · Wᵀ)`, one GEMM per batch chunk; exported for tests
 * and the bench comparison. */
export function conv2DBackpropInputCol2im({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { dy, filter } = inputs;
  const info = conv2dInfo(attrs!.inputShape as number[], filter.shape, attrs!, false);
  const g = geometry(info);
  const kkc = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = info.outChannels;
  const perImage = info.outHeight * info.outWidth;
  const chunk = batchChunk(g.batch, perImage, kkc);
  const dx = be.makeOutput(info.inShape, "float32");
  const scratch = new Scratch(be);
  const chunkScratch = new Scratch(be);
  try {
    const wT = scratch.alloc([1, Co, kkc]); // W as [KH·KW·Ci, Co], transposed
    transpose2d(heapF32(be), at(be, filter), at(be, wT), kkc, Co);
    be.typedArrayFromHeap(dx).fill(0);
    for (let b0 = 0; b0 < g.batch; b0 += chunk) {
      const b1 = Math.min(g.batch, b0 + chunk);
      const dyRows = rowRange(be, chunkScratch, dy, b0 * perImage, b1 * perImage, Co);
      const col = chunkScratch.keep(gemm(be, dyRows, wT));
      col2imAdd(heapF32(be), at(be, col), at(be, dx), g, b0, b1);
      chunkScratch.dispose();
    }
    return dx;
  } catch (e) {
    be.disposeData(dx.dataId);
    throw e;
  } finally {
    chunkScratch.dispose();
    scratch.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Depthwise conv gradients. Filter [KH, KW, C, M]; dy channel c·M + m comes from input channel c.

function depthwiseBackpropInput({ inputs, attrs, backend }: Args): Info {
  const { dy, filter } = inputs;
  const info = conv2dInfo(attrs!.inputShape as number[], filter.shape, attrs!, true);
  return inputGradByPhases(backend as BackendWasm, dy, filter, info, true);
}

function depthwiseBackpropFilter({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { x, dy } = inputs;
  const filterShape = attrs!.filterShape as number[];
  const info = conv2dInfo(x.shape, filterShape, attrs!, true);
  const g = geometry(info);
  const [KH, KW, C, M] = filterShape;
  const { batch: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = g;
  const out = be.makeOutput(filterShape, "float32");
  const heap = heapF32(be);
  const x0 = at(be, x), dy0 = at(be, dy), o0 = at(be, out);
  heap.fill(0, o0, o0 + KH * KW * C * M);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const d = dy0 + ((b * OH + oh) * OW + ow) * C * M;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * g.strideHeight - g.padTop + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * g.strideWidth - g.padLeft + kw;
            if (iw < 0 || iw >= W) continue;
            const xs = x0 + ((b * H + ih) * W + iw) * C;
            const o = o0 + (kh * KW + kw) * C * M;
            for (let c = 0; c < C; c++) {
              const xv = heap[xs + c];
              for (let m = 0; m < M; m++) heap[o + c * M + m] += xv * heap[d + c * M + m];
            }
          }
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum: out[ids[i], ...] += x[i, ...]; ids outside [0, numSegments) are dropped.

function unsortedSegmentSum({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { x, segmentIds } = inputs;
  const numSegments = attrs!.numSegments as number;
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
  const out = be.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const ids = be.typedArrayFromHeap(segmentIds);
  const xs = be.typedArrayFromHeap(x);
  const os = be.typedArrayFromHeap(out);
  os.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner, dst = s * inner;
    for (let k = 0; k < inner; k++) os[dst + k] += xs[src + k];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// BatchMatMul: stock wasm is fast only without transpose flags, so transpose operands first.
// Either transpose the flagged operands (C = op(A)·op(B)), or compute Cᵀ = op(B)ᵀ·op(A)ᵀ — where
// the flagged operands need no copy — and transpose C back; copy whichever is fewer elements.
// (dA = dY·Bᵀ of a [64,1024]·[1024,784] layer: 0.8M elements directly vs 0.1M swapped.)

function batchMatMul({ inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  if (blas && a.dtype === "float32" && b.dtype === "float32") {
    return blasMatMul(be, blas, a, b, transposeA, transposeB);
  }
  if ((!transposeA && !transposeB) || a.dtype !== "float32" || b.dtype !== "float32") {
    return call(be, "BatchMatMul", inputs, attrs);
  }
  const scratch = new Scratch(be);
  const copy = (t: Info, dst: Info) => {
    const r = t.shape.length;
    const rows = t.shape[r - 2], cols = t.shape[r - 1];
    const batch = tf.util.sizeFromShape(t.shape.slice(0, -2));
    const heap = heapF32(be);
    const s0 = at(be, t), d0 = at(be, dst);
    for (let i = 0; i < batch; i++) {
      transpose2d(heap, s0 + i * rows * cols, d0 + i * rows * cols, rows, cols);
    }
  };
  const swapped = (t: Info) => [...t.shape.slice(0, -2), t.shape.at(-1)!, t.shape.at(-2)!];
  const flip = (t: Info): Info => {
    const tT = scratch.alloc(swapped(t));
    copy(t, tT);
    return tT;
  };
  try {
    const size = (t: Info) => tf.util.sizeFromShape(t.shape);
    const m = transposeA ? a.shape.at(-1)! : a.shape.at(-2)!;
    const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
    const batch = Math.max(
      size(a) / (a.shape.at(-1)! * a.shape.at(-2)!),
      size(b) / (b.shape.at(-1)! * b.shape.at(-2)!),
    );
    const direct = (transposeA ? size(a) : 0) + (transposeB ? size(b) : 0);
    const viaSwap = (transposeA ? 0 : size(a)) + (transposeB ? 0 : size(b)) + batch * m * n;
    if (direct <= viaSwap) {
      return call(be, "BatchMatMul", {
        a: transposeA ? flip(a) : a,
        b: transposeB ? flip(b) : b,
      }, { transposeA: false, transposeB: false });
    }
    const ct = call(be, "BatchMatMul", {
      a: transposeB ? b : flip(b),
      b: transposeA ? a : flip(a),
    }, { transposeA: false, transposeB: false });
    try {
      const out = be.makeOutput(swapped(ct), "float32");
      copy(ct, out);
      return out;
    } finally {
      be.disposeData(ct.dataId);
    }
  } finally {
    scratch.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Sum and Mean over a contiguous block of axes that is not innermost (batch-norm moments over
// N, H, W; bias and scale gradients): the stock kernels transpose the input first (slowly).

function reduceMiddle(name: "Sum" | "Mean", { inputs, attrs, backend }: Args): Info {
  const be = backend as BackendWasm;
  const { x } = inputs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs!.axis as number | number[], x.shape).sort((a, b) =>
    a - b
  );
  const first = axes[0], last = axes[axes.length - 1];
  const contiguous = axes.length > 0 && last - first + 1 === axes.length;
  if (x.dtype !== "float32" || !contiguous || last === rank - 1) {
    return call(be, name, inputs, attrs);
  }
  const p = tf.util.sizeFromShape(x.shape.slice(0, first));
  const r = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
  const q = tf.util.sizeFromShape(x.shape.slice(last + 1));
  const shape = attrs!.keepDims
    ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : x.shape.filter((_, i) => i < first || i > last);
  const out = be.makeOutput(shape, "float32");
  if (r === 0) {
    be.typedArrayFromHeap(out).fill(name === "Mean" ? NaN : 0);
    return out;
  }
  sumMiddleAxis(heapF32(be), at(be, x), at(be, out), p, r, q, name === "Mean" ? 1 / r : 1);
  return out;
}

const sum = (args: Args) => reduceMiddle("Sum", args);
const mean = (args: Args) => reduceMiddle("Mean", args);

// ---------------------------------------------------------------------------------------------
// Identity and same-dtype Cast: the stock wasm kernels copy the buffer. Every op on the gradient
// tape clones its saved inputs/outputs through Identity, so the copies add up. Tensors are
// immutable, so (like the cpu backend, and like wasm's own Reshape) we share the buffer instead.

function identity({ inputs, backend }: Args): Info {
  const { x } = inputs;
  if (x.dtype === "string") return call(backend as BackendWasm, "Identity", inputs);
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function cast({ inputs, attrs, backend }: Args): Info {
  const { x } = inputs;
  if (attrs!.dtype !== x.dtype || x.dtype === "string") {
    return call(backend as BackendWasm, "Cast", inputs, attrs);
  }
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

// ---------------------------------------------------------------------------------------------

const KERNELS: [string, (args: Args) => Info][] = [
  ["Conv2D", conv2D],
  ["Conv2DBackpropFilter", conv2DBackpropFilter],
  ["Conv2DBackpropInput", conv2DBackpropInput],
  ["DepthwiseConv2dNativeBackpropInput", depthwiseBackpropInput],
  ["DepthwiseConv2dNativeBackpropFilter", depthwiseBackpropFilter],
  ["UnsortedSegmentSum", unsortedSegmentSum],
  ["BatchMatMul", batchMatMul],
  ["Sum", sum],
  ["Mean", mean],
  ["Identity", identity],
  ["Cast", cast],
];

/** Our kernel configs, built once, so that registration and the bench use the same objects. */
const ours = new Map<string, tf.KernelConfig>();

/**
 * Registers our kernels for backend "wasm", replacing the stock ones of the same name (whose
 * configs are saved first). The wasm backend's module must already be imported — otherwise its
 * own later registration would overwrite ours. Idempotent; returns the kernel names.
 */
export function registerWasmKernels(): string[] {
  for (const [name, fn] of KERNELS) {
    const current = tf.getKernel(name, "wasm");
    if (!ours.has(name)) {
      if (current != null) stock.set(name, current);
      const original = stock.get(name);
      ours.set(name, {
        kernelName: name,
        backendName: "wasm",
        // Our kernels call the stock one (BatchMatMul) or the bench may switch back to it, so
        // its one-time setup (binding the wasm function) must still run.
        setupFunc: original?.setupFunc,
        kernelFunc: fn as unknown as tf.KernelFunc,
      });
    }
    if (current === ours.get(name)) continue;
    if (current != null) tf.unregisterKernel(name, "wasm");
    tf.registerKernel(ours.get(name)!);
  }
  return KERNELS.map(([name]) => name);
}

/**
 * Switches one kernel between our implementation (`"fast"`) and the saved stock wasm one
 * (`"stock"`), for benchmarks. Returns false if that variant does not exist (e.g. stock
 * Conv2DBackpropFilter). The wasm backend must be initialized.
 */
export function useKernelVariant(name: string, variant: "fast" | "stock"): boolean {
  const config = variant === "fast" ? ours.get(name) : stock.get(name);
  if (config == null) return false;
  if (tf.getKernel(name, "wasm") != null) tf.unregisterKernel(name, "wasm");
  tf.registerKernel(config);
  config.setupFunc?.(tf.findBackend("wasm") as unknown as object);
  return true;
}
