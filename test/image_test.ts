import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import {
  decodePng,
  encodeApng,
  encodePng,
  hstack,
  makeGrid,
  type RgbImage,
  saveGrid,
  savePng,
  vstack,
} from "../lib/image.ts";

/** Bitwise CRC-32 straight from the PNG spec's definition (no table), independent of the lib's. */
function crcReference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** The grayscale plane (channel 0) of a grid as rows, for readable comparisons. */
function plane(img: RgbImage, ch = 0): number[][] {
  return Array.from(
    { length: img.height },
    (_, y) =>
      Array.from(
        { length: img.width },
        (_, x) => img.data[(y * img.width + x) * img.channels + ch],
      ),
  );
}

Deno.test("makeGrid: torchvision geometry with nrow 2, padding 1, three 2x2 gray images", () => {
  // Image i, pixel j holds (10(i+1) + j) / 255 so that with range [0, 1] the byte is 10(i+1) + j.
  const data = new Float32Array(12).map((_, k) => (10 * (Math.floor(k / 4) + 1) + (k % 4)) / 255);
  const grid = makeGrid(data, {
    height: 2,
    width: 2,
    channels: 1,
    nrow: 2,
    padding: 1,
    padValue: 1,
    range: [0, 1],
  });
  // xmaps = 2, ymaps = 2, cell = 3: size 2*3 + 1 = 7; gray becomes 3 channels.
  assert.deepEqual([grid.width, grid.height, grid.channels], [7, 7, 3]);
  const P = 255;
  const expected = [
    [P, P, P, P, P, P, P],
    [P, 10, 11, P, 20, 21, P],
    [P, 12, 13, P, 22, 23, P],
    [P, P, P, P, P, P, P],
    [P, 30, 31, P, P, P, P],
    [P, 32, 33, P, P, P, P],
    [P, P, P, P, P, P, P],
  ];
  for (let ch = 0; ch < 3; ch++) assert.deepEqual(plane(grid, ch), expected);
});

Deno.test("makeGrid: value mapping and rounding follow save_image (x*255 + 0.5, clamp, truncate)", () => {
  const values = [-1, 1, 0, 0.5, -0.5, 3, -5, NaN, Infinity];
  // Hand-computed: (v+1)/2*255 + 0.5, clamped to [0, 255], floored.
  // -1 -> 0.5 -> 0; 1 -> 255.5 -> 255; 0 -> 128; 0.5 -> 191.75 -> 191; -0.5 -> 64.25 -> 64;
  // 3 clamps to 1 -> 255; -5 clamps to -1 -> 0; NaN -> 0; Infinity clamps to 1 -> 255.
  const expected = [0, 255, 128, 191, 64, 255, 0, 0, 255];
  const grid = makeGrid(new Float32Array(values), {
    height: 1,
    width: 1,
    channels: 1,
    nrow: values.length,
    padding: 0,
  });
  assert.deepEqual([grid.width, grid.height], [values.length, 1]);
  assert.deepEqual(plane(grid)[0], expected);
});

Deno.test("makeGrid: normalize uses the min/max of the shown images", () => {
  const grid = makeGrid(new Float32Array([2, 4, 6, 100]), {
    n: 3,
    height: 1,
    width: 1,
    channels: 1,
    padding: 0,
    normalize: true,
  });
  // min 2, max 6 (the 4th image is not shown): 0 -> 0, 0.5 -> 128, 1 -> 255.
  assert.deepEqual(plane(grid)[0], [0, 128, 255]);
  // A constant batch maps to 0 (torchvision divides by max(hi - lo, 1e-5)).
  const flat = makeGrid(new Float32Array([7, 7]), {
    height: 1,
    width: 1,
    channels: 1,
    padding: 0,
    normalize: true,
  });
  assert.deepEqual(plane(flat)[0], [0, 0]);
});

Deno.test("makeGrid: defaults (nrow 8, padding 2), RGB channel order, tensor input", () => {
  // 3 RGB images of 2x2 with nrow 8: xmaps = 3, ymaps = 1 -> 3*(2+2)+2 = 14 wide, 2+2+2 = 6 high.
  const n = 3, h = 2, w = 2, c = 3;
  const values = new Float32Array(n * h * w * c).map((_, k) => ((k * 37) % 101) / 50 - 1);
  const fromArray = makeGrid(values, { height: h, width: w, channels: c });
  assert.deepEqual([fromArray.width, fromArray.height, fromArray.channels], [14, 6, 3]);
  // Image 2, pixel (y=1, x=0), channel 2 sits at grid (2+1, 2*4+2+0).
  const src = ((2 * h + 1) * w + 0) * c + 2;
  const expectByte = Math.floor(Math.min(255, Math.max(0, ((values[src] + 1) / 2) * 255 + 0.5)));
  assert.equal(fromArray.data[((2 + 1) * 14 + 10) * 3 + 2], expectByte);
  // The padding is 0 by default.
  assert.equal(fromArray.data[0], 0);
  const t = tf.tensor4d(values, [n, h, w, c]);
  const fromTensor = makeGrid(t, {});
  t.dispose();
  assert.deepEqual(fromTensor, fromArray);
});

Deno.test("makeGrid: rejects inconsistent input", () => {
  assert.throws(() => makeGrid(new Float32Array(5), { height: 2, width: 2, channels: 1 }));
  assert.throws(() => makeGrid(new Float32Array(8), { height: 2, width: 2, channels: 2 }));
  assert.throws(() => makeGrid(new Float32Array(8), { height: 2, width: 2, channels: 1, n: 3 }));
  assert.throws(() => makeGrid(new Float32Array(8), {}));
});

function randomImage(width: number, height: number, channels: 1 | 3 | 4, seed: number): RgbImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, channels, data };
}

Deno.test("PNG: encode -> decode round trip for gray, RGB and RGBA; deterministic bytes", () => {
  for (const channels of [1, 3, 4] as const) {
    const img = randomImage(13, 7, channels, channels);
    const bytes = encodePng(img);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const back = decodePng(bytes);
    assert.deepEqual(back, img);
    assert.deepEqual(encodePng({ ...img, data: img.data.slice() }), bytes);
  }
});

Deno.test("saveGrid and savePng write decodable files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const values = new Float32Array(4 * 3 * 3).fill(1);
    await saveGrid(join(dir, "g.png"), values, { height: 3, width: 3, channels: 1, nrow: 2 });
    const g = decodePng(await Deno.readFile(join(dir, "g.png")));
    // 2x2 cells of 3+2, plus 2: 12x12, RGB (gray grids are written as RGB like torchvision).
    assert.deepEqual([g.width, g.height, g.channels], [12, 12, 3]);
    assert.equal(g.data[(2 * 12 + 2) * 3], 255);
    assert.equal(g.data[0], 0);
    const img = randomImage(5, 4, 4, 9);
    await savePng(join(dir, "sub/x.png"), img);
    assert.deepEqual(decodePng(await Deno.readFile(join(dir, "sub/x.png"))), img);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Parses PNG chunks, asserting the signature and every CRC. */
function parseChunks(bytes: Uint8Array): Chunk[] {
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Chunk[] = [];
  let at = 8;
  while (at < bytes.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const crc = view.getUint32(at + 8 + len);
    assert.equal(crc, crcReference(bytes.subarray(at + 4, at + 8 + len)), `CRC of ${type}`);
    chunks.push({ type, data: bytes.subarray(at + 8, at + 8 + len) });
    at += 12 + len;
  }
  assert.equal(at, bytes.length);
  return chunks;
}

/** Reverses PNG scanline filters (spec section 9) to recover raw pixel bytes. */
function unfilter(raw: Uint8Array, width: number, height: number, bpp: number): Uint8Array {
  const stride = width * bpp;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)];
    assert.ok(type <= 4, `filter type ${type}`);
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= bpp ? out[y * stride + i - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= bpp && y > 0 ? out[(y - 1) * stride + i - bpp] : 0;
      let pred = 0;
      if (type === 1) pred = a;
      else if (type === 2) pred = b;
      else if (type === 3) pred = Math.floor((a + b) / 2);
      else if (type === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return out;
}

Deno.test("APNG: chunk structure, sequence numbers, CRCs and frame contents", () => {
  const [w, h] = [6, 5];
  // Smooth gradients plus noise, so the encoder has reasons to pick different filters.
  const frames = [0, 1, 2].map((f) => {
    const img = randomImage(w, h, 3, f + 1);
    for (let i = 0; i < img.data.length; i++) if (i % 2 === 0) img.data[i] = (i * (f + 1)) & 0xff;
    return img;
  });
  const bytes = encodeApng(frames, 250, { loop: 3 });
  const chunks = parseChunks(bytes);
  const types = chunks.map((c) => c.type);
  assert.deepEqual(types, ["IHDR", "acTL", "fcTL", "IDAT", "fcTL", "fdAT", "fcTL", "fdAT", "IEND"]);
  const be = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset, d.byteLength);
  const ihdr = be(chunks[0].data);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4), ihdr.getUint8(8), ihdr.getUint8(9)], [
    w,
    h,
    8,
    2,
  ]);
  const actl = be(chunks[1].data);
  assert.deepEqual([actl.getUint32(0), actl.getUint32(4)], [3, 3]);

  const seqs: number[] = [];
  const frameData: Uint8Array[] = [];
  for (const c of chunks) {
    const d = be(c.data);
    if (c.type === "fcTL") {
      assert.equal(c.data.length, 26);
      seqs.push(d.getUint32(0));
      assert.deepEqual([d.getUint32(4), d.getUint32(8), d.getUint32(12), d.getUint32(16)], [
        w,
        h,
        0,
        0,
      ]);
      assert.equal(d.getUint16(20) / d.getUint16(22), 0.25); // 250 ms
    } else if (c.type === "fdAT") {
      seqs.push(d.getUint32(0));
      frameData.push(c.data.subarray(4));
    } else if (c.type === "IDAT") {
      frameData.push(c.data);
    }
  }
  assert.deepEqual(seqs, [0, 1, 2, 3, 4]); // fcTL 0, then fcTL/fdAT pairs, strictly increasing
  assert.equal(frameData.length, 3);
  const filterTypes = new Set<number>();
  frameData.forEach((z, i) => {
    const raw = new Uint8Array(inflateSync(z));
    assert.equal(raw.length, h * (1 + w * 3));
    assert.deepEqual(unfilter(raw, w, h, 3), frames[i].data);
    for (let y = 0; y < h; y++) filterTypes.add(raw[y * (1 + w * 3)]);
  });
  // The frames were built so that several filter types get used, exercising the unfilter above.
  assert.ok(filterTypes.size >= 2, `filter types used: ${[...filterTypes]}`);
  // A non-animated decoder (pngjs) shows frame 0.
  assert.deepEqual(decodePng(bytes), frames[0]);
});

Deno.test("APNG: rejects frames of different sizes and bad delays", () => {
  const a = randomImage(4, 4, 3, 1);
  assert.throws(() => encodeApng([a, randomImage(4, 5, 3, 2)], 100), /frame 1/);
  assert.throws(() => encodeApng([a, randomImage(4, 4, 4, 2)], 100), /frame 1/);
  assert.throws(() => encodeApng([], 100));
  assert.throws(() => encodeApng([a], 70000));
});

Deno.test("hstack / vstack: geometry, padding and channel promotion", () => {
  const a: RgbImage = { width: 2, height: 1, channels: 1, data: new Uint8Array([10, 20]) };
  const b: RgbImage = {
    width: 1,
    height: 2,
    channels: 3,
    data: new Uint8Array([1, 2, 3, 4, 5, 6]),
  };
  const hs = hstack([a, b], 1, 99);
  // 2 + 1 + 1 wide, max(1, 2) high, RGB.
  assert.deepEqual([hs.width, hs.height, hs.channels], [4, 2, 3]);
  assert.deepEqual([...hs.data], [
    ...[10, 10, 10, 20, 20, 20, 99, 99, 99, 1, 2, 3],
    ...[99, 99, 99, 99, 99, 99, 99, 99, 99, 4, 5, 6],
  ]);
  const vs = vstack([a, b], 0, 0);
  assert.deepEqual([vs.width, vs.height, vs.channels], [2, 3, 3]);
  assert.deepEqual([...vs.data], [10, 10, 10, 20, 20, 20, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0, 0]);
  const rgba: RgbImage = { width: 1, height: 1, channels: 4, data: new Uint8Array([1, 2, 3, 4]) };
  const mixed = hstack([a, rgba], 1, 7);
  assert.deepEqual([...mixed.data], [10, 10, 10, 255, 20, 20, 20, 255, 7, 7, 7, 255, 1, 2, 3, 4]);
});
