/**
 * ProGAN: the growth schedule against hand-computed values, the fade-in blends against their
 * definitions (α = 0 must reproduce the previous resolution exactly, via tfjs's own nearest resize
 * and average pool), the WGAN-GP gradient through the growing critic against finite differences,
 * and the `--quick` run end to end (stage grids at every resolution, figures, resume).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  featureMaps,
  growthAt,
  main,
  numPhases,
  numStages,
  PAPER_CONFIG,
  ProDiscriminator,
  type ProGanConfig,
  ProGenerator,
  QUICK_CONFIG,
  realsAt,
  sampleForEval,
  stepsPerPhase,
} from "../papers/progan.ts";
import { gradientPenalty } from "../lib/losses.ts";
import { decodePng } from "../lib/image.ts";
import {
  assertClose,
  assertMatchesQuickReference,
  maxAbsDiff,
  withoutSyncReads,
} from "./fixtures.ts";

// Unit tests on the cpu backend (the quick runs below switch to wasm).
await tf.setBackend("cpu");

/** A tiny network config for the unit tests. */
const TINY: ProGanConfig = {
  ...QUICK_CONFIG,
  resolution: 16,
  fmapBase: 32,
  fmapMax: 4,
  latentDim: 5,
};

Deno.test("growth schedule: 4×4 stabilize, then fade-in / stabilize per resolution", () => {
  assert.equal(numStages(32), 4);
  assert.equal(numPhases(32), 7);
  assert.equal(numStages(1024), 9);
  assert.equal(stepsPerPhase({ imagesPerPhase: 800_000, batchSize: 16 }), 50_000);
  // 4 steps per phase at R = 32: [step, phase, resolution, α, fading].
  const expected: [number, number, number, number, boolean][] = [
    [0, 0, 4, 1, false],
    [3, 0, 4, 1, false],
    [4, 1, 8, 0, true],
    [5, 1, 8, 0.25, true],
    [7, 1, 8, 0.75, true],
    [8, 2, 8, 1, false],
    [12, 3, 16, 0, true],
    [14, 3, 16, 0.5, true],
    [16, 4, 16, 1, false],
    [20, 5, 32, 0, true],
    [23, 5, 32, 0.75, true],
    [24, 6, 32, 1, false],
    [27, 6, 32, 1, false],
    [99, 6, 32, 1, false], // past the end: stays at the final resolution
  ];
  for (const [step, phase, res, alpha, fading] of expected) {
    const g = growthAt(step, 4, 32);
    assert.equal(g.phase, phase, `phase at ${step}`);
    assert.equal(g.resolution, res, `resolution at ${step}`);
    assert.equal(g.stage, Math.log2(res) - 2, `stage at ${step}`);
    assert.equal(g.alpha, alpha, `alpha at ${step}`);
    assert.equal(g.fading, fading, `fading at ${step}`);
  }
});

Deno.test("feature maps follow Table 2 with the paper's base: 512 up to 32², then halving", () => {
  const paper = { fmapBase: 16384, fmapMax: 512 };
  const table2: [number, number][] = [
    [4, 512],
    [8, 512],
    [16, 512],
    [32, 512],
    [64, 256],
    [
      128,
      128,
    ],
    [256, 64],
    [512, 32],
    [1024, 16],
  ];
  for (const [r, c] of table2) assert.equal(featureMaps(paper, r), c, `${r}²`);
  // The offline default: 64 maps up to 16², 32 at 32².
  assert.deepEqual([4, 8, 16, 32].map((r) => featureMaps(PAPER_CONFIG, r)), [64, 64, 64, 32]);
});

Deno.test("G fade-in: α = 0 is the previous resolution upsampled, α = 1 the new block", () => {
  const G = new ProGenerator(new Rng(1, "g"), TINY, 1);
  const z = new Rng(2, "z").randn([3, TINY.latentDim]);
  for (let s = 0; s < numStages(TINY.resolution); s++) {
    assert.deepEqual(G.apply(z, s).shape, [3, 4 << s, 4 << s, 1]);
  }
  for (const s of [1, 2]) {
    const prev = G.apply(z, s - 1, 1) as tf.Tensor4D;
    const up = tf.image.resizeNearestNeighbor(prev, [4 << s, 4 << s]);
    assert.ok(maxAbsDiff(G.apply(z, s, 0), up) < 1e-6, `α = 0 at stage ${s}`);
    // α = 0.25 is the linear blend of the two ends.
    const full = G.apply(z, s, 1);
    const blend = tf.add(tf.mul(up, 0.75), tf.mul(full, 0.25));
    assert.ok(maxAbsDiff(G.apply(z, s, 0.25), blend) < 1e-5, `α = 0.25 at stage ${s}`);
    assert.ok(maxAbsDiff(full, up) > 1e-3, "the new block contributes at α = 1");
  }
});

Deno.test("D fade-in: α = 0 equals the previous-stage critic on 2×2-pooled images", () => {
  const D = new ProDiscriminator(new Rng(3, "d"), TINY, 1, 4);
  const x = new Rng(4, "x").randn([4, 16, 16, 1]) as tf.Tensor4D;
  const pooled = tf.avgPool(x, 2, 2, "valid");
  assert.ok(maxAbsDiff(D.apply(x, 2, 0), D.apply(pooled, 1, 1)) < 1e-5);
  assert.ok(maxAbsDiff(D.apply(x, 2, 1), D.apply(pooled, 1, 1)) > 1e-4);
  assert.deepEqual(D.apply(tf.avgPool(pooled, 2, 2, "valid"), 0).shape, [4, 1]);
});

Deno.test("reals are pooled to the current resolution and blended with the same α", () => {
  const x = new Rng(5, "r").randn([2, 16, 16, 1]) as tf.Tensor4D;
  const at8 = tf.avgPool(x, 2, 2, "valid");
  const at4up = tf.image.resizeNearestNeighbor(tf.avgPool(at8, 2, 2, "valid"), [8, 8]);
  const stable = { phase: 2, stage: 1, resolution: 8, alpha: 1, fading: false };
  assert.ok(maxAbsDiff(realsAt(x, stable), at8) < 1e-6);
  const fade = { phase: 1, stage: 1, resolution: 8, alpha: 0.3, fading: true };
  const expected = tf.add(tf.mul(at4up, 0.7), tf.mul(at8, 0.3));
  assert.ok(maxAbsDiff(realsAt(x, fade), expected) < 1e-6);
});

Deno.test("WGAN-GP gradient through the fading critic matches finite differences (cpu)", () => {
  const cfg: ProGanConfig = { ...TINY, resolution: 8, fmapBase: 8, fmapMax: 2 };
  const D = new ProDiscriminator(new Rng(6, "d"), cfg, 1, 2);
  const rng = new Rng(7, "gp");
  const real = rng.randn([2, 8, 8, 1]),
    fake = rng.randn([2, 8, 8, 1]),
    eps = rng.rand([2, 1, 1, 1]);
  const critic = (x: tf.Tensor) => D.apply(x, 1, 0.4);
  const penalty = () => gradientPenalty(critic, real, fake, eps);
  const vars = D.trainableVariables();
  const { grads } = tf.variableGrads(penalty, vars);
  let scale = 0;
  for (const v of vars) {
    for (const g of grads[v.name]?.dataSync() ?? []) scale = Math.max(scale, Math.abs(g));
  }
  assert.ok(scale > 1e-4);
  // A few scalars of every variable. ∇ₓD jumps where a LeakyReLU input crosses 0, so the penalty
  // itself jumps there: a difference quotient across such a kink is meaningless. Two step sizes
  // that disagree reveal one; those scalars are skipped (and must be few).
  const tol = 5e-3 * scale;
  let checked = 0, skipped = 0;
  for (const v of vars) {
    const analytic = grads[v.name]?.dataSync() ?? new Float32Array(v.size);
    const base = v.dataSync().slice();
    for (let i = 0; i < base.length; i += Math.max(1, Math.floor(base.length / 3))) {
      const at = (d: number) => {
        const s = base.slice();
        s[i] += d;
        v.assign(tf.tensor(s, v.shape));
        return tf.tidy(() => penalty().dataSync()[0]);
      };
      const d2 = (at(2e-3) - at(-2e-3)) / 4e-3, d1 = (at(1e-3) - at(-1e-3)) / 2e-3;
      v.assign(tf.tensor(base, v.shape));
      if (Math.abs(d2 - d1) > tol) {
        skipped++;
        continue;
      }
      assertClose(analytic[i], d1, tol, `var ${v.name}[${i}]`);
      checked++;
    }
  }
  assert.ok(skipped <= checked / 4, `${skipped} kinks, ${checked} checked`);
  assert.ok(checked > 20);
});

// ---- the --quick run ---------------------------------------------------------------------------

const tmp = await Deno.makeTempDir({ prefix: "progan_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b");

Deno.test("progan --quick: stage grids at every resolution, α schedule, figures", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", "wasm", "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.status, "complete");
  const spp = stepsPerPhase(QUICK_CONFIG);
  assert.equal(m.steps, spp * 7);
  assert.equal(m.images, spp * 7 * QUICK_CONFIG.batchSize);
  // A grid of 64 images, 8 per row, 2 px padding: 8·(r + 2) + 2 pixels square.
  for (const r of [4, 8, 16, 32]) {
    const img = decodePng(
      await Deno.readFile(join(runA, "stages", `res_${String(r).padStart(4, "0")}.png`)),
    );
    assert.equal(img.width, 8 * (r + 2) + 2, `stage ${r}`);
    assert.equal(img.height, 8 * (r + 2) + 2, `stage ${r}`);
  }
  for (const f of ["samples.png", "samples_no-ema.png", "real.png", "grids/epoch_007.png"]) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, 274, f);
  }
  for (let e = 1; e <= 7; e++) {
    await Deno.stat(join(runA, "grids", `epoch_${String(e).padStart(3, "0")}.png`));
  }
  const series = decodePng(await Deno.readFile(join(runA, "epoch_series.png")));
  assert.equal(series.width, 4 * 274 + 3 * 4, "one frame per stage end");
  for (const f of ["alpha_schedule.svg", "losses.svg", "w_estimate.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
    assert.ok((await Deno.stat(join(runA, f.replace(".svg", ".png")))).size > 0);
  }
  // Logged α and resolution follow the schedule; every value is finite.
  const losses = (await Deno.readTextFile(join(runA, "losses.jsonl"))).trim().split("\n").map((
    l,
  ) => JSON.parse(l));
  assert.equal(losses.length, spp * 7);
  for (const r of losses) {
    const g = growthAt(r.step - 1, spp, 32);
    assert.equal(r.alpha, g.alpha);
    assert.equal(r.resolution, g.resolution);
    for (const k of ["d_loss", "g_loss", "gp", "w_estimate"]) assert.ok(Number.isFinite(r[k]), k);
  }
});

Deno.test("progan: interrupted mid-fade and resumed ends identical; sampleForEval", async () => {
  const spp = stepsPerPhase(QUICK_CONFIG);
  // Stop two steps into the 8×8 fade-in (after an optimizer reset), then resume.
  await main(["--quick", "--backend", "wasm", "--out", runB, "--max-steps", String(spp + 2)]);
  await main(["--quick", "--backend", "wasm", "--out", runB, "--resume"]);
  for (const f of ["losses.jsonl", "samples.png", "stages/res_0032.png", "progress.png"]) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
  const { images } = await sampleForEval(runA, 5);
  assert.deepEqual(images.shape, [5, 32, 32, 1]);
  const again = (await sampleForEval(runA, 5)).images;
  assert.deepEqual(Array.from(again.dataSync()), Array.from(images.dataSync()));
  assert.ok(images.dataSync().every(Number.isFinite));
});

Deno.test("progan rejects --epochs with a clear message", async () => {
  await assert.rejects(
    () => main(["--quick", "--epochs", "3", "--out", join(tmp, "x")]),
    /phases, not epochs/,
  );
});

Deno.test("progan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("progan", runA);
});
