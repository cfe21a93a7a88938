/**
 * DCGAN: `--quick` end to end (figures, manifest, resume), the two architectures against
 * PyTorch's layer arithmetic (output shapes, parameter counts), the N(0, 0.02) init, the
 * tutorial's update order checked against separately built models, and the latent walks.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { selectBackend } from "../lib/backend.ts";
import { Rng } from "../lib/random.ts";
import type { ParsedArgs } from "../lib/experiment.ts";
import { decodePng } from "../lib/image.ts";
import {
  buildModels,
  DCGAN64_CONFIG,
  type DcganConfig,
  Discriminator64,
  Generator28,
  Generator64,
  interpolationCodes,
  lerp,
  main,
  PAPER_CONFIG,
  QUICK64_CONFIG,
  QUICK_CONFIG,
  sampleForEval,
  slerp,
  SPEC,
  trainStep,
} from "../papers/dcgan.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const tmp = await Deno.makeTempDir({ prefix: "dcgan_test_" });
const runA = join(tmp, "a");

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

/** The chunk types of a PNG file, in order, and acTL's frame count (walking the chunk lengths). */
function pngChunks(bytes: Uint8Array): { types: string[]; frames: number | null } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const types: string[] = [];
  let frames: number | null = null;
  for (let at = 8; at < bytes.length;) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    if (type === "acTL") frames = view.getUint32(at + 8);
    types.push(type);
    at += 12 + len;
  }
  return { types, frames };
}

/** PyTorch's parameter counts: Conv/ConvTranspose in·out·k² (+out bias), BN 2c, Linear in·out. */
const conv = (i: number, o: number, k: number, bias = false) => i * o * k * k + (bias ? o : 0);
const bn = (c: number) => 2 * c;
const linear = (i: number, o: number, bias = false) => i * o + (bias ? o : 0);

Deno.test("dcgan --quick (wasm) writes every figure with the right geometry", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", "wasm", "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.paper, "dcgan");
  assert.equal(m.status, "complete");
  assert.equal(m.backend.name, "wasm");
  assert.equal(m.config.arch, "dcgan28");
  assert.equal(m.config.epochs, 2);
  // 1,024 images in batches of 64: 16 steps an epoch.
  assert.equal(m.steps, 32);
  assert.equal(m.images, 2048);
  assert.ok(m.imgPerSec > 0);
  assert.deepEqual(m.extra.parameters, {
    G: linear(100, 6272) + bn(6272) + conv(128, 64, 4) + bn(64) + conv(64, 1, 4, true),
    D: conv(1, 64, 4, true) + conv(64, 128, 4) + bn(128) + linear(6272, 1, true),
  });
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.deepEqual(losses.map((r) => r.step), Array.from({ length: 32 }, (_, i) => i + 1));
  for (const r of losses) {
    for (const k of ["d_loss", "g_loss", "D(x)", "D(G(z))", "D(G(z)) after D step"]) {
      assert.ok(Number.isFinite(r[k]), k);
    }
    for (const k of ["D(x)", "D(G(z))", "D(G(z)) after D step"]) assert.ok(r[k] > 0 && r[k] < 1);
    // errD = −log D(x) − log(1 − D(G(z))) per sample ≥ −log(mean D(x)) − log(1 − mean D(G(z)))
    // by Jensen (−log is convex), so the logged means bound the logged loss.
    assert.ok(r.d_loss >= -Math.log(r["D(x)"]) - Math.log(1 - r["D(G(z))"]) - 1e-4);
    assert.ok(r.g_loss >= -Math.log(r["D(G(z)) after D step"]) - 1e-4);
  }
  // 8×8 grids of 28×28 with 2-pixel padding: 8·30 + 2 = 242 square.
  for (const f of ["grids/epoch_001.png", "grids/epoch_002.png", "samples.png"]) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.deepEqual([img.width, img.height], [242, 242], f);
  }
  const rvf = decodePng(await Deno.readFile(join(runA, "real_vs_fake.png")));
  assert.deepEqual([rvf.width, rvf.height], [242 + 8 + 242, 242]);
  // Interpolation: 3 rows × 10 steps of 28×28.
  const walk = decodePng(await Deno.readFile(join(runA, "interpolation.png")));
  assert.deepEqual([walk.width, walk.height], [10 * 30 + 2, 3 * 30 + 2]);
  const series = decodePng(await Deno.readFile(join(runA, "epoch_series.png")));
  assert.equal(series.width, 242 * 2 + 4);
  // The progress animation has one frame per epoch.
  const apng = pngChunks(await Deno.readFile(join(runA, "progress.png")));
  assert.equal(apng.frames, 2);
  assert.equal(apng.types.filter((t) => t === "fcTL").length, 2);
  assert.equal(apng.types.at(-1), "IEND");
  for (const f of ["losses.svg", "d_outputs.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
    assert.equal(svg.match(/<svg/g)!.length, svg.match(/<\/svg>/g)!.length);
  }
  for await (const e of Deno.readDir(runA)) assert.ok(!e.name.includes(".tmp-"), e.name);
});

Deno.test("an interrupted quick run resumed from its checkpoint continues identically", async () => {
  // Stop after 3 steps, resume to step 6: weights, Adam moments and the noise stream must all be
  // restored for steps 4–6 to log exactly what the uninterrupted run A logged.
  const dir = join(tmp, "resumed");
  const args = ["--quick", "--backend", "wasm", "--out", dir];
  await main([...args, "--max-steps", "3"]);
  await main([...args, "--resume", "--max-steps", "6"]);
  const a = (await readJsonl(join(runA, "losses.jsonl"))).slice(0, 6);
  assert.deepEqual(await readJsonl(join(dir, "losses.jsonl")), a);
});

Deno.test("sampleForEval rebuilds G from the checkpoint: deterministic samples in [-1, 1]", async () => {
  await selectBackend("wasm");
  const a = await sampleForEval(runA, 70); // more than one batch of 64
  const b = await sampleForEval(runA, 70);
  assert.deepEqual(a.images.shape, [70, 28, 28, 1]);
  const va = a.images.dataSync(), vb = b.images.dataSync();
  assert.deepEqual(va, vb);
  assert.ok(va.every((v) => v >= -1 && v <= 1));
  a.images.dispose();
  b.images.dispose();
});

Deno.test("output shapes and parameter counts equal PyTorch's for both architectures", async () => {
  await selectBackend("cpu");
  for (const nc of [3, 1]) {
    const cfg: DcganConfig = { ...DCGAN64_CONFIG, channels: nc };
    const { G, D } = buildModels(cfg, 0);
    // The tutorial's nn.Sequential, layer by layer (nz 100, ngf = ndf = 64, no biases).
    const g = 64, d = 64;
    assert.equal(
      G.parameterCount(),
      conv(100, 8 * g, 4) + bn(8 * g) + conv(8 * g, 4 * g, 4) + bn(4 * g) +
        conv(4 * g, 2 * g, 4) + bn(2 * g) + conv(2 * g, g, 4) + bn(g) + conv(g, nc, 4),
    );
    assert.equal(
      D.parameterCount(),
      conv(nc, d, 4) + conv(d, 2 * d, 4) + bn(2 * d) + conv(2 * d, 4 * d, 4) + bn(4 * d) +
        conv(4 * d, 8 * d, 4) + bn(8 * d) + conv(8 * d, 1, 4),
    );
    if (nc === 3) {
      // The counts the tutorial's models have (3,576,704 and 2,765,568 with nc = 3).
      assert.equal(G.parameterCount(), 3576704);
      assert.equal(D.parameterCount(), 2765568);
    }
    const x = tf.tidy(() => G.apply(tf.randomNormal([2, 100]), { training: true }));
    assert.deepEqual(x.shape, [2, 64, 64, nc]);
    const p = tf.tidy(() => D.apply(x, { training: true }));
    assert.deepEqual(p.shape, [2, 1]);
    tf.dispose([x, p]);
    G.dispose();
    D.dispose();
  }
  const { G, D } = buildModels(PAPER_CONFIG, 0);
  const x = tf.tidy(() => G.apply(tf.randomNormal([3, 100]), { training: true }));
  assert.deepEqual(x.shape, [3, 28, 28, 1]);
  const p = tf.tidy(() => D.apply(x, { training: true }));
  assert.deepEqual(p.shape, [3, 1]);
  assert.ok(Array.from(p.dataSync()).every((v) => v > 0 && v < 1));
  tf.dispose([x, p]);
  G.dispose();
  D.dispose();
});

Deno.test("weights_init: conv/linear weights N(0, 0.02), BN gamma N(1, 0.02), beta and biases 0", async () => {
  await selectBackend("cpu");
  for (const cfg of [DCGAN64_CONFIG, PAPER_CONFIG]) {
    const { G, D } = buildModels(cfg, 0);
    for (const { name, variable } of [...G.namedVariables(), ...D.namedVariables()]) {
      const v = Array.from(variable.dataSync() as Float32Array);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      const leaf = name.split("/").at(-1)!;
      if (leaf === "weight") {
        // Standard error of a sample std is σ/√(2n): at n ≥ 1,024 a 10% band is > 4.5 errors.
        assert.ok(v.length >= 1024, name);
        assert.ok(Math.abs(std - 0.02) < 0.002, `${name} std ${std}`);
        assert.ok(Math.abs(mean) < 0.002, `${name} mean ${mean}`);
      } else if (leaf === "gamma") {
        assert.ok(Math.abs(mean - 1) < 0.01 && Math.abs(std - 0.02) < 0.006, `${name}`);
      } else if (leaf === "beta" || leaf === "bias" || leaf === "running_mean") {
        assert.ok(v.every((x) => x === 0), name);
      } else {
        assert.equal(leaf, "running_var");
        assert.ok(v.every((x) => x === 1), name);
      }
    }
    G.dispose();
    D.dispose();
  }
});

/** Mean of a [B, 1] probability tensor, and the mean of log p and log(1 − p). */
function probStats(p: tf.Tensor): { mean: number; log: number; log1m: number } {
  const v = Array.from(p.dataSync());
  const avg = (f: (x: number) => number) => v.reduce((a, x) => a + f(x), 0) / v.length;
  return { mean: avg((x) => x), log: avg(Math.log), log1m: avg((x) => Math.log(1 - x)) };
}

Deno.test("trainStep follows the tutorial: D on real+detached fake, then G through the updated D", async () => {
  await selectBackend("cpu");
  const cfg: DcganConfig = { ...PAPER_CONFIG, ngf: 8, ndf: 8 };
  const trained = buildModels(cfg, 3);
  const initial = buildModels(cfg, 3); // same seed: a copy of the untrained networks
  const rng = new Rng(7);
  const real = rng.rand([4, 28, 28, 1], -1, 1) as tf.Tensor4D;
  const z = rng.randn([4, 100]) as tf.Tensor2D;
  const train = { training: true, updateStats: false };
  // What the tutorial's step computes, from the networks before the step.
  const fake0 = initial.G.apply(z, train);
  const dReal = probStats(initial.D.apply(real, train));
  const dFake = probStats(initial.D.apply(fake0, train));
  const gBefore = new Map(trained.G.namedVariables().map((v) => [v.name, v.variable.dataSync()]));

  // Nothing leaks but the optimizers' moment buffers (2 per trainable variable).
  const nVars = trained.G.trainableVariables().length + trained.D.trainableVariables().length;
  const before = tf.memory().numTensors;
  const s = await trainStep(trained, real, z);
  assert.equal(tf.memory().numTensors, before + 2 * nVars);
  assert.ok(Math.abs(s.dx - dReal.mean) < 1e-5);
  assert.ok(Math.abs(s.dgz1 - dFake.mean) < 1e-5);
  assert.ok(Math.abs(s.dLoss - (-dReal.log - dFake.log1m)) < 1e-4); // errD_real + errD_fake
  // The G step feeds the *old* G's batch to the *new* D.
  const dFake2 = probStats(trained.D.apply(fake0, train));
  assert.ok(Math.abs(s.dgz2 - dFake2.mean) < 1e-5);
  assert.ok(Math.abs(s.gLoss - -dFake2.log) < 1e-4);
  assert.ok(Math.abs(s.dgz2 - s.dgz1) > 1e-4, "D must have changed before the G step");
  // Adam's first step moves every parameter by lr·g/(|g| + eps) ≈ ±lr.
  for (const { name, variable } of trained.G.namedVariables()) {
    const now = variable.dataSync(), was = gBefore.get(name)!;
    if (name.endsWith("running_var")) continue;
    if (name.endsWith("running_mean")) continue;
    const moved = now.map((v, i) => Math.abs(v - was[i]));
    assert.ok(Math.max(...moved) < cfg.lr * 1.001 && Math.max(...moved) > cfg.lr * 0.5, name);
  }
  // G's running statistics move once per step (momentum 0.1 from 0), from the batch of fc(z).
  const fcMean = tf.mean(tf.matMul(z, (initial.G as Generator28).fc.weight), 0).dataSync();
  const rm = (trained.G as Generator28).bn0.runningMean.dataSync();
  for (let i = 0; i < 50; i++) assert.ok(Math.abs(rm[i] - 0.1 * fcMean[i]) < 1e-6);
  const mid = tf.memory().numTensors;
  await trainStep(trained, real, z);
  assert.equal(tf.memory().numTensors, mid);
});

Deno.test("dcgan64 forward and backward run on a batch of 2 (cpu)", async () => {
  await selectBackend("cpu");
  // Same layers, strides and sizes as the tutorial, at 1/8 width: the full-width forward is tested
  // above, and tfjs's cpu conv gradients take minutes at full width.
  const cfg: DcganConfig = { ...DCGAN64_CONFIG, ngf: 8, ndf: 8 };
  const m = buildModels(cfg, 0);
  assert.ok(m.G instanceof Generator64 && m.D instanceof Discriminator64);
  const rng = new Rng(1);
  const real = rng.rand([2, 64, 64, 3], -1, 1) as tf.Tensor4D;
  const z = rng.randn([2, 100]) as tf.Tensor2D;
  const w = m.D.trainableVariables()[0].dataSync().slice();
  const s = await trainStep(m, real, z);
  for (const v of Object.values(s)) assert.ok(Number.isFinite(v));
  assert.notDeepEqual(m.D.trainableVariables()[0].dataSync(), w);
  tf.dispose([real, z]);
});

Deno.test("slerp and lerp: endpoints, the quarter circle, constant norm", () => {
  const a = new Float32Array([1, 0]), b = new Float32Array([0, 1]);
  const mid = slerp(a, b, 0.5);
  assert.ok(Math.abs(mid[0] - Math.SQRT1_2) < 1e-6 && Math.abs(mid[1] - Math.SQRT1_2) < 1e-6);
  const third = slerp(a, b, 1 / 3); // 30° along the arc
  assert.ok(Math.abs(third[0] - Math.cos(Math.PI / 6)) < 1e-6);
  assert.ok(Math.abs(third[1] - 0.5) < 1e-6);
  assert.deepEqual(Array.from(lerp(a, b, 0.5)), [0.5, 0.5]);
  // Equal-norm endpoints keep their norm all along the arc; the straight line dips.
  const rng = new Rng(5);
  const u = rng.normalArray(100), raw = rng.normalArray(100);
  const norm = (x: Float32Array) => Math.hypot(...x);
  const v = raw.map((x) => x * norm(u) / norm(raw));
  for (const t of [0, 0.25, 0.5, 0.9, 1]) {
    assert.ok(Math.abs(norm(slerp(u, v, t)) - norm(u)) < 1e-3 * norm(u), `t=${t}`);
  }
  assert.ok(norm(lerp(u, v, 0.5)) < 0.9 * norm(u));
  assert.deepEqual(
    Array.from(slerp(u, v, 0)).map((x) => +x.toFixed(5)),
    [...u].map((x) => +x.toFixed(5)),
  );
  // Parallel vectors: the 0/0 case falls back to the straight line.
  assert.deepEqual(Array.from(slerp(a, new Float32Array([2, 0]), 0.5)), [1.5, 0]);
});

Deno.test("interpolationCodes: rows·steps codes from each row's z pair, both ends included", () => {
  const codes = interpolationCodes(new Rng(9, "interp"), 3, 5, 4, "linear");
  assert.deepEqual(codes.shape, [15, 4]);
  const c = codes.arraySync();
  const rng = new Rng(9, "interp");
  for (let r = 0; r < 3; r++) {
    const z0 = rng.normalArray(4), z1 = rng.normalArray(4);
    for (let k = 0; k < 4; k++) {
      assert.ok(Math.abs(c[r * 5][k] - z0[k]) < 1e-6);
      assert.ok(Math.abs(c[r * 5 + 4][k] - z1[k]) < 1e-6);
      assert.ok(Math.abs(c[r * 5 + 2][k] - (z0[k] + z1[k]) / 2) < 1e-6);
    }
  }
  codes.dispose();
});

Deno.test("--arch picks the architecture's config; channels follow the dataset", () => {
  const args = (quick: boolean, extra: Record<string, string>, dataset?: string) =>
    ({ quick, dataset, extra, seed: 0 }) as unknown as ParsedArgs;
  const pick = (quick: boolean, arch: string, dataset?: string) =>
    SPEC.configure(quick ? QUICK_CONFIG : PAPER_CONFIG, args(quick, { arch }, dataset));
  assert.deepEqual(pick(false, "dcgan64"), DCGAN64_CONFIG);
  assert.deepEqual(pick(true, "dcgan64"), QUICK64_CONFIG);
  assert.deepEqual(pick(false, "dcgan28"), PAPER_CONFIG);
  assert.equal(pick(false, "dcgan64", "mnist").channels, 1);
  assert.equal(pick(false, "dcgan28", "cifar10").channels, 3);
  assert.equal(DCGAN64_CONFIG.channels, 3);
  assert.equal(DCGAN64_CONFIG.dataset, "celeba");
});

Deno.test("dcgan64 without CelebA fails with a one-line hint", async () => {
  await assert.rejects(
    () =>
      main([
        "--arch",
        "dcgan64",
        "--backend",
        "cpu",
        "--data-dir",
        join(tmp, "no-celeba"),
        "--out",
        join(tmp, "x"),
      ]),
    /CelebA not found: .*img_align_celeba/,
  );
});

Deno.test("dcgan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("dcgan", runA);
});
