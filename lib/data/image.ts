/**
 * Pixel-level helpers: resizing, channel conversion, center cropping and PNG/JPEG decoding.
 *
 * Resizing is done here in plain TypeScript (not with tfjs) so the bytes a dataset holds do not
 * depend on the backend. The filter is separable, applied along width then height:
 * - shrinking an axis uses **area averaging**: each output pixel is the mean of the source area it
 *   covers, with fractional weights at the edges (like OpenCV's INTER_AREA). This is what keeps
 *   178×218 CelebA faces free of aliasing at 64×64;
 * - enlarging an axis uses **bilinear** interpolation with half-pixel centers and clamped edges
 *   (PIL's bilinear upsampling, torch's `align_corners=False`), e.g. MNIST 28→64 for DCGAN.
 * An unchanged axis is copied exactly.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import pngjs from "pngjs";
import jpeg from "jpeg-js";
import { UserError } from "../fsutil.ts";

/** Per-output-pixel source taps along one axis: `start[o]`..`start[o]+count[o]-1` with weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** Weights, `maxTaps` slots per output pixel. */
  weight: Float64Array;
  maxTaps: number;
}

const tapCache = new Map<string, Taps>();

function axisTaps(inLen: number, outLen: number): Taps {
  const key = `${inLen}>${outLen}`;
  const cached = tapCache.get(key);
  if (cached) return cached;
  const scale = inLen / outLen;
  const maxTaps = outLen <= inLen ? Math.ceil(scale) + 1 : 2;
  const taps: Taps = {
    start: new Int32Array(outLen),
    count: new Int32Array(outLen),
    weight: new Float64Array(outLen * maxTaps),
    maxTaps,
  };
  for (let o = 0; o < outLen; o++) {
    if (outLen <= inLen) {
      // Area: output pixel o covers source interval [lo, hi); weight = overlap / scale.
      const lo = o * scale;
      const hi = (o + 1) * scale;
      const first = Math.floor(lo);
      const last = Math.min(inLen - 1, Math.ceil(hi) - 1);
      taps.start[o] = first;
      taps.count[o] = last - first + 1;
      for (let i = first; i <= last; i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        taps.weight[o * maxTaps + (i - first)] = overlap / scale;
      }
    } else {
      // Bilinear: the center of output pixel o sits at source coordinate x (pixel centers at i).
      const x = (o + 0.5) * scale - 0.5;
      const i0 = Math.floor(x);
      const f = x - i0;
      const a = Math.max(0, Math.min(inLen - 1, i0));
      const b = Math.max(0, Math.min(inLen - 1, i0 + 1));
      taps.start[o] = a;
      taps.count[o] = 2;
      // Store as offsets from `a`; b is a or a+1 after clamping.
      taps.weight[o * maxTaps] = 1 - f;
      taps.weight[o * maxTaps + 1] = f;
      if (b === a) {
        taps.weight[o * maxTaps] = 1;
        taps.weight[o * maxTaps + 1] = 0;
        taps.count[o] = 1;
      }
    }
  }
  if (tapCache.size > 64) tapCache.clear();
  tapCache.set(key, taps);
  return taps;
}

/**
 * Resizes one HWC byte image of size h×w×c to outH×outW×c (area averaging when shrinking,
 * bilinear when enlarging; see the module doc). Results are rounded to the nearest byte.
 */
export function resizeImage(
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Uint8Array {
  if (src.length !== h * w * c) {
    throw new RangeError(`resizeImage: got ${src.length} bytes for ${h}×${w}×${c}`);
  }
  if (h === outH && w === outW) return src.slice();
  const out = new Uint8Array(outH * outW * c);
  resizeInto(src, h, w, c, outH, outW, out, 0, new Float64Array((h + 1) * outW * c));
  return out;
}

/**
 * {@link resizeImage} writing into `dst` at `dstOffset`, with a caller-provided scratch buffer of
 * at least (h+1)*outW*c floats — so resizing 60000 MNIST digits allocates nothing per image.
 */
function resizeInto(
  src: Uint8Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
  dst: Uint8Array,
  dstOffset: number,
  mid: Float64Array,
): void {
  const { start: xs, count: xn, weight: xw, maxTaps: xm } = axisTaps(w, outW);
  const { start: ys, count: yn, weight: yw, maxTaps: ym } = axisTaps(h, outH);
  const rowLen = outW * c;
  // Pass 1: resample each row along the width into floats (h × outW × c).
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let o = 0; o < outW; o++) {
      const s = row + xs[o] * c;
      const n = xn[o];
      const wo = o * xm;
      const m = y * rowLen + o * c;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += xw[wo + k] * src[s + k * c + ch];
        mid[m + ch] = acc;
      }
    }
  }
  // Pass 2: each output row is a weighted sum of whole `mid` rows; then round to bytes.
  const acc = mid.subarray(h * rowLen, (h + 1) * rowLen);
  for (let o = 0; o < outH; o++) {
    acc.fill(0.5); // +0.5 then truncation on the byte store = round half up
    for (let k = 0; k < yn[o]; k++) {
      const wt = yw[o * ym + k];
      const s = (ys[o] + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += wt * mid[s + i];
    }
    const d = dstOffset + o * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const v = acc[i];
      dst[d + i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
    }
  }
}

/**
 * Converts an HWC image between channel counts: 1→3 replicates gray, 3→1 uses ITU-R 601 luma
 * (0.299 R + 0.587 G + 0.114 B, PIL's "L" conversion), 4 (RGBA) drops alpha first.
 */
export function convertChannels(
  src: Uint8Array,
  pixels: number,
  from: number,
  to: 1 | 3,
): Uint8Array {
  if (from === to) return src;
  const out = new Uint8Array(pixels * to);
  for (let p = 0; p < pixels; p++) {
    const s = p * from;
    if (to === 3) {
      if (from === 1) {
        out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = src[s];
      } else {
        out[p * 3] = src[s];
        out[p * 3 + 1] = src[s + 1];
        out[p * 3 + 2] = src[s + 2];
      }
    } else {
      out[p] = from === 1 ? src[s] : Math.round(
        0.299 * src[s] + 0.587 * src[s + 1] + 0.114 * src[s + 2],
      );
    }
  }
  return out;
}

/**
 * Applies channel conversion and then resizing to a batch of N same-sized HWC images, returning
 * a new N×outSize×outSize×`to` array (or `pixels` itself when nothing changes).
 */
export function transformImages(
  pixels: Uint8Array,
  n: number,
  h: number,
  w: number,
  c: number,
  to: 1 | 3,
  size?: number,
): { pixels: Uint8Array; height: number; width: number } {
  const outH = size ?? h;
  const outW = size ?? w;
  if (to === c && outH === h && outW === w) return { pixels, height: h, width: w };
  const inLen = h * w * c;
  const outLen = outH * outW * to;
  const out = new Uint8Array(n * outLen);
  const scratch = new Float64Array((h + 1) * outW * to);
  for (let i = 0; i < n; i++) {
    const img = convertChannels(pixels.subarray(i * inLen, (i + 1) * inLen), h * w, c, to);
    if (outH === h && outW === w) out.set(img, i * outLen);
    else resizeInto(img, h, w, to, outH, outW, out, i * outLen, scratch);
  }
  return { pixels: out, height: outH, width: outW };
}

/** A decoded image: 8-bit RGBA, row-major. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** width*height*4 bytes. */
  data: Uint8Array;
}

/**
 * Decodes PNG or JPEG bytes (recognized by their signature, not the file name) into RGBA.
 * Anything else, or a decoder failure, throws a {@link UserError} naming `file`.
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8;
  try {
    if (isPng) {
      // pngjs expands gray/palette/16-bit PNGs to 8-bit RGBA.
      // pngjs wants a Node Buffer (it calls readUInt32BE); this wraps the bytes without copying.
      const png = pngjs.PNG.sync.read(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
      const d = png.data as Uint8Array;
      return {
        width: png.width,
        height: png.height,
        data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
      };
    }
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
      return { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    throw new UserError(`corrupt image file ${file}: ${(e as Error).message ?? e}`);
  }
  throw new UserError(`corrupt image file ${file}: not a PNG or JPEG (unrecognized signature)`);
}

/**
 * Center-crops an RGBA image to a square (side = the shorter edge; odd leftovers go to the
 * bottom/right) and converts it to `channels`, returning an HWC byte image.
 */
export function cropToChannels(
  img: RgbaImage,
  channels: 1 | 3,
  crop: boolean,
): { data: Uint8Array; height: number; width: number } {
  const side = Math.min(img.width, img.height);
  const outW = crop ? side : img.width;
  const outH = crop ? side : img.height;
  const x0 = Math.floor((img.width - outW) / 2);
  const y0 = Math.floor((img.height - outH) / 2);
  const rgba = new Uint8Array(outW * outH * 4);
  for (let y = 0; y < outH; y++) {
    const s = ((y0 + y) * img.width + x0) * 4;
    rgba.set(img.data.subarray(s, s + outW * 4), y * outW * 4);
  }
  return { data: convertChannels(rgba, outW * outH, 4, channels), height: outH, width: outW };
}
