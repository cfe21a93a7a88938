/**
 * Data-movement loops for the wasm training kernels, in plain TypeScript.
 *
 * The tfjs `wasm` backend is fast at arithmetic (XNNPACK GEMM/conv, ~30 GFLOP/s on one core) but
 * its data-movement kernels are slow: on these machines StridedSlice ran at ~33 ns/element,
 * Transpose with the innermost axis moved to the front at ~18–32 ns/element, DepthToSpace at
 * ~70 ns/element. A conv gradient that reshuffles its operands through those kernels spends more
 * time moving data than multiplying. So the reshuffles here are JS loops writing straight into the
 * wasm heap (a Float32Array view of it), and all FLOPs stay in XNNPACK.
 *
 * Every function takes one `heap` array plus element offsets, so the same code runs on the wasm
 * heap and, in the tests, on ordinary arrays. All tensors are dense row-major NHWC.
 *
 * @module
 */

/** Geometry of a 2-D convolution (NHWC), as needed by {@link im2colT} and {@link col2imAdd}. */
export interface ConvGeometry {
  /** Batch, input height, input width, input channels. */
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  /** Output height and width. */
  outHeight: number;
  outWidth: number;
  /** Kernel height and width. */
  filterHeight: number;
  filterWidth: number;
  /** Strides. */
  strideHeight: number;
  strideWidth: number;
  /** Zero padding before the first row / column (may exceed the kernel for explicit pads). */
  padTop: number;
  padLeft: number;
}

/** Tile edge for blocked transposes: a 16×16 tile of floats (1 KiB) stays in L1. */
const TILE = 16;

/**
 * Blocked 2-D transpose with arbitrary row strides:
 * `heap[dst + c*dstStride + r] = heap[src + r*srcStride + c]` for `r < rows`, `c < cols`.
 * Source and destination must not overlap.
 */
export function transpose2d(
  heap: Float32Array,
  src: number,
  dst: number,
  rows: number,
  cols: number,
  srcStride: number = cols,
  dstStride: number = rows,
): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const s = src + r * srcStride;
        const d = dst + r;
        for (let c = c0; c < c1; c++) heap[d + c * dstStride] = heap[s + c];
      }
    }
  }
}

/**
 * Swaps the two outer axes of a 3-D array, keeping the contiguous inner axis:
 * `[a, m, c] -> [m, a, c]`. Each inner run of `c` floats is one `copyWithin` (a memmove).
 */
export function swapOuterAxes(
  heap: Float32Array,
  src: number,
  dst: number,
  a: number,
  m: number,
  c: number,
): void {
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < m; j++) {
      const s = src + (i * m + j) * c;
      heap.copyWithin(dst + (j * a + i) * c, s, s + c);
    }
  }
}

/**
 * Swaps the outer and inner axes of a 3-D array: `[a, m, c] -> [c, m, a]` — e.g. NHWC
 * [B, H·W, C] to [C, H·W, B]. One blocked 2-D transpose per middle index.
 */
export function swapOuterInner(
  heap: Float32Array,
  src: number,
  dst: number,
  a: number,
  m: number,
  c: number,
): void {
  for (let j = 0; j < m; j++) transpose2d(heap, src + j * c, dst + j * a, a, c, m * c, m * a);
}

/** Copies `n` floats; a plain loop for short runs, where a native memmove call costs more. */
function copyRun(heap: Float32Array, dst: number, src: number, n: number): void {
  if (n >= 32) {
    heap.copyWithin(dst, src, src + n);
  } else {
    for (let k = 0; k < n; k++) heap[dst + k] = heap[src + k];
  }
}

/**
 * Transposed im2col: writes `colT`, the [KH·KW·C, (b1-b0)·OH·OW] transpose of the im2col
 * matrix (the receptive fields of x, [B, H, W, C], unrolled for output images b0 ≤ b < b1),
 * directly; padding positions are zeros (row (kh, kw, c) holds that tap's input value for every output position).
 * Cheap when C is small, which is exactly when the dilated-conv filter gradient is inefficient.
 */
export function im2colT(
  heap: Float32Array,
  x: number,
  colT: number,
  g: ConvGeometry,
  b0: number = 0,
  b1: number = g.batch,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  let d = colT;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let c = 0; c < C; c++) {
        for (let b = b0; b < b1; b++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh - g.padTop + kh;
            if (ih < 0 || ih >= H) {
              heap.fill(0, d, d + OW);
              d += OW;
              continue;
            }
            const row = x + (b * H + ih) * W * C + c;
            for (let ow = 0; ow < OW; ow++) {
              const iw = ow * sw - g.padLeft + kw;
              heap[d++] = iw < 0 || iw >= W ? 0 : heap[row + iw * C];
            }
          }
        }
      }
    }
  }
}

/**
 * im2col: writes `col`, the [(b1-b0)·OH·OW, KH·KW·C] matrix whose row for output position
 * (b, oh, ow) is that position's receptive field in x ([B, H, W, C]) in (kh, kw, c) order, zeros
 * where it reads padding. Each tap is a contiguous run of C floats in x, so rows are copied run by
 * run (the layout of a conv as one GEMM with the filter viewed as [KH·KW·C, Co]).
 */
export function im2col(
  heap: Float32Array,
  x: number,
  col: number,
  g: ConvGeometry,
  b0: number = 0,
  b1: number = g.batch,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  let d = col;
  for (let b = b0; b < b1; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - g.padTop + kh;
          if (ih < 0 || ih >= H) {
            heap.fill(0, d, d + KW * C);
            d += KW * C;
            continue;
          }
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - g.padLeft + kw;
            if (iw < 0 || iw >= W) heap.fill(0, d, d + C);
            else copyRun(heap, d, x + ((b * H + ih) * W + iw) * C, C);
            d += C;
          }
        }
      }
    }
  }
}

/**
 * col2im with accumulation, the adjoint of im2col: adds every row of `col`
 * ([(b1-b0)·OH·OW, KH·KW·C], output rows of images b0 ≤ b < b1) back into the input positions it
 * was read from. `dx` ([B, H, W, C]) must
 * be zeroed by the caller. This turns `dx = col2im(dy · Wᵀ)` into the input gradient of a conv.
 */
export function col2imAdd(
  heap: Float32Array,
  col: number,
  dx: number,
  g: ConvGeometry,
  b0: number = 0,
  b1: number = g.batch,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = g;
  let s = col;
  for (let b = b0; b < b1; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - g.padTop + kh;
          if (ih < 0 || ih >= H) {
            s += KW * C;
            continue;
          }
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - g.padLeft + kw;
            if (iw >= 0 && iw < W) {
              const d = dx + ((b * H + ih) * W + iw) * C;
              for (let c = 0; c < C; c++) heap[d + c] += heap[s + c];
            }
            s += C;
          }
        }
      }
    }
  }
}

/** Where one stride phase of a transposed convolution lands in the full input gradient. */
export interface PhasePlacement {
  /** Batch size, and full height/width/channels of the destination `dx`. */
  batch: number;
  height: number;
  width: number;
  channels: number;
  /** Strides: phase (rh, rw) owns rows `rh + strideHeight·q` and columns `rw + strideWidth·q'`. */
  strideHeight: number;
  strideWidth: number;
  rh: number;
  rw: number;
  /** Shape [B, srcHeight, srcWidth, channels·reduce] of the phase result. */
  srcHeight: number;
  srcWidth: number;
  /** Row/column of the phase result that holds phase row/column 0. */
  offsetH: number;
  offsetW: number;
  /** Channel multiplier summed away (depthwise convs); 1 for ordinary convs. */
  reduce: number;
}

/**
 * Scatters one stride phase into `dx`: `dx[b, rh + s·q, rw + s·q', c] =
 * Σ_m src[b, q + offsetH, q' + offsetW, c·reduce + m]`. With `src < 0` the phase is empty
 * (its kernel taps all fall outside the filter) and zeros are written.
 */
export function placePhase(heap: Float32Array, src: number, dx: number, p: PhasePlacement): void {
  const { batch: B, height: H, width: W, channels: C, reduce: M } = p;
  const sh = p.strideHeight, sw = p.strideWidth;
  const qh = Math.ceil((H - p.rh) / sh), qw = Math.ceil((W - p.rw) / sw);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < qh; i++) {
      const dRow = dx + ((b * H + p.rh + sh * i) * W + p.rw) * C;
      const sRow = src + ((b * p.srcHeight + i + p.offsetH) * p.srcWidth + p.offsetW) * C * M;
      for (let j = 0; j < qw; j++) {
        const d = dRow + j * sw * C;
        if (src < 0) {
          heap.fill(0, d, d + C);
        } else if (M === 1) {
          copyRun(heap, d, sRow + j * C, C);
        } else {
          const s = sRow + j * C * M;
          for (let c = 0; c < C; c++) {
            let acc = 0;
            for (let m = 0; m < M; m++) acc += heap[s + c * M + m];
            heap[d + c] = acc;
          }
        }
      }
    }
  }
}

/**
 * Sums the middle axis of a [p, r, q] array: `out[i, k] = Σ_j src[i, j, k]` (float64
 * accumulators). Used for reductions over leading/middle axes, e.g. batch-norm moments over
 * N, H, W of NHWC, where the rows `k` are contiguous.
 */
export function sumMiddleAxis(
  heap: Float32Array,
  src: number,
  dst: number,
  p: number,
  r: number,
  q: number,
  scale: number = 1,
): void {
  const acc = new Float64Array(q);
  for (let i = 0; i < p; i++) {
    acc.fill(0);
    for (let j = 0; j < r; j++) {
      const s = src + (i * r + j) * q;
      for (let k = 0; k < q; k++) acc[k] += heap[s + k];
    }
    const d = dst + i * q;
    for (let k = 0; k < q; k++) heap[d + k] = acc[k] * scale;
  }
}
