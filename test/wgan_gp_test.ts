/**
 * WGAN-GP: the penalty's gradient w.r.t. the critic's weights (double backpropagation through the
 * DcganCritic's conv, LayerNorm and LeakyReLU layers) against central finite differences on the cpu
 * backend; then `wgan_gp --quick` end to end on wasm: outputs, determinism and resume.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { gradientPenalty } from "../lib/losses.ts";
import { decodePng } from "../lib/image.ts";
import { DcganCritic, LayerNorm } from "../papers/wgan.ts";
import { leakyRelu } from "../lib/nn.ts";
import { main, sampleForEval } from "../papers/wgan_gp.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const BACKEND = "wasm";

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

/** Signs of every pre-activation of the critic at x: the penalty is smooth while these hold. */
function activationPattern(D: DcganCritic, x: tf.Tensor): Uint8Array {
  return tf.tidy(() => {
    const signs: number[] = [];
    let h = x;
    for (let i = 0; i < 3; i++) {
      h = D.convs[i].apply(h);
      const n = D.norms[i];
      if (n instanceof LayerNorm) h = n.apply(h);
      for (const v of h.dataSync()) signs.push(v > 0 ? 1 : 0);
      h = leakyRelu(h, 0.2);
    }
    return Uint8Array.from(signs);
  });
}

/**
 * Compares tfjs's d(penalty)/dθ with central differences at `perVar` random coordinates of every
 * variable. LeakyReLU makes ∇ₓD piecewise: a coordinate whose ±h step flips any pre-activation sign
 * at x̂ is skipped (the penalty jumps there), and most coordinates must remain.
 */
function checkPenaltyGradient(D: DcganCritic, real: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor) {
  const vars = D.trainableVariables();
  const penalty = () => gradientPenalty((x) => D.apply(x, { training: true }), real, fake, eps);
  const { value, grads } = tf.variableGrads(penalty, vars);
  assert.ok(value.dataSync()[0] > 0.01, "a non-trivial penalty");
  // tfjs leaves out variables the penalty does not depend on (the last bias): gradient 0.
  const analyticOf = (v: tf.Variable) => grads[v.name]?.dataSync() ?? new Float32Array(v.size);
  let scale = 0;
  for (const v of vars) for (const g of analyticOf(v)) scale = Math.max(scale, Math.abs(g));
  const xHat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
  const base = activationPattern(D, xHat);
  const pick = new Rng(11, "fd-coordinates");
  const h = 1e-3;
  let checked = 0, skipped = 0;
  for (const v of vars) {
    const analytic = analyticOf(v);
    const orig = v.dataSync().slice();
    for (let t = 0; t < 6; t++) {
      const i = pick.int(orig.length);
      const at = (delta: number) => {
        const shifted = orig.slice();
        shifted[i] += delta;
        v.assign(tf.tensor(shifted, v.shape));
        const same = activationPattern(D, xHat).every((s, k) => s === base[k]);
        const f = tf.tidy(() => penalty().dataSync()[0]);
        return { f, same };
      };
      const plus = at(h), minus = at(-h);
      v.assign(tf.tensor(orig, v.shape));
      if (!plus.same || !minus.same) {
        skipped++;
        continue;
      }
      const numeric = (plus.f - minus.f) / (2 * h);
      const tol = 2e-3 * scale + 1e-2 * Math.abs(analytic[i]);
      assert.ok(
        Math.abs(analytic[i] - numeric) <= tol,
        `${v.name}[${i}]: double backprop ${analytic[i]}, finite differences ${numeric}`,
      );
      checked++;
    }
  }
  assert.ok(
    checked >= 0.6 * (checked + skipped),
    `only ${checked} of ${checked + skipped} checked`,
  );
}

/** A tiny critic of the script's own class, with weights large enough for a non-flat ∇ₓD. */
function tinyCritic(norm: "none" | "layer"): DcganCritic {
  const D = new DcganCritic(new Rng(5, `tiny-${norm}`), 1, 2, norm);
  const rng = new Rng(6, `tiny-weights-${norm}`);
  for (const { name, variable } of D.namedVariables()) {
    const shape = variable.shape;
    if (name.endsWith("weight")) {
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      variable.assign(rng.randn(shape, 0, 1.5 / Math.sqrt(fanIn)));
    } else if (name.endsWith("gamma")) {
      variable.assign(rng.randn(shape, 1, 0.2));
    } else {
      variable.assign(rng.randn(shape, 0, 0.2));
    }
  }
  return D;
}

Deno.test("penalty gradient through the critic matches finite differences (no norm, LayerNorm)", async () => {
  const prev = tf.getBackend();
  await tf.setBackend("cpu");
  try {
    for (const norm of ["none", "layer"] as const) {
      const D = tinyCritic(norm);
      const rng = new Rng(7, `fd-data-${norm}`);
      const real = rng.randn([2, 32, 32, 1]), fake = rng.randn([2, 32, 32, 1]);
      const eps = rng.rand([2, 1, 1, 1]);
      checkPenaltyGradient(D, real, fake, eps);
    }
  } finally {
    if (prev) await tf.setBackend(prev);
  }
});

Deno.test("the critic has no batch statistics: each sample's score ignores the others", async () => {
  const prev = tf.getBackend();
  await tf.setBackend("cpu");
  try {
    for (const norm of ["none", "layer"] as const) {
      const D = tinyCritic(norm);
      const x = new Rng(8).randn([3, 32, 32, 1]);
      const batch = D.apply(x, { training: true }).dataSync();
      for (let i = 0; i < 3; i++) {
        const one = D.apply(tf.slice(x, [i, 0, 0, 0], [1, 32, 32, 1]), { training: true });
        assert.ok(Math.abs(one.dataSync()[0] - batch[i]) < 1e-5, `${norm} sample ${i}`);
      }
    }
  } finally {
    if (prev) await tf.setBackend(prev);
  }
});

const tmp = await Deno.makeTempDir({ prefix: "wgan_gp_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b");

Deno.test("wgan_gp --quick writes every figure; values finite; W estimate = D(x) − D(G(z))", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.paper, "wgan_gp");
  assert.equal(m.status, "complete");
  assert.equal(m.config.lambda, 10);
  assert.equal(m.config.beta1, 0);
  assert.equal(m.config.beta2, 0.9);
  assert.equal(m.config.criticNorm, "none");
  // 320 images / 16 = 20 batches; 5 per generator iteration → 4 steps per epoch, 2 epochs.
  assert.equal(m.steps, 8);
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.equal(losses.length, 8);
  for (const r of losses) {
    for (
      const k of ["critic_loss", "W_estimate", "gradient_penalty", "g_loss", "D(x)", "D(G(z))"]
    ) {
      assert.ok(Number.isFinite(r[k]), k);
    }
    assert.ok(Math.abs(r.W_estimate - (r["D(x)"] - r["D(G(z))"])) < 1e-9);
    // critic loss = −W estimate + λ·penalty (float32 sums).
    assert.ok(Math.abs(r.critic_loss - (-r.W_estimate + 10 * r.gradient_penalty)) < 1e-4);
    assert.ok(r.gradient_penalty >= 0);
  }
  // 8×8 grids of 32×32 with padding 2: 8·34 + 2 = 274 pixels square.
  for (const f of ["real.png", "samples.png", "grids/epoch_001.png", "grids/epoch_002.png"]) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, 274, f);
    assert.equal(img.height, 274, f);
  }
  for (const f of ["wasserstein.svg", "losses.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  const { images } = await sampleForEval(runA, 5);
  assert.deepEqual(images.shape, [5, 32, 32, 1]);
  for (const v of images.dataSync()) assert.ok(v >= -1 && v <= 1);
});

Deno.test("wgan_gp: an interrupted run resumed (ε stream included) ends identical", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--max-steps", "3"]);
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--resume"]);
  for (const f of ["losses.jsonl", "grids/epoch_001.png", "grids/epoch_002.png", "samples.png"]) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
});

Deno.test("wgan_gp --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("wgan_gp", runA);
});
