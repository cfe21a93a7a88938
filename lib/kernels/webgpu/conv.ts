/**
 * 2-D convolution and its two gradients as implicit GEMMs on `gemm.ts` (NHWC, float32): the
 * im2col matrix is never stored, the loaders compute which input element each (row, k) stands for.
 *
 * - Conv2D: C[M = B·OH·OW, N = CO] = im2col(x)[M, K = FH·FW·CI] · W[K, N]; C is NHWC as laid out.
 * - Conv2DBackpropFilter: dW[M = FH·FW·CI, N = CO] = im2col(x)ᵀ[M, K = B·OH·OW] · dy[K, N]; its
 *   output is small and K long, the case the K split of `gemm.ts` is for.
 * - Conv2DBackpropInput, by output phase: with stride s, input row y = yq·s + py only receives
 *   filter rows fy ≡ (py + padTop) mod s, so each of the s_h·s_w phases is a dense GEMM over
 *   ⌈FH/s⌉·⌈FW/s⌉·CO taps instead of a GEMM over all FH·FW·CO taps of which most hit the zeros a
 *   transposed convolution inserts (3/4 of them for DCGAN's k4 s2). Workgroup z is the phase.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import {
  type GemmKernel,
  type GemmShape,
  type GemmTile,
  planGemm,
  runGemm,
  splitReduce,
} from "./gemm.ts";
import { ints, type UniformData, type WebgpuBackend } from "./program.ts";

/** Geometry shared by the three kernels; every conv shader declares all of it. */
const CONV_UNIFORMS = "inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, " +
  "strideH : i32, strideW : i32, padT : i32, padL : i32, dilH : i32, dilW : i32, " +
  "fH : i32, fW : i32, tapsH : i32, tapsW : i32, quotH : i32, quotW : i32, dxSize : i32,";

function convUniforms(c: tf.backend_util.Conv2DInfo, tapsH = 1, tapsW = 1, quotH = 1, quotW = 1) {
  return ints(
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
    c.dilationHeight,
    c.dilationWidth,
    c.filterHeight,
    c.filterWidth,
    tapsH,
    tapsW,
    quotH,
    quotW,
    // Elements of x (= dx): the stride between the split-K partial copies of dx.
    c.inHeight * c.inWidth * c.inChannels * c.batchSize,
  );
}

/**
 * Pieces shared by Conv2D and its filter gradient, which read the same im2col matrix of x (one
 * transposed): an output pixel, decomposed once per staged row (or k), and a filter tap,
 * decomposed once per slab; `readX` combines them.
 */
const IM2COL = `
struct Pixel { b : i32, iy : i32, ix : i32, ok : bool }
struct Tap { dy : i32, dx : i32, ci : i32, ok : bool }
/** Output pixel p = (b, oy, ox): batch and the input position of its filter's top-left tap. */
fn pixelOf(p : i32, ok : bool) -> Pixel {
  let hw = uniforms.outH * uniforms.outW;
  let b = p / hw;
  let oy = (p - b * hw) / uniforms.outW;
  let ox = p - b * hw - oy * uniforms.outW;
  return Pixel(b, oy * uniforms.strideH - uniforms.padT, ox * uniforms.strideW - uniforms.padL, ok);
}
/** Filter tap t = (fy, fx, ci): its offset from the top-left tap. */
fn tapOf(t : i32, ok : bool) -> Tap {
  let fwc = uniforms.fW * uniforms.inC;
  let fy = t / fwc;
  let fx = (t - fy * fwc) / uniforms.inC;
  return Tap(fy * uniforms.dilH, fx * uniforms.dilW, t - fy * fwc - fx * uniforms.inC, ok);
}
/** x under tap t of pixel p; 0 in the padding and outside the matrix. */
fn readX(p : Pixel, t : Tap) -> f32 {
  let iy = p.iy + t.dy;
  let ix = p.ix + t.dx;
  if (!p.ok || !t.ok || iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) {
    return 0.0;
  }
  return x[((p.b * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.inC + t.ci];
}
/** C is [M, N] row-major, and split s writes its partial sums to copy s. */
fn storeC(batch : i32, split : i32, row : i32, col : i32, value : f32) {
  result[(split * uniforms.dimM + row) * uniforms.dimN + col] = value;
}
fn setup(batch : i32) {}
alias ColB = i32;
alias KB = i32;
fn colB(col : i32) -> i32 { return col; }
fn kB(k : i32) -> i32 { return k; }`;

/** Conv2D: row = output pixel (b, oy, ox), k = filter tap (fy, fx, ci), col = co. */
const FORWARD: GemmKernel = {
  key: "conv2d",
  variableNames: ["x", "w"],
  aContiguous: "k",
  bContiguous: "col",
  uniforms: CONV_UNIFORMS,
  code: `${IM2COL}
alias RowA = Pixel;
alias KA = Tap;
fn rowA(row : i32) -> Pixel { return pixelOf(row, row < uniforms.dimM); }
fn kA(k : i32) -> Tap { return tapOf(k, k < uniforms.dimK); }
fn loadA(batch : i32, p : Pixel, t : Tap) -> f32 { return readX(p, t); }
fn loadB(batch : i32, k : i32, col : i32) -> f32 {
  if (k >= uniforms.dimK || col >= uniforms.dimN) { return 0.0; }
  return w[k * uniforms.dimN + col];
}`,
};

/** Conv2DBackpropFilter: row = filter tap (fy, fx, ci), k = output pixel (b, oy, ox), col = co. */
const FILTER_GRAD: GemmKernel = {
  key: "conv2dDW",
  variableNames: ["x", "dy"],
  aContiguous: "row",
  bContiguous: "col",
  uniforms: CONV_UNIFORMS,
  code: `${IM2COL}
alias RowA = Tap;
alias KA = Pixel;
fn rowA(row : i32) -> Tap { return tapOf(row, row < uniforms.dimM); }
fn kA(k : i32) -> Pixel { return pixelOf(k, k < uniforms.dimK); }
fn loadA(batch : i32, t : Tap, p : Pixel) -> f32 { return readX(p, t); }
fn loadB(batch : i32, k : i32, col : i32) -> f32 {
  if (k >= uniforms.dimK || col >= uniforms.dimN) { return 0.0; }
  return dy[k * uniforms.dimN + col];
}`,
};

/**
 * Conv2DBackpropInput for phase (py, px) = workgroup z: row = (b, yq, xq) for dx pixel
 * (yq·sh + py, xq·sw + px), k = (jy, jx, co) for filter tap (ry + jy·sh, rx + jx·sw) with
 * ry = (py + padT) mod sh, which meets dy row yq + (py + padT − ry)/sh − jy. col = ci.
 * (In this kernel in* is dx's geometry and out* is dy's.)
 */
const INPUT_GRAD: GemmKernel = {
  key: "conv2dDX",
  variableNames: ["dy", "w"],
  aContiguous: "k",
  bContiguous: "k",
  uniforms: CONV_UNIFORMS,
  code: `
struct Phase { py : i32, px : i32, ry : i32, rx : i32, cy : i32, cx : i32 }
var<private> phase : Phase;
fn setup(batch : i32) {
  let py = batch / uniforms.strideW;
  let px = batch - py * uniforms.strideW;
  let ry = (py + uniforms.padT) % uniforms.strideH;
  let rx = (px + uniforms.padL) % uniforms.strideW;
  phase = Phase(py, px, ry, rx, (py + uniforms.padT - ry) / uniforms.strideH,
                (px + uniforms.padL - rx) / uniforms.strideW);
}
/** dx pixel of a row: batch, and the dy position that filter tap (ry, rx) meets. */
struct RowA { b : i32, oy : i32, ox : i32, ok : bool }
fn rowA(row : i32) -> RowA {
  let qhw = uniforms.quotH * uniforms.quotW;
  let b = row / qhw;
  let yq = (row - b * qhw) / uniforms.quotW;
  let xq = row - b * qhw - yq * uniforms.quotW;
  return RowA(b, yq + phase.cy, xq + phase.cx, row < uniforms.dimM);
}
/** Tap k = (jy, jx, co) of this phase; fy, fx are its filter position. */
struct Tap { jy : i32, jx : i32, co : i32, fy : i32, fx : i32, ok : bool }
fn tapOf(k : i32) -> Tap {
  let tco = uniforms.tapsW * uniforms.outC;
  let jy = k / tco;
  let jx = (k - jy * tco) / uniforms.outC;
  let fy = phase.ry + jy * uniforms.strideH;
  let fx = phase.rx + jx * uniforms.strideW;
  return Tap(jy, jx, k - jy * tco - jx * uniforms.outC, fy, fx,
             k < uniforms.dimK && fy < uniforms.fH && fx < uniforms.fW);
}
alias KA = Tap;
alias KB = Tap;
alias ColB = i32;
fn kA(k : i32) -> Tap { return tapOf(k); }
fn kB(k : i32) -> Tap { return tapOf(k); }
fn colB(col : i32) -> i32 { return col; }
fn loadA(batch : i32, r : RowA, t : Tap) -> f32 {
  let oy = r.oy - t.jy;
  let ox = r.ox - t.jx;
  if (!r.ok || !t.ok || oy < 0 || oy >= uniforms.outH || ox < 0 || ox >= uniforms.outW) {
    return 0.0;
  }
  return dy[((r.b * uniforms.outH + oy) * uniforms.outW + ox) * uniforms.outC + t.co];
}
fn loadB(batch : i32, t : Tap, col : i32) -> f32 {
  if (!t.ok || col >= uniforms.dimN) { return 0.0; }
  return w[((t.fy * uniforms.fW + t.fx) * uniforms.inC + col) * uniforms.outC + t.co];
}
fn storeC(batch : i32, split : i32, row : i32, col : i32, value : f32) {
  let qhw = uniforms.quotH * uniforms.quotW;
  let b = row / qhw;
  let yq = (row - b * qhw) / uniforms.quotW;
  let xq = row - b * qhw - yq * uniforms.quotW;
  let y = yq * uniforms.strideH + phase.py;
  let x = xq * uniforms.strideW + phase.px;
  if (y < uniforms.inH && x < uniforms.inW) {
    let pixel = (b * uniforms.inH + y) * uniforms.inW + x;
    result[split * uniforms.dxSize + pixel * uniforms.inC + col] = value;
  }
}`,
};

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  dilations: number | [number, number] = 1,
): tf.backend_util.Conv2DInfo | null {
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as "NHWC" | "NCHW");
  if (format !== "channelsLast") return null;
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as "valid" | "same" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    format,
  );
}

/**
 * Runs a GEMM whose `storeC` writes `outShape`; with a K split, into `splits` consecutive copies
 * of it that are then summed.
 */
function gemmWithSplits(
  backend: WebgpuBackend,
  kernel: GemmKernel,
  tile: GemmTile,
  shape: GemmShape,
  inputs: tf.TensorInfo[],
  outShape: number[],
  uniforms: UniformData[],
): tf.TensorInfo {
  if (shape.splits === 1) return runGemm(backend, kernel, tile, shape, inputs, outShape, uniforms);
  const size = outShape.reduce((a, b) => a * b, 1);
  const partial = runGemm(backend, kernel, tile, shape, inputs, [shape.splits, size], uniforms);
  return splitReduce(backend, partial, shape.splits, outShape);
}

const isFloat = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === "float32");

/** Conv2D (NHWC) as an implicit GEMM; null when unsupported. */
export function conv2d(
  backend: WebgpuBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  if (!isFloat(x, filter)) return null;
  const c = convInfo(x.shape, filter.shape, attrs, attrs.dilations as [number, number]);
  if (!c) return null;
  const M = c.batchSize * c.outHeight * c.outWidth;
  const K = c.filterHeight * c.filterWidth * c.inChannels;
  const p = planGemm(M, c.outChannels, K, 1, true);
  if (!p || M * c.outChannels === 0) return null;
  return gemmWithSplits(backend, FORWARD, p.tile, p, [x, filter], c.outShape, convUniforms(c));
}

/** Conv2DBackpropFilter (NHWC) as an implicit GEMM; null when unsupported. */
export function conv2dBackpropFilter(
  backend: WebgpuBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  if (!isFloat(x, dy)) return null;
  const filterShape = attrs.filterShape as number[];
  const c = convInfo(x.shape, filterShape, attrs);
  if (!c) return null;
  const M = c.filterHeight * c.filterWidth * c.inChannels;
  const K = c.batchSize * c.outHeight * c.outWidth;
  const p = planGemm(M, c.outChannels, K, 1, true);
  if (!p || M * c.outChannels === 0) return null;
  return gemmWithSplits(backend, FILTER_GRAD, p.tile, p, [x, dy], filterShape, convUniforms(c));
}

/** Conv2DBackpropInput (NHWC) as one implicit GEMM per stride phase; null when unsupported. */
export function conv2dBackpropInput(
  backend: WebgpuBackend,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  if (!isFloat(dy, filter)) return null;
  const inputShape = attrs.inputShape as number[];
  const c = convInfo(inputShape, filter.shape, attrs);
  if (!c || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  const sh = c.strideHeight, sw = c.strideWidth;
  const tapsH = Math.ceil(c.filterHeight / sh), tapsW = Math.ceil(c.filterWidth / sw);
  const quotH = Math.ceil(c.inHeight / sh), quotW = Math.ceil(c.inWidth / sw);
  const M = c.batchSize * quotH * quotW;
  const p = planGemm(M, c.inChannels, tapsH * tapsW * c.outChannels, sh * sw, true);
  if (!p || M * c.inChannels === 0) return null;
  const uniforms = convUniforms(c, tapsH, tapsW, quotH, quotW);
  return gemmWithSplits(backend, INPUT_GRAD, p.tile, p, [dy, filter], inputShape, uniforms);
}
