/**
 * CycleGAN: the pieces against independent references (a plain-array ImagePool, the reference's
 * lr formula, float64 finite differences, a naive transposed conv, hand-computed morphology, the
 * reference's printed parameter counts), the folder layouts on a generated tree, and the quick run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { selectBackend } from "../lib/backend.ts";
import { Rng } from "../lib/random.ts";
import { loadStateDict, stateDict } from "../lib/nn.ts";
import { decodePng, encodePng } from "../lib/image.ts";
import { loadDataset } from "../lib/data/mod.ts";
import {
  ConvTranspose2dOutPad,
  folderDomains,
  ImagePool,
  instanceNorm,
  lrLambda,
  main,
  mnistDomains,
  PatchDiscriminator,
  patchOutputSize,
  reflectPad,
  ResnetGenerator,
  sampleForEval,
  styleB,
  styleBTensor,
} from "../papers/cyclegan.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const tmp = await Deno.makeTempDir({ prefix: "cyclegan_test_" });

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

/** One-pixel images of value v, so pool contents can be read as numbers. */
function batchOf(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

Deno.test("ImagePool: fills with the first 50, then returns history half the time (vs a plain-array pool)", async () => {
  await selectBackend("cpu");
  const size = 50;
  const pool = new ImagePool(size, 1, 1, 1);
  const rng = new Rng(7, "pool"), refRng = new Rng(7, "pool");
  // The reference's query(), on plain numbers.
  const ref: number[] = [];
  const refQuery = (batch: number[]) =>
    batch.map((v) => {
      if (ref.length < size) {
        ref.push(v);
        return v;
      }
      if (refRng.uniform() > 0.5) {
        const j = refRng.int(size);
        const old = ref[j];
        ref[j] = v;
        return old;
      }
      return v;
    });
  let next = 0, fromHistory = 0, afterFill = 0;
  for (let step = 0; step < 250; step++) {
    const values = [next++, next++, next++]; // batches of 3: swaps within a batch must chain
    const x = batchOf(values);
    const got = Array.from(pool.query(x, rng).dataSync());
    x.dispose();
    const want = refQuery(values);
    assert.deepEqual(got, want, `step ${step}`);
    if (values[0] < size) {
      // Filling: everything passes through and is stored in order.
      if (values[2] < size) assert.deepEqual(got, values);
    } else {
      afterFill += values.length;
      fromHistory += got.filter((g, i) => g !== values[i]).length;
    }
    if (step === 16) {
      // 51 images seen: the pool holds exactly the first 50 … until swaps begin.
      assert.equal(pool.count.dataSync()[0], 50);
    }
  }
  assert.deepEqual(Array.from(pool.images.dataSync()), ref);
  const share = fromHistory / afterFill;
  assert.ok(share > 0.42 && share < 0.58, `returned from history: ${share}`);
});

Deno.test("ImagePool: contents and fill count restore from a state dict; continuation is identical", async () => {
  await selectBackend("cpu");
  const a = new ImagePool(5, 1, 1, 1);
  const rng = new Rng(3, "pool");
  for (let i = 0; i < 4; i++) a.query(batchOf([10 * i, 10 * i + 1]), rng).dispose();
  const saved = stateDict(a, "pool_A/");
  const savedRng = rng.state();
  const b = new ImagePool(5, 1, 1, 1);
  loadStateDict(b, saved, "pool_A/");
  const rngB = Rng.fromState(savedRng);
  assert.deepEqual(Array.from(b.images.dataSync()), Array.from(a.images.dataSync()));
  assert.equal(b.count.dataSync()[0], 5);
  for (let i = 0; i < 20; i++) {
    const x = batchOf([100 + i, 200 + i]);
    assert.deepEqual(
      Array.from(b.query(x, rngB).dataSync()),
      Array.from(a.query(x, rng).dataSync()),
    );
  }
  // A half-full pool keeps its count too (a restored pool must not refill from zero).
  const c = new ImagePool(50, 1, 1, 1);
  c.query(batchOf([1, 2, 3]), rng).dispose();
  const d = new ImagePool(50, 1, 1, 1);
  loadStateDict(d, stateDict(c));
  assert.equal(d.count.dataSync()[0], 3);
});

Deno.test("lr schedule: the reference's lambda_rule at epoch boundaries", () => {
  // networks.py: 1 − max(0, epoch + epoch_count − n_epochs) / (n_epochs_decay + 1), epoch_count 1,
  // evaluated after `epoch` completed epochs. Paper: 100 constant epochs, 100 decaying.
  const ref = (epoch: number) => 1 - Math.max(0, epoch + 1 - 100) / 101;
  for (let k = 0; k < 200; k++) assert.equal(lrLambda(k, 100, 100), ref(k), `epoch ${k}`);
  assert.equal(lrLambda(0, 100, 100), 1); // epoch 1
  assert.equal(lrLambda(99, 100, 100), 1); // epoch 100, the last at the full rate
  assert.ok(Math.abs(lrLambda(100, 100, 100) - 100 / 101) < 1e-15); // epoch 101
  assert.ok(Math.abs(lrLambda(199, 100, 100) - 1 / 101) < 1e-15); // epoch 200
  assert.equal(lrLambda(200, 100, 100), 0); // after the last epoch
  assert.equal(lrLambda(1, 1, 1), 0.5);
});

/** Plain float64 reflect-pad + instance norm on an NHWC array, for finite differences. */
function padNormRef(x: Float64Array, [b, h, w, c]: number[], p: number, eps: number) {
  const H = h + 2 * p, W = w + 2 * p;
  const refl = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const out = new Float64Array(b * H * W * c);
  for (let n = 0; n < b; n++) {
    for (let ch = 0; ch < c; ch++) {
      const v: number[] = [];
      for (let y = 0; y < H; y++) {
        for (let xx = 0; xx < W; xx++) {
          v.push(x[((n * h + refl(y - p, h)) * w + refl(xx - p, w)) * c + ch]);
        }
      }
      const mean = v.reduce((s, t) => s + t, 0) / v.length;
      const variance = v.reduce((s, t) => s + (t - mean) ** 2, 0) / v.length;
      v.forEach((t, k) => {
        out[((n * H + Math.floor(k / W)) * W + (k % W)) * c + ch] = (t - mean) /
          Math.sqrt(variance + eps);
      });
    }
  }
  return out;
}

Deno.test("reflection pad and instance norm: values and gradients vs float64 finite differences, cpu and wasm", async () => {
  // Forward, by hand: reflect-padding [1, 2, 3] by 2 gives [3, 2, 1, 2, 3, 2, 1].
  await selectBackend("cpu");
  const row = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
  const padded = tf.mirrorPad(row, [[0, 0], [0, 0], [2, 2], [0, 0]], "reflect");
  assert.deepEqual(Array.from(padded.dataSync()), [3, 2, 1, 2, 3, 2, 1]);

  const shape = [2, 4, 5, 3];
  const rng = new Rng(11);
  const x = rng.normalArray(2 * 4 * 5 * 3);
  for (const p of [1, 2, 3]) {
    // One-row and multi-row reflections take different paths in reflectPad.
    const outShape = [2, 4 + 2 * p, 5 + 2 * p, 3] as [number, number, number, number];
    const weights = rng.normalArray(outShape.reduce((a, b) => a * b));
    const f64 = (xs: Float64Array) =>
      padNormRef(xs, shape, p, 1e-5).reduce((s, v, i) => s + v * weights[i], 0);
    // Central differences in float64.
    const numeric = new Float64Array(x.length);
    const h = 1e-5;
    for (let i = 0; i < x.length; i++) {
      const xp = Float64Array.from(x), xm = Float64Array.from(x);
      xp[i] += h;
      xm[i] -= h;
      numeric[i] = (f64(xp) - f64(xm)) / (2 * h);
    }
    const yRef = padNormRef(Float64Array.from(x), shape, p, 1e-5);
    const scale = Math.max(...numeric.map(Math.abs));
    for (const backend of ["cpu", "wasm"] as const) {
      await selectBackend(backend);
      const xt = tf.tensor4d(x, shape as [number, number, number, number]);
      const wt = tf.tensor4d(weights, outShape);
      const y = instanceNorm(reflectPad(xt, p));
      assert.deepEqual(y.shape, outShape);
      y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - yRef[i]) < 1e-4, `${backend} y[${i}]`));
      const loss = (v: tf.Tensor) =>
        tf.sum(tf.mul(instanceNorm(reflectPad(v as tf.Tensor4D, p)), wt));
      const g = tf.grad(loss)(xt).dataSync();
      let maxErr = 0;
      g.forEach((v, i) => maxErr = Math.max(maxErr, Math.abs(v - numeric[i])));
      assert.ok(
        maxErr < 1e-3 * scale,
        `${backend} p=${p}: max |analytic − numeric| ${maxErr} (scale ${scale})`,
      );
      tf.dispose([xt, wt, y]);
    }
  }
});

Deno.test("ConvTranspose2dOutPad (k3 s2 p1 op1) equals a naive PyTorch-semantics transposed conv", async () => {
  await selectBackend("cpu");
  const [B, H, W, Cin, Cout, k, s, p, op] = [2, 3, 4, 3, 2, 3, 2, 1, 1];
  const layer = new ConvTranspose2dOutPad(new Rng(5), Cin, Cout, k, s, p, op, 0.5);
  // Make the bias non-zero so its placement is checked too.
  layer.conv.bias!.assign(tf.tensor1d([0.3, -0.7]));
  const x = new Rng(6).randn([B, H, W, Cin]) as tf.Tensor4D;
  const y = layer.apply(x);
  const outH = (H - 1) * s - 2 * p + k + op, outW = (W - 1) * s - 2 * p + k + op;
  assert.deepEqual(y.shape, [B, 2 * H, 2 * W, Cout]);
  assert.equal(outH, 2 * H);
  // out[b, iy·s − p + ky, ix·s − p + kx, o] += x[b, iy, ix, i] · W[ky, kx, o, i]  (tfjs weight layout)
  const xv = x.dataSync(), wv = layer.conv.weight.dataSync(), bv = layer.conv.bias!.dataSync();
  const ref = new Float64Array(B * outH * outW * Cout);
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let o = 0; o < Cout; o++) ref[((b * outH + oy) * outW + ox) * Cout + o] = bv[o];
      }
    }
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const oy = iy * s - p + ky, ox = ix * s - p + kx;
            if (oy < 0 || oy >= outH || ox < 0 || ox >= outW) continue;
            for (let o = 0; o < Cout; o++) {
              for (let i = 0; i < Cin; i++) {
                ref[((b * outH + oy) * outW + ox) * Cout + o] +=
                  xv[((b * H + iy) * W + ix) * Cin + i] *
                  wv[((ky * k + kx) * Cout + o) * Cin + i];
              }
            }
          }
        }
      }
    }
  }
  y.dataSync().forEach((v, i) =>
    assert.ok(Math.abs(v - ref[i]) < 1e-5, `y[${i}] ${v} vs ${ref[i]}`)
  );
  layer.dispose();
});

Deno.test("networks: the reference's parameter counts and output shapes", async () => {
  await selectBackend("cpu");
  // The reference prints 11.378 M for resnet_9blocks (ngf 64, RGB) and 2.765 M for the basic
  // PatchGAN (ndf 64, n_layers 3, RGB).
  const G = new ResnetGenerator(new Rng(0), 3, 3, 64, 9, 0.02);
  assert.equal((G.parameterCount() / 1e6).toFixed(3), "11.378");
  G.dispose();
  const D = new PatchDiscriminator(new Rng(0), 3, 64, 3, 0.02);
  assert.equal((D.parameterCount() / 1e6).toFixed(3), "2.765");
  D.dispose();

  const g = new ResnetGenerator(new Rng(1), 1, 1, 4, 2, 0.02);
  const x = new Rng(2).randn([2, 32, 32, 1]) as tf.Tensor4D;
  const y = g.apply(x);
  assert.deepEqual(y.shape, [2, 32, 32, 1]);
  assert.ok(y.dataSync().every((v) => v > -1 && v < 1));

  // A 256×256 input gives the 30×30 patch map of pix2pix/CycleGAN (each output sees 70×70).
  const d = new PatchDiscriminator(new Rng(3), 3, 2, 3, 0.02);
  const img = tf.zeros([1, 256, 256, 3]) as tf.Tensor4D;
  assert.deepEqual(d.apply(img).shape, [1, 30, 30, 1]);
  assert.equal(patchOutputSize(256, 3), 30);
  assert.equal(patchOutputSize(24, 3), 1);
  assert.equal(patchOutputSize(20, 3), 0);
});

Deno.test("style B: dilate 3×3 then invert, by hand; the tensor form agrees; closing read-back", async () => {
  await selectBackend("cpu");
  // One white pixel at (5, 5) and one in the corner (0, 0) of an 8×8 black image.
  const img = new Uint8Array(64);
  img[5 * 8 + 5] = 255;
  img[0] = 200;
  const out = styleB(img, 1, 8, 8);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const inBlock = Math.abs(y - 5) <= 1 && Math.abs(x - 5) <= 1;
      const inCorner = y <= 1 && x <= 1;
      const want = inBlock ? 0 : inCorner ? 55 : 255;
      assert.equal(out[y * 8 + x], want, `(${y}, ${x})`);
    }
  }
  // The [−1, 1] tensor form on real digits matches the byte form (b/127.5 − 1).
  const mnist = await loadDataset("mnist", { split: "test", limit: 8 });
  const { A, B, plainB } = mnistDomains(mnist);
  assert.equal(A.n, 4);
  assert.equal(B.n, 4);
  assert.deepEqual([A.height, A.width, B.height], [32, 32, 32]);
  assert.deepEqual(Array.from(A.labels!), [0, 2, 4, 6].map((i) => mnist.labels![i]));
  assert.deepEqual(Array.from(B.labels!), [1, 3, 5, 7].map((i) => mnist.labels![i]));
  assert.deepEqual(B.pixels, styleB(plainB!.pixels, 4, 32, 32));
  const toT = (px: Uint8Array) => tf.tensor4d(Array.from(px, (v) => v / 127.5 - 1), [4, 32, 32, 1]);
  const viaTensor = styleBTensor(toT(plainB!.pixels)).dataSync();
  const viaBytes = toT(B.pixels).dataSync();
  viaTensor.forEach((v, i) => assert.ok(Math.abs(v - viaBytes[i]) < 1e-6, `pixel ${i}`));
  // Padding: the 2-pixel border of A is black.
  for (let x = 0; x < 32; x++) assert.equal(A.pixels[x], 0);
  // Applying it twice is a closing: a single pixel comes back exactly.
  const dot = tf.tensor4d(Array.from(img, (v) => v / 127.5 - 1), [1, 8, 8, 1]);
  const back = styleBTensor(styleBTensor(dot)).dataSync();
  const orig = dot.dataSync();
  back.forEach((v, i) => assert.ok(Math.abs(v - orig[i]) < 1e-6, `closing pixel ${i}`));
});

/** A tiny CycleGAN folder tree of 40×40 PNGs in either layout. */
async function makeFolder(root: string, layout: "zip" | "nested", counts: [number, number]) {
  const rng = new Rng(9);
  for (const split of ["train", "test"]) {
    for (const [d, domain] of ["A", "B"].entries()) {
      const dir = layout === "zip" ? join(root, split + domain) : join(root, split, domain);
      await Deno.mkdir(dir, { recursive: true });
      for (let i = 0; i < counts[d]; i++) {
        const data = new Uint8Array(40 * 40 * 3);
        // Domain A: dark with a bright square; B: bright with a dark square.
        const [bg, fg] = domain === "A" ? [30, 220] : [220, 30];
        const x0 = rng.int(20), y0 = rng.int(20);
        for (let y = 0; y < 40; y++) {
          for (let x = 0; x < 40; x++) {
            const inside = y >= y0 && y < y0 + 16 && x >= x0 && x < x0 + 16;
            for (let c = 0; c < 3; c++) data[(y * 40 + x) * 3 + c] = inside ? fg : bg + 10 * c;
          }
        }
        await Deno.writeFile(
          join(dir, `${i}.png`),
          encodePng({ width: 40, height: 40, channels: 3, data }),
        );
      }
    }
  }
}

Deno.test("folder data: both CycleGAN layouts load as domains A and B; one cpu training step", async () => {
  const zip = join(tmp, "zip"), nested = join(tmp, "nested");
  await makeFolder(zip, "zip", [3, 4]);
  await makeFolder(nested, "nested", [3, 4]);
  for (const root of [zip, nested]) {
    const ds = await loadDataset("folder", {
      dataDir: root,
      split: "train",
      size: 36,
      channels: 3,
      crop: false,
      labels: true,
    });
    const { A, B } = folderDomains(ds);
    assert.equal(A.n, 3, root);
    assert.equal(B.n, 4, root);
    assert.equal(A.height, 36);
    // Domain A is mostly dark, B mostly bright.
    const mean = (d: typeof A) => d.pixels.reduce((s, v) => s + v, 0) / d.pixels.length;
    assert.ok(mean(A) < 128 && mean(B) > 128);
  }
  const out = join(tmp, "folder-step");
  await main([
    "--quick",
    "--dataset",
    "folder",
    "--data-dir",
    nested,
    "--backend",
    "cpu",
    "--out",
    out,
    "--size",
    "24",
    "--max-steps",
    "1",
  ]);
  const m = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
  assert.equal(m.steps, 1);
  assert.equal(m.config.imageSize, 24);
  assert.equal(m.config.loadSize, 27); // 24 · 286/256, rounded
  assert.equal(m.config.channels, 3);
  const [rec] = await readJsonl(join(out, "losses.jsonl"));
  for (const k of ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]) {
    assert.ok(Number.isFinite(rec[k]) && rec[k] >= 0, k);
  }
  // A folder that is not two domains is refused with a one-line error.
  const bad = join(tmp, "bad");
  await Deno.mkdir(join(bad, "train", "C"), { recursive: true });
  await Deno.copyFile(join(nested, "train", "A", "0.png"), join(bad, "train", "C", "0.png"));
  await assert.rejects(
    () =>
      main([
        "--quick",
        "--dataset",
        "folder",
        "--data-dir",
        bad,
        "--backend",
        "cpu",
        "--out",
        join(tmp, "x"),
      ]),
    /needs two domains A and B/,
  );
});

Deno.test("folder data: an interrupted run resumes bit-identically (pool, rngs, lr)", async () => {
  const root = join(tmp, "zip");
  const args = ["--quick", "--dataset", "folder", "--data-dir", root, "--backend", "wasm"];
  const full = join(tmp, "full"), part = join(tmp, "part");
  await main([...args, "--out", full]);
  await main([...args, "--out", part, "--max-steps", "3"]);
  await main([...args, "--out", part, "--resume"]);
  for (const f of ["losses.jsonl", "translations.png", "grids/epoch_002.png"]) {
    assert.deepEqual(await Deno.readFile(join(part, f)), await Deno.readFile(join(full, f)), f);
  }
  const losses = await readJsonl(join(full, "losses.jsonl"));
  assert.equal(losses.length, 8); // max(3, 4) images per epoch, batch 1, 1 + 1 epochs
  assert.deepEqual(losses.map((r) => r.lr), [...Array(4).fill(2e-4), ...Array(4).fill(1e-4)]);
});

const quick = join(tmp, "quick");

Deno.test("cyclegan --quick (wasm): every figure, finite losses, metrics in range", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", "wasm", "--out", quick]));
  const m = JSON.parse(await Deno.readTextFile(join(quick, "manifest.json")));
  assert.equal(m.paper, "cyclegan");
  assert.equal(m.status, "complete");
  assert.equal(m.backend.name, "wasm");
  assert.equal(m.config.nEpochs + m.config.nEpochsDecay, 2);
  const losses = await readJsonl(join(quick, "losses.jsonl"));
  assert.equal(losses.length, m.steps);
  assert.equal(m.steps, 2 * 192 / 4); // 1 + 1 epochs of 192 images per domain, batch 4
  for (const r of losses) {
    for (const k of ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]) {
      assert.ok(Number.isFinite(r[k]) && r[k] >= 0, `${k} at step ${r.step}`);
    }
    assert.equal(r.lr, r.epoch === 1 ? 2e-4 : 1e-4);
  }
  // 8 rows × 6 columns (real A | G_A(A) | G_B(G_A(A)) | real B | G_B(B) | G_A(G_B(B))) of 32×32.
  for (const f of ["translations.png", "grids/epoch_001.png", "grids/epoch_002.png"]) {
    const img = decodePng(await Deno.readFile(join(quick, f)));
    assert.equal(img.width, 6 * 34 + 2, f);
    assert.equal(img.height, 8 * 34 + 2, f);
  }
  const series = decodePng(await Deno.readFile(join(quick, "epoch_series.png")));
  assert.equal(series.width, 2 * 206 + 4);
  for (const f of ["losses_adversarial", "losses_cycle", "lr"]) {
    assert.ok((await Deno.stat(join(quick, `${f}.png`))).size > 0);
    const svg = await Deno.readTextFile(join(quick, `${f}.svg`));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  const metrics = JSON.parse(await Deno.readTextFile(join(quick, "metrics.json")));
  assert.deepEqual(m.extra.metrics, metrics);
  assert.equal(metrics.images, 256);
  for (const k of ["cycleL1A", "cycleL1B", "translationL1A", "translationL1B"]) {
    // L1 on [−1, 1] images lies in [0, 2]; an untrained G (near-constant output) scores ~1.
    assert.ok(metrics[k] >= 0 && metrics[k] < 1, `${k} ${metrics[k]}`);
  }
  for (const k of ["cyclePsnrA", "cyclePsnrB"]) {
    assert.ok(Number.isFinite(metrics[k]) && metrics[k] > 0, `${k} ${metrics[k]}`);
  }
  if (metrics.accuracy) {
    for (const [k, v] of Object.entries(metrics.accuracy)) {
      assert.ok(typeof v === "number" && v >= 0 && v <= 1, `accuracy.${k} ${v}`);
    }
    assert.ok(metrics.accuracy.real > 0.9, "the classifier reads plain test digits");
  }
});

Deno.test("sampleForEval translates test digits with the checkpointed G_A", async () => {
  const { images, labels } = await sampleForEval(quick, 10);
  assert.deepEqual(images.shape, [10, 32, 32, 1]);
  assert.ok(images.dataSync().every((v) => v >= -1 && v <= 1));
  const mnist = await loadDataset("mnist", { split: "test", limit: 20 });
  assert.deepEqual(Array.from(labels!), Array.from({ length: 10 }, (_, i) => mnist.labels![2 * i]));
  const again = (await sampleForEval(quick, 10)).images.dataSync();
  assert.deepEqual(Array.from(again), Array.from(images.dataSync()));
});

Deno.test("cyclegan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("cyclegan", quick);
});
