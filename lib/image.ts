/**
 * Image output: torchvision-style sample grids, PNG and animated-PNG encoding, and side-by-side
 * figures.
 *
 * Pixel buffers are plain bytes in row-major HWC order ({@link RgbImage}), so they can be inspected
 * and compared in tests without any image library. PNG encode/decode goes through pngjs; the
 * animated PNG writer is hand-rolled (pngjs does not write APNG) and is small enough to read.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { deflateSync } from "node:zlib";
import { PNG as PngJs } from "pngjs";
import type { tf } from "./tf.ts";
import { writeFileAtomic } from "./fsutil.ts";

/** An 8-bit image in row-major HWC order: `data[(y * width + x) * channels + c]`. */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 = gray, 3 = RGB, 4 = RGBA. */
  channels: 1 | 3 | 4;
  /** `height * width * channels` bytes. */
  data: Uint8Array;
}

/** Options of {@link makeGrid}; the names follow `torchvision.utils.make_grid`. */
export interface GridOptions {
  /** Number of images to place (default: all images in the input). */
  n?: number;
  /** Image height; required for a `Float32Array` input, checked against a tensor's shape. */
  height?: number;
  /** Image width; required for a `Float32Array` input, checked against a tensor's shape. */
  width?: number;
  /** Channels (1, 3 or 4); required for a `Float32Array` input, checked against a tensor's shape. */
  channels?: number;
  /** Images per row (default 8, like torchvision). */
  nrow?: number;
  /** Pixels of padding around and between images (default 2). */
  padding?: number;
  /** Padding intensity in [0, 1] (default 0 = black). */
  padValue?: number;
  /** Value range mapped to 0..255; values outside are clamped (default [-1, 1], the tanh range). */
  range?: [number, number];
  /** Like torchvision `normalize=True` without a range: scale by the min/max of the shown images. */
  normalize?: boolean;
}

/**
 * Converts a value already mapped to [0, 1] into a byte exactly like torchvision's `save_image`:
 * `mul(255).add_(0.5).clamp_(0, 255)` then a truncating cast to uint8. So 0 -> 0, 0.5 -> 128,
 * 1 -> 255 (round half up). NaN, which torch leaves undefined, becomes 0.
 */
function toByte(v01: number): number {
  const v = Math.min(255, Math.max(0, v01 * 255 + 0.5));
  return Number.isNaN(v) ? 0 : Math.floor(v);
}

/**
 * Tiles a batch of images (NHWC, as tfjs stores them) into one grid image, following
 * `torchvision.utils.make_grid` + `save_image` exactly:
 *
 * - `xmaps = min(nrow, n)` columns, `ymaps = ceil(n / xmaps)` rows;
 * - each cell is `(height + padding) × (width + padding)`, the grid is
 *   `ymaps * cellH + padding` high and `xmaps * cellW + padding` wide, image `k` sits at row
 *   `floor(k / xmaps) * cellH + padding`, column `(k % xmaps) * cellW + padding`;
 * - values are clamped to `range` (or the images' own min/max with `normalize`), mapped to [0, 1]
 *   (a zero-width range divides by 1e-5, as torchvision does) and turned into bytes with
 *   `floor(clamp(v * 255 + 0.5, 0, 255))`;
 * - one-channel images become a 3-channel grid (torchvision repeats gray to RGB);
 * - the padding is `padValue` in every channel (alpha included for RGBA, as in torchvision).
 *
 * Arithmetic is in float64, so a value landing within ~1e-7 of a rounding boundary may differ by
 * one level from torch's float32 result.
 */
export function makeGrid(images: Float32Array | tf.Tensor4D, opts: GridOptions): RgbImage {
  let values: ArrayLike<number>;
  let h: number, w: number, c: number;
  if (images instanceof Float32Array) {
    if (opts.height === undefined || opts.width === undefined || opts.channels === undefined) {
      throw new Error("makeGrid: height, width and channels are required for a Float32Array");
    }
    [h, w, c] = [opts.height, opts.width, opts.channels];
    values = images;
  } else {
    [, h, w, c] = images.shape;
    const given = { height: opts.height, width: opts.width, channels: opts.channels };
    const actual = { height: h, width: w, channels: c };
    for (const key of ["height", "width", "channels"] as const) {
      if (given[key] !== undefined && given[key] !== actual[key]) {
        throw new Error(`makeGrid: opts.${key}=${given[key]} but the tensor has ${actual[key]}`);
      }
    }
    values = images.dataSync();
  }
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new Error(`makeGrid: channels must be 1, 3 or 4, got ${c}`);
  }
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) {
    throw new Error(`makeGrid: bad image size ${h}x${w}`);
  }
  const per = h * w * c;
  if (values.length % per !== 0) {
    throw new Error(
      `makeGrid: ${values.length} values is not a whole number of ${h}x${w}x${c} images`,
    );
  }
  const available = values.length / per;
  const n = opts.n ?? available;
  if (!Number.isInteger(n) || n < 1 || n > available) {
    throw new Error(`makeGrid: n=${n} but ${available} images are available`);
  }
  const nrow = opts.nrow ?? 8;
  const padding = opts.padding ?? 2;
  if (!Number.isInteger(nrow) || nrow < 1) {
    throw new Error(`makeGrid: nrow must be >= 1, got ${nrow}`);
  }
  if (!Number.isInteger(padding) || padding < 0) {
    throw new Error(`makeGrid: padding must be a non-negative integer, got ${padding}`);
  }

  let [lo, hi] = opts.range ?? [-1, 1];
  if (opts.normalize) {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < n * per; i++) {
      const v = values[i];
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (lo > hi) [lo, hi] = [0, 1]; // no finite value at all: everything maps through the clamp
  }
  const scale = 1 / Math.max(hi - lo, 1e-5);

  const outC = c === 1 ? 3 : c;
  const xmaps = Math.min(nrow, n);
  const ymaps = Math.ceil(n / xmaps);
  const cellH = h + padding;
  const cellW = w + padding;
  const height = ymaps * cellH + padding;
  const width = xmaps * cellW + padding;
  const data = new Uint8Array(height * width * outC).fill(toByte(opts.padValue ?? 0));
  for (let k = 0; k < n; k++) {
    const top = Math.floor(k / xmaps) * cellH + padding;
    const left = (k % xmaps) * cellW + padding;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = k * per + (y * w + x) * c;
        const dst = ((top + y) * width + left + x) * outC;
        for (let ch = 0; ch < outC; ch++) {
          const v = values[src + (c === 1 ? 0 : ch)];
          data[dst + ch] = toByte((Math.min(hi, Math.max(lo, v)) - lo) * scale);
        }
      }
    }
  }
  return { width, height, channels: outC as 3 | 4, data };
}

/** The subset of pngjs's untyped API we use. */
interface PngJsImage {
  width: number;
  height: number;
  data: Uint8Array;
  alpha?: boolean;
  color?: boolean;
  palette?: boolean;
}
interface PngJsSync {
  sync: {
    write(png: PngJsImage, opts: Record<string, number>): Uint8Array;
    read(bytes: Uint8Array): PngJsImage;
  };
}
const PNG = PngJs as unknown as PngJsSync;

/** PNG colour type for each channel count: 0 gray, 2 RGB, 6 RGBA. */
const COLOR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

function checkImage(img: RgbImage, who: string): void {
  if (img.channels !== 1 && img.channels !== 3 && img.channels !== 4) {
    throw new Error(`${who}: channels must be 1, 3 or 4, got ${img.channels}`);
  }
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new Error(
      `${who}: data has ${img.data.length} bytes, expected ${img.width}x${img.height}x${img.channels}`,
    );
  }
}

/**
 * Encodes an image as an 8-bit PNG (gray, RGB or RGBA, matching `channels`). The bytes depend only
 * on the pixels: pngjs uses fixed filter heuristics and zlib level 9, and writes no timestamp.
 */
export function encodePng(img: RgbImage): Uint8Array {
  checkImage(img, "encodePng");
  const type = COLOR_TYPE[img.channels];
  const bytes = PNG.sync.write(
    {
      width: img.width,
      height: img.height,
      data: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength),
    },
    { colorType: type, inputColorType: type, inputHasAlpha: img.channels === 4 ? 1 : 0 },
  );
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a PNG (any bit depth or colour type; 16-bit is scaled to 8-bit). Returns 1 channel for
 * gray, 3 for colour or palette, 4 whenever the file has alpha or transparency. For an animated PNG
 * this is the default image (frame 0).
 */
export function decodePng(bytes: Uint8Array): RgbImage {
  // pngjs reads with Buffer methods, so view the bytes as a Buffer (no copy).
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const rgba = png.data;
  const channels: 1 | 3 | 4 = png.alpha ? 4 : png.color || png.palette ? 3 : 1;
  const n = png.width * png.height;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < channels; ch++) data[i * channels + ch] = rgba[i * 4 + ch];
  }
  return { width: png.width, height: png.height, channels, data };
}

/** Writes an image as a PNG file (atomically). */
export async function savePng(path: string, img: RgbImage): Promise<void> {
  await writeFileAtomic(path, encodePng(img));
}

/**
 * {@link makeGrid} reading a tensor asynchronously: a synchronous GPU read needs a DOM canvas,
 * which Deno's WebGPU lacks, so code that may run on the webgpu backend uses this.
 */
export async function gridOf(
  images: Float32Array | tf.Tensor4D,
  opts: GridOptions,
): Promise<RgbImage> {
  if (images instanceof Float32Array) return makeGrid(images, opts);
  const [n, height, width, channels] = images.shape;
  const data = await images.data() as Float32Array;
  return makeGrid(data, { n, height, width, channels, ...opts });
}

/** {@link gridOf} then {@link savePng}: the usual "save a grid of samples" call. */
export async function saveGrid(
  path: string,
  images: Float32Array | tf.Tensor4D,
  opts: GridOptions,
): Promise<void> {
  await savePng(path, await gridOf(images, opts));
}

// ---------------------------------------------------------------------------------------------
// Animated PNG (https://wiki.mozilla.org/APNG_Specification)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the PNG/zlib polynomial) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, 4-letter type, payload, CRC over type + payload. */
function pngChunk(type: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(payload, 8);
  view.setUint32(8 + payload.length, crc32(out.subarray(4, 8 + payload.length)));
  return out;
}

/** Big-endian packing of [value, byteCount] fields. */
function packFields(fields: [number, 1 | 2 | 4][]): Uint8Array {
  const out = new Uint8Array(fields.reduce((s, [, b]) => s + b, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [v, bytes] of fields) {
    if (bytes === 1) view.setUint8(at, v);
    else if (bytes === 2) view.setUint16(at, v);
    else view.setUint32(at, v);
    at += bytes;
  }
  return out;
}

/** The Paeth predictor: whichever of left, up, up-left is closest to `left + up - upLeft`. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Prediction of PNG filter `f` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) from its neighbours. */
function predict(f: number, left: number, up: number, upLeft: number): number {
  switch (f) {
    case 0:
      return 0;
    case 1:
      return left;
    case 2:
      return up;
    case 3:
      return (left + up) >> 1;
    default:
      return paeth(left, up, upLeft);
  }
}

/**
 * PNG scanline filtering: each row gets the filter (None, Sub, Up, Average, Paeth) whose output
 * has the smallest sum of absolute signed bytes, the heuristic the PNG spec recommends. Returns
 * `height` rows of `1 + width * channels` bytes, ready for zlib.
 */
function filterScanlines(img: RgbImage): Uint8Array {
  const { width, height, channels: bpp, data } = img;
  const stride = width * bpp;
  const out = new Uint8Array(height * (stride + 1));
  const trial = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    let best = Infinity;
    for (let f = 0; f < 5; f++) {
      let cost = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? data[row + i - bpp] : 0; // left
        const b = y > 0 ? data[row - stride + i] : 0; // up
        const c = i >= bpp && y > 0 ? data[row - stride + i - bpp] : 0; // up-left
        const pred = predict(f, a, b, c);
        const v = (data[row + i] - pred) & 0xff;
        trial[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best) {
        best = cost;
        out[y * (stride + 1)] = f;
        out.set(trial, y * (stride + 1) + 1);
      }
    }
  }
  return out;
}

/**
 * Encodes frames of equal size and channel count as an animated PNG. Viewers without APNG support
 * show frame 0. Each frame is shown for `delayMs` milliseconds (stored as `delayMs/1000` s, so at
 * most 65535 ms); `loop` is the number of plays, 0 (the default) meaning forever.
 *
 * Layout: signature, IHDR, acTL(num_frames, num_plays), then fcTL + IDAT for frame 0 and
 * fcTL + fdAT for the others, with one shared sequence counter over fcTL/fdAT chunks, then IEND.
 */
export function encodeApng(
  frames: RgbImage[],
  delayMs: number,
  opts: { loop?: number } = {},
): Uint8Array {
  if (frames.length === 0) throw new Error("encodeApng: no frames");
  const { width, height, channels } = frames[0];
  for (const [i, f] of frames.entries()) {
    checkImage(f, "encodeApng");
    if (f.width !== width || f.height !== height || f.channels !== channels) {
      throw new Error(
        `encodeApng: frame ${i} is ${f.width}x${f.height}x${f.channels}, ` +
          `frame 0 is ${width}x${height}x${channels}`,
      );
    }
  }
  const delay = Math.round(delayMs);
  if (!(delay >= 0 && delay <= 0xffff)) throw new Error(`encodeApng: delayMs must be 0..65535`);
  const loop = opts.loop ?? 0;
  if (!Number.isInteger(loop) || loop < 0) throw new Error(`encodeApng: bad loop count ${loop}`);

  const chunks: Uint8Array[] = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  // IHDR: size, bit depth 8, colour type, then compression, filter and interlace methods (all 0).
  const ihdr = packFields([[width, 4], [height, 4], [8, 1], [COLOR_TYPE[channels], 1]]);
  chunks.push(pngChunk("IHDR", new Uint8Array([...ihdr, 0, 0, 0])));
  chunks.push(pngChunk("acTL", packFields([[frames.length, 4], [loop, 4]])));
  let seq = 0;
  for (const [i, frame] of frames.entries()) {
    // fcTL: sequence, size, offset (0, 0), delay as a fraction of seconds, dispose NONE, blend SOURCE.
    chunks.push(pngChunk(
      "fcTL",
      packFields([
        [seq++, 4],
        [width, 4],
        [height, 4],
        [0, 4],
        [0, 4],
        [delay, 2],
        [1000, 2],
        [0, 1],
        [0, 1],
      ]),
    ));
    const z = deflateSync(filterScanlines(frame), { level: 9 });
    const zbytes = new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
    if (i === 0) {
      chunks.push(pngChunk("IDAT", zbytes));
    } else {
      const payload = new Uint8Array(4 + zbytes.length);
      new DataView(payload.buffer).setUint32(0, seq++);
      payload.set(zbytes, 4);
      chunks.push(pngChunk("fdAT", payload));
    }
  }
  chunks.push(pngChunk("IEND", new Uint8Array(0)));
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Side-by-side figures

/** Converts an image to `channels` channels (gray is repeated to RGB; added alpha is opaque). */
export function toChannels(img: RgbImage, channels: 1 | 3 | 4): RgbImage {
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const s = i * img.channels;
    const [r, g, b] = img.channels === 1
      ? [img.data[s], img.data[s], img.data[s]]
      : [img.data[s], img.data[s + 1], img.data[s + 2]];
    const d = i * channels;
    if (channels === 1) {
      // ITU-R BT.601 luma, the usual RGB -> gray weights.
      data[d] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    } else {
      data[d] = r;
      data[d + 1] = g;
      data[d + 2] = b;
      if (channels === 4) data[d + 3] = img.channels === 4 ? img.data[s + 3] : 255;
    }
  }
  return { width: img.width, height: img.height, channels, data };
}

function stack(
  images: RgbImage[],
  horizontal: boolean,
  padding: number,
  padValue: number,
): RgbImage {
  if (images.length === 0) throw new Error("stack: no images");
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`stack: bad padding ${padding}`);
  for (const img of images) checkImage(img, "stack");
  // Mixed inputs are promoted to the richest channel count (gray -> RGB -> RGBA).
  const channels = Math.max(...images.map((i) => i.channels)) as 1 | 3 | 4;
  const along = images.reduce((s, i) => s + (horizontal ? i.width : i.height), 0) +
    padding * (images.length - 1);
  const across = Math.max(...images.map((i) => (horizontal ? i.height : i.width)));
  const width = horizontal ? along : across;
  const height = horizontal ? across : along;
  const data = new Uint8Array(width * height * channels).fill(padValue);
  if (channels === 4) { for (let i = 3; i < data.length; i += 4) data[i] = 255; }
  let offset = 0;
  for (const raw of images) {
    const img = toChannels(raw, channels);
    const [ox, oy] = horizontal ? [offset, 0] : [0, offset];
    for (let y = 0; y < img.height; y++) {
      const src = y * img.width * channels;
      data.set(
        img.data.subarray(src, src + img.width * channels),
        ((oy + y) * width + ox) * channels,
      );
    }
    offset += (horizontal ? img.width : img.height) + padding;
  }
  return { width, height, channels, data };
}

/**
 * Places images left to right, top-aligned, with `padding` pixels between them (not around). The
 * result is as tall as the tallest image; gaps are filled with the byte `padValue` (alpha stays
 * opaque). Mixed channel counts are promoted (gray -> RGB -> RGBA).
 */
export function hstack(images: RgbImage[], padding = 0, padValue = 0): RgbImage {
  return stack(images, true, padding, padValue);
}

/** Like {@link hstack} but top to bottom, left-aligned. */
export function vstack(images: RgbImage[], padding = 0, padValue = 0): RgbImage {
  return stack(images, false, padding, padValue);
}
