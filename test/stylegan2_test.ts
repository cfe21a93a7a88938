/**
 * StyleGAN2: modulation/demodulation against the paper's claim (unit output std for unit-variance
 * inputs, §2.2) and against the explicit per-sample-weight formulation; the mapping network's
 * z normalization and learning-rate multiplier; truncation and the w̄ update against hand values;
 * per-channel noise strengths; the path-length and R1 double backprop against finite differences;
 * and the `--quick` run end to end (the figure set, checkpointed buffers, resume).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { Adam } from "../lib/optim.ts";
import { r1Penalty } from "../lib/losses.ts";
import { decodePng } from "../lib/image.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import {
  blur121,
  drawNoise,
  firDownsample2x,
  firUpsample2x,
  main,
  MappingNetwork,
  modulatedConv,
  numWs,
  QUICK_CONFIG,
  ResidualDiscriminator,
  sampleForEval,
  StyledConv,
  type StyleGan2Config,
  StyleGenerator,
  styleRanges,
  truncate,
} from "../papers/stylegan2.ts";
import {
  assertClose,
  assertMatchesQuickReference,
  maxAbsDiff,
  withoutSyncReads,
} from "./fixtures.ts";

// Unit tests on the cpu backend (the quick runs below switch to wasm).
await tf.setBackend("cpu");

const TINY: StyleGan2Config = {
  ...QUICK_CONFIG,
  resolution: 8,
  fmapBase: 16,
  fmapMax: 2,
  latentDim: 3,
  wDim: 3,
  mappingLayers: 2,
};

Deno.test("demodulated outputs have unit std per output channel for unit-variance inputs", () => {
  const rng = new Rng(1, "demod");
  const B = 2, H = 34, cin = 16, cout = 8;
  const x = rng.randn([B, H, H, cin]);
  // Uneven weights and styles, so that only the demodulation can make the scale come out at 1.
  const weight = tf.mul(rng.randn([3, 3, cin, cout]), rng.rand([1, 1, cin, cout], 0.1, 2));
  const styles = rng.rand([B, cin], 0.1, 3);
  const interior = (y: tf.Tensor) => tf.slice(y, [0, 1, 1, 0], [B, H - 2, H - 2, cout]);
  const stdPerChannel = (y: tf.Tensor) => {
    const { variance } = tf.moments(interior(y), [1, 2]); // [B, cout]
    return Array.from(tf.sqrt(variance).dataSync());
  };
  const demod = stdPerChannel(modulatedConv(x, weight, styles, { demodulate: true }));
  // Over 32² = 1024 pixels the sample std has a standard error of about 1/√2048 ≈ 0.022.
  demod.forEach((s, i) => assertClose(s, 1, 0.1, `std[b${i >> 3}, c${i & 7}]`));
  // Without demodulation the std is √(Σ_{i,k} (s_i·w_kij)²), far from 1 here.
  const raw = stdPerChannel(modulatedConv(x, weight, styles, { demodulate: false }));
  const w = weight.arraySync() as number[][][][];
  const s = styles.arraySync() as number[][];
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < cout; o++) {
      let sum = 0;
      for (let i = 0; i < cin; i++) {
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) sum += (s[b][i] * w[ky][kx][i][o]) ** 2;
        }
      }
      const expected = Math.sqrt(sum);
      assert.ok(expected > 2, "the modulated scale is far from 1");
      assertClose(raw[b * cout + o] / expected, 1, 0.1, `raw std[b${b}, c${o}]`);
    }
  }
});

/** 1-D [1,3,3,1] resampling as the reference's upfirdn2d defines it (zero outside the image). */
function upFir1d(x: number[]): number[] {
  const at = (i: number) => (i >= 0 && i < x.length ? x[i] : 0);
  return x.flatMap((_, i) => [(at(i - 1) + 3 * at(i)) / 4, (3 * at(i) + at(i + 1)) / 4]);
}
function downFir1d(x: number[]): number[] {
  const at = (i: number) => (i >= 0 && i < x.length ? x[i] : 0);
  return Array.from(
    { length: x.length / 2 },
    (_, i) => (at(2 * i - 1) + 3 * at(2 * i) + 3 * at(2 * i + 1) + at(2 * i + 2)) / 8,
  );
}
/** Applies a 1-D map along rows, then along columns, of every channel of an NHWC tensor. */
function separable(x: tf.Tensor, f: (v: number[]) => number[]): number[] {
  const [B, H, W, C] = x.shape;
  const v = x.arraySync() as number[][][][];
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const perChannel: number[][][] = [];
    for (let c = 0; c < C; c++) {
      const rows = Array.from(
        { length: H },
        (_, i) => f(Array.from({ length: W }, (_, j) => v[b][i][j][c])),
      );
      const W2 = rows[0].length;
      const cols = Array.from({ length: W2 }, (_, j) => f(rows.map((r) => r[j])));
      perChannel.push(cols); // [W2][H2]
    }
    const H2 = perChannel[0][0].length, W2 = perChannel[0].length;
    for (let i = 0; i < H2; i++) {
      for (let j = 0; j < W2; j++) for (let c = 0; c < C; c++) out.push(perChannel[c][j][i]);
    }
  }
  return out;
}

Deno.test("FIR resampling equals the reference's [1,3,3,1] upfirdn formulas, borders included", () => {
  const x = new Rng(20, "fir").randn([2, 4, 6, 3]);
  const up = firUpsample2x(x);
  assert.deepEqual(up.shape, [2, 8, 12, 3]);
  const upRef = separable(x, upFir1d);
  Array.from(up.dataSync()).forEach((v, i) => assertClose(v, upRef[i], 1e-5, `up ${i}`));
  const down = firDownsample2x(x);
  assert.deepEqual(down.shape, [2, 2, 3, 3]);
  const ref = separable(x, downFir1d);
  Array.from(down.dataSync()).forEach((v, i) => assertClose(v, ref[i], 1e-5, `down ${i}`));
  // The blur is self-adjoint, so its gradient is itself: <blur(x), y> = <x, blur(y)>.
  const y = new Rng(21, "fir").randn([2, 4, 6, 3]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(blur121(t), y)))(x);
  assert.ok(maxAbsDiff(g, blur121(y)) < 1e-6);
});

/** The paper's formulation: each sample convolved with its own modulated, demodulated weights. */
function perSampleModConv(
  x: tf.Tensor4D,
  weight: tf.Tensor4D,
  styles: tf.Tensor2D,
  demodulate: boolean,
  upsample: boolean,
): tf.Tensor {
  const [B, h, w, cin] = x.shape;
  const out: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) {
    const s = tf.reshape(tf.slice(styles, [b, 0], [1, cin]), [1, 1, cin, 1]);
    let wb = tf.mul(weight, s) as tf.Tensor4D; // w'_kij = s_i · w_kij
    if (demodulate) {
      wb = tf.div(wb, tf.sqrt(tf.add(tf.sum(tf.square(wb), [0, 1, 2], true), 1e-8)));
    }
    let xb = tf.slice(x, [b, 0, 0, 0], [1, h, w, cin]);
    if (upsample) xb = firUpsample2x(xb); // the resampling itself is tested on its own above
    out.push(tf.conv2d(xb, wb, 1, "same"));
  }
  return tf.concat(out, 0);
}

Deno.test("fused modulated conv equals convolving each sample with its own weights", () => {
  const rng = new Rng(2, "fused");
  const x = rng.randn([3, 5, 5, 4]) as tf.Tensor4D;
  const weight = rng.randn([3, 3, 4, 6]) as tf.Tensor4D;
  const styles = rng.randn([3, 4]) as tf.Tensor2D;
  for (const demodulate of [true, false]) {
    for (const upsample of [false, true]) {
      const fused = modulatedConv(x, weight, styles, { demodulate, upsample });
      const explicit = perSampleModConv(x, weight, styles, demodulate, upsample);
      const tol = 1e-5 * Math.max(1, tf.max(tf.abs(explicit)).dataSync()[0]);
      assert.ok(maxAbsDiff(fused, explicit) < tol, `demod ${demodulate}, up ${upsample}`);
    }
  }
  // 1×1 (toRGB) kernels too.
  const w1 = rng.randn([1, 1, 4, 3]) as tf.Tensor4D;
  assert.ok(
    maxAbsDiff(
      modulatedConv(x, w1, styles, { demodulate: false }),
      perSampleModConv(x, w1, styles, false, false),
    ) < 1e-4,
  );
});

Deno.test("mapping network: [B, wDim] output, invariant to the scale of z", () => {
  const m = new MappingNetwork(new Rng(3, "map"), 6, 5, 8, 0.01);
  assert.equal(m.layers.length, 8);
  const z = new Rng(4, "z").randn([7, 6]);
  const w = m.apply(z);
  assert.deepEqual(w.shape, [7, 5]);
  // z is pixel-normalized first, so z and 3z map to the same w.
  assert.ok(maxAbsDiff(m.apply(tf.mul(z, 3)), w) < 1e-5);
});

Deno.test("lr multiplier 0.01: same function, 100× smaller stored-weight gradients and steps", () => {
  // Same seed stream: stored weights N(0, 1/λ²) are exactly 1/λ times the λ = 1 ones, so the
  // effective weights — and the outputs — agree.
  const fast = new MappingNetwork(new Rng(5, "lr"), 4, 4, 2, 1);
  const slow = new MappingNetwork(new Rng(5, "lr"), 4, 4, 2, 0.01);
  const z = new Rng(6, "z").randn([5, 4]);
  const target = new Rng(7, "t").randn([5, 4]);
  const loss = (m: MappingNetwork) => () =>
    tf.mean(tf.square(tf.sub(m.apply(z), target))) as tf.Scalar;
  assert.ok(maxAbsDiff(fast.apply(z), slow.apply(z)) < 1e-5);
  const gFast = tf.variableGrads(loss(fast), fast.trainableVariables()).grads;
  const gSlow = tf.variableGrads(loss(slow), slow.trainableVariables()).grads;
  fast.trainableVariables().forEach((v, i) => {
    const a = gFast[v.name].dataSync(), b = gSlow[slow.trainableVariables()[i].name].dataSync();
    for (let k = 0; k < a.length; k++) assertClose(b[k], 0.01 * a[k], 1e-4 * Math.abs(a[k]) + 1e-9);
  });
  // One Adam step moves stored weights by ≈ lr either way, so effective weights move 100× less.
  const eff = (m: MappingNetwork) =>
    Array.from(tf.mul(m.layers[0].weight, m.layers[0].scale).dataSync());
  const before = [eff(fast), eff(slow)];
  for (const m of [fast, slow]) {
    const vars = m.trainableVariables();
    const g = tf.variableGrads(loss(m), vars).grads;
    new Adam(1e-3, 0, 0.99).step(vars, vars.map((v) => g[v.name]));
  }
  const dFast = eff(fast).map((v, k) => v - before[0][k]);
  const dSlow = eff(slow).map((v, k) => v - before[1][k]);
  const norm = (d: number[]) => Math.hypot(...d);
  assertClose(norm(dSlow) / norm(dFast), 0.01, 1e-4);
});

Deno.test("truncation: ψ = 0 gives w̄, ψ = 1 the identity, ψ = 0.5 the midpoint; w̄ update", () => {
  const ws = tf.tensor3d([[[1, 2], [3, 4]], [[-1, 0], [5, 5]]]);
  const avg = tf.tensor1d([0.5, -1]);
  assert.deepEqual(
    Array.from(truncate(ws, avg, 0).dataSync()),
    [0.5, -1, 0.5, -1, 0.5, -1, 0.5, -1],
  );
  assert.equal(truncate(ws, avg, 1), ws);
  assert.deepEqual(
    Array.from(truncate(ws, avg, 0.5).dataSync()),
    [0.75, 0.5, 1.75, 1.5, -0.25, -0.5, 2.75, 2],
  );
  const G = new StyleGenerator(new Rng(8, "g"), TINY, 1);
  G.wAvg.assign(tf.tensor1d([1, 0, -2]));
  G.trackWAvg(tf.tensor2d([[1, 2, 3], [3, 4, 5]]), 0.995);
  // batch mean [2, 3, 4]; w̄ ← mean + 0.995·(w̄ − mean).
  const expected = [2 + 0.995 * (1 - 2), 3 + 0.995 * (0 - 3), 4 + 0.995 * (-2 - 4)];
  Array.from(G.wAvg.dataSync()).forEach((v, i) => assertClose(v, expected[i], 1e-5));
});

Deno.test("style inputs: 2 per resolution, split coarse / middle / fine as StyleGAN Fig. 3", () => {
  assert.equal(numWs(1024), 18);
  assert.equal(numWs(32), 8);
  assert.deepEqual(styleRanges(32), { coarse: [0, 1, 2, 3], middle: [4, 5], fine: [6, 7] });
  assert.deepEqual(styleRanges(1024).coarse, [0, 1, 2, 3]);
  assert.deepEqual(styleRanges(1024).middle, [4, 5, 6, 7]);
  assert.deepEqual(styleRanges(1024).fine, [8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
});

Deno.test("noise enters with a learned per-channel strength, zero at initialization", () => {
  const rng = new Rng(9, "noise");
  const layer = new StyledConv(rng, 3, 2, 3, false);
  const x = rng.randn([2, 4, 4, 2]), w = rng.randn([2, 3]), noise = rng.randn([2, 4, 4, 1]);
  const zeros = tf.zerosLike(noise);
  assert.ok(maxAbsDiff(layer.apply(x, w, noise), layer.apply(x, w, zeros)) === 0);
  layer.noiseStrength.assign(tf.tensor1d([0.5, -2, 0]));
  // Undo LeakyReLU·√2 to see the pre-activations: their difference is noise × strength[c].
  const pre = (y: tf.Tensor) =>
    tf.tidy(() => {
      const v = tf.div(y, Math.SQRT2);
      return tf.where(tf.greaterEqual(v, 0), v, tf.div(v, 0.2));
    });
  const diff = tf.sub(pre(layer.apply(x, w, noise)), pre(layer.apply(x, w, zeros)));
  const expected = tf.mul(noise, tf.tensor1d([0.5, -2, 0]));
  assert.ok(maxAbsDiff(diff, expected) < 1e-5);
});

Deno.test("generator: image shape, one noise input per styled conv", () => {
  const G = new StyleGenerator(new Rng(10, "g"), { ...TINY, resolution: 16 }, 3);
  assert.equal(G.numWs, 6);
  const noise = drawNoise(new Rng(11, "n"), G.synthesis, 2);
  assert.deepEqual(noise.map((n) => n.shape[1]), [4, 8, 8, 16, 16]);
  const img = G.generate(new Rng(12, "z").randn([2, TINY.latentDim]), noise, 0.7);
  assert.deepEqual(img.shape, [2, 16, 16, 3]);
});

/**
 * Compares tfjs's gradient of `penalty` with central differences on a few scalars of every
 * variable. Penalties built from ∇ jump where a LeakyReLU input crosses 0, so a scalar whose
 * differences at two step sizes disagree sits next to such a kink and is skipped; few may be.
 */
function checkAgainstDifferences(penalty: () => tf.Scalar, vars: tf.Variable[], relTol = 5e-3) {
  const { grads } = tf.variableGrads(penalty, vars);
  let scale = 0;
  for (const v of vars) {
    for (const g of grads[v.name]?.dataSync() ?? []) scale = Math.max(scale, Math.abs(g));
  }
  assert.ok(scale > 1e-4, "the gradient must not vanish");
  const tol = relTol * scale;
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
  assert.ok(checked >= 20 && skipped <= checked / 4, `${skipped} kinks, ${checked} checked`);
}

Deno.test("path-length penalty: double backprop through G matches finite differences", () => {
  const G = new StyleGenerator(new Rng(13, "g"), TINY, 1);
  const rng = new Rng(14, "pl");
  // Move away from the initialization (zero biases and noise strengths are special points).
  for (const v of G.trainableVariables()) v.assign(tf.add(v, rng.randn(v.shape, 0, 0.3)));
  const z = rng.randn([2, TINY.latentDim]);
  const noise = drawNoise(rng, G.synthesis, 2);
  const y = tf.div(rng.randn([2, 8, 8, 1]), 8);
  const penalty = () =>
    tf.tidy(() => {
      const jy = tf.grad((ws: tf.Tensor) => tf.sum(tf.mul(G.synthesis.apply(ws, noise), y)))(
        G.broadcast(G.mapping.apply(z)),
      );
      const lengths = tf.sqrt(tf.mean(tf.sum(tf.square(jy), 2), 1));
      return tf.mean(tf.square(tf.sub(lengths, 0.2))) as tf.Scalar;
    });
  checkAgainstDifferences(penalty, G.trainableVariables());
});

Deno.test("R1 through the residual discriminator matches finite differences", () => {
  const D = new ResidualDiscriminator(new Rng(15, "d"), TINY, 1, 2);
  const rng = new Rng(16, "r1");
  for (const v of D.trainableVariables()) v.assign(tf.add(v, rng.randn(v.shape, 0, 0.3)));
  const real = rng.randn([2, 8, 8, 1]);
  checkAgainstDifferences(() => r1Penalty((x) => D.apply(x), real), D.trainableVariables());
});

// ---- the --quick run ---------------------------------------------------------------------------

const tmp = await Deno.makeTempDir({ prefix: "stylegan2_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b");

Deno.test("stylegan2 --quick writes the figure set; w̄ and the path-length mean are checkpointed", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", "wasm", "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.status, "complete");
  const steps = 2 * Math.floor(QUICK_CONFIG.limit! / QUICK_CONFIG.batchSize);
  assert.equal(m.steps, steps);
  // Grids of 32×32 images with 2 px padding: n columns → 34·n + 2 pixels.
  const size = (n: number) => 34 * n + 2;
  const figures: [string, number, number][] = [
    ["samples.png", 8, 8],
    ["real.png", 8, 8],
    ["truncation.png", 4, 8], // columns ψ = 1, 0.7, 0.5, 0; rows: 8 latents
    ["style_mixing_coarse.png", 6, 6], // 5 sources B + the A column; 5 sources A + the B row
    ["style_mixing_middle.png", 6, 6],
    ["style_mixing_fine.png", 6, 6],
    ["noise_variation.png", 7, 4], // 6 noise draws + the std map; 4 latents
    ["grids/epoch_001.png", 8, 8],
    ["grids/epoch_002.png", 8, 8],
  ];
  for (const [f, cols, rows] of figures) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, size(cols), f);
    assert.equal(img.height, size(rows), f);
  }
  for (const f of ["losses.svg", "d_outputs.svg", "regularizers.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  const losses = (await Deno.readTextFile(join(runA, "losses.jsonl"))).trim().split("\n").map((
    l,
  ) => JSON.parse(l));
  assert.equal(losses.length, steps);
  for (const r of losses) {
    for (const [k, v] of Object.entries(r)) assert.ok(Number.isFinite(v as number), k);
  }
  const last = losses[losses.length - 1];
  assert.ok(last.pl_mean > 0 && last.r1 > 0, "both regularizers ran");
  // The truncation centre and the path-length mean live in the checkpoint; the EMA copy of G
  // carries the same w̄ (buffers are copied, not averaged).
  const ckpt = await loadCheckpoint(join(runA, "checkpoint"));
  const wAvg = ckpt.tensors.get("G/w_avg")!.dataSync();
  assert.ok(wAvg.some((v) => v !== 0));
  assert.deepEqual(Array.from(ckpt.tensors.get("Gema/w_avg")!.dataSync()), Array.from(wAvg));
  assertClose(ckpt.tensors.get("G/pl_mean")!.dataSync()[0], last.pl_mean, 1e-6);
});

Deno.test("stylegan2: an interrupted run resumes identically; sampleForEval", async () => {
  await main(["--quick", "--backend", "wasm", "--out", runB, "--max-steps", "13"]);
  await main(["--quick", "--backend", "wasm", "--out", runB, "--resume"]);
  for (const f of ["losses.jsonl", "samples.png", "truncation.png", "noise_variation.png"]) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
  const { images } = await sampleForEval(runA, 5);
  assert.deepEqual(images.shape, [5, 32, 32, 1]);
  const again = (await sampleForEval(runA, 5)).images;
  assert.deepEqual(Array.from(again.dataSync()), Array.from(images.dataSync()));
});

Deno.test("stylegan2 --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("stylegan2", runA);
});
