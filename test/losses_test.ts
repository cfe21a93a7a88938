/**
 * Tests for lib/losses.ts. Expected values are computed here in float64 from the formulas (never by
 * calling the code under test); gradient penalties are checked against closed forms and against
 * central finite differences on the cpu backend.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  bce,
  bceWithLogits,
  criticWasserstein,
  discriminatorHinge,
  discriminatorMinimax,
  driftPenalty,
  generatorHinge,
  generatorMinimax,
  generatorNonSaturating,
  generatorWasserstein,
  gradientPenalty,
  l1,
  lsgan,
  r1Penalty,
} from "../lib/losses.ts";
import { assertClose } from "./fixtures.ts";

await tf.setBackend("cpu");

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const value = (t: tf.Tensor): number => t.dataSync()[0];

const LOGITS = [-2, 0, 3, 0.5, -0.7];
const TARGETS = [1, 0, 1, 0, 1];
/** −[t log σ(x) + (1 − t) log(1 − σ(x))] in float64. */
const bceRef = (x: number, t: number): number =>
  -(t * Math.log(sigmoid(x)) + (1 - t) * Math.log(1 - sigmoid(x)));

Deno.test("bceWithLogits matches the BCE formula for constant and tensor targets", () => {
  const x = tf.tensor1d(LOGITS);
  assertClose(value(bceWithLogits(x, 1)), mean(LOGITS.map((v) => bceRef(v, 1))), 1e-6, "t=1");
  assertClose(value(bceWithLogits(x, 0)), mean(LOGITS.map((v) => bceRef(v, 0))), 1e-6, "t=0");
  const expected = mean(LOGITS.map((v, i) => bceRef(v, TARGETS[i])));
  assertClose(value(bceWithLogits(x, tf.tensor1d(TARGETS))), expected, 1e-6, "tensor t");
  // Soft targets (label smoothing) follow the same formula.
  const soft = [0.9, 0.1, 0.5, 0.0, 1.0];
  const expSoft = mean(LOGITS.map((v, i) => bceRef(v, soft[i])));
  assertClose(value(bceWithLogits(x, tf.tensor1d(soft))), expSoft, 1e-6, "soft t");
});

Deno.test("bce on probabilities matches the formula, clamps log at -100 like nn.BCELoss", () => {
  const p = [0.1, 0.5, 0.9, 0.3, 0.75];
  const ref = mean(
    p.map((v, i) => -(TARGETS[i] * Math.log(v) + (1 - TARGETS[i]) * Math.log(1 - v))),
  );
  assertClose(value(bce(tf.tensor1d(p), tf.tensor1d(TARGETS))), ref, 1e-6);
  assertClose(value(bce(tf.tensor1d(p), 1)), mean(p.map((v) => -Math.log(v))), 1e-6, "t=1");
  // Saturated probabilities: each log is clamped at -100, so a wrong certain answer costs 100.
  assertClose(value(bce(tf.tensor1d([0, 1]), tf.tensor1d([1, 0]))), 100, 1e-4, "clamp");
  assertClose(value(bce(tf.tensor1d([0, 1]), tf.tensor1d([0, 1]))), 0, 1e-6, "certain & right");
});

Deno.test("bce gradient is PyTorch's (p - t) / max(p(1 - p), 1e-12) / N and finite at 0 and 1", () => {
  const p = [0.3, 0.8, 0, 1];
  const t = [1, 0, 0, 1];
  const g = tf.grad((x: tf.Tensor) => bce(x, tf.tensor1d(t)))(tf.tensor1d(p)).dataSync();
  p.forEach((pi, i) => {
    const expected = (pi - t[i]) / Math.max(pi * (1 - pi), 1e-12) / p.length;
    assertClose(g[i], expected, 1e-5 * Math.max(1, Math.abs(expected)), `dp[${i}]`);
  });
});

Deno.test("bceWithLogits agrees with bce(sigmoid) and stays exact at logits of ±100", () => {
  const x = tf.tensor1d(LOGITS);
  const t = tf.tensor1d(TARGETS);
  assertClose(value(bceWithLogits(x, t)), value(bce(tf.sigmoid(x), t)), 1e-6, "moderate logits");
  const big = tf.tensor1d([100, -100]);
  // log σ(100) = 0, log σ(−100) = −100 exactly in float64 up to e^-100.
  assertClose(value(bceWithLogits(big, 1)), 50, 1e-4, "±100, t=1");
  assertClose(value(bceWithLogits(big, 0)), 50, 1e-4, "±100, t=0");
  // nn.BCELoss reaches (almost) the same numbers only because of its -100 clamp: σ(−100) is a
  // float32 subnormal, so log σ(−100) is only good to ~0.02 there.
  assertClose(value(bce(tf.sigmoid(big), 1)), 50, 0.05, "bce(sigmoid) at ±100");
  // Gradients stay finite and equal σ(x) − t over N.
  const g = tf.grad((z: tf.Tensor) => bceWithLogits(z, 1))(big).dataSync();
  assertClose(g[0], (sigmoid(100) - 1) / 2, 1e-7, "grad at +100");
  assertClose(g[1], (sigmoid(-100) - 1) / 2, 1e-7, "grad at -100");
});

Deno.test("minimax discriminator and generator losses match −E log D − E log(1 − D)", () => {
  const real = [1.5, -0.5, 2];
  const fake = [-1, 0.3, -2.5, 0];
  const logD = (x: number) => Math.log(sigmoid(x));
  const log1mD = (x: number) => Math.log(1 - sigmoid(x));
  const expectedD = -mean(real.map(logD)) - mean(fake.map(log1mD));
  const r = tf.tensor1d(real), f = tf.tensor1d(fake);
  assertClose(value(discriminatorMinimax(r, f)), expectedD, 1e-6, "D loss");
  assertClose(value(generatorMinimax(f)), mean(fake.map(log1mD)), 1e-6, "saturating G");
  assertClose(value(generatorNonSaturating(f)), -mean(fake.map(logD)), 1e-6, "non-saturating G");
  // The saturating loss has a vanishing gradient where D rejects fakes; the non-saturating one not.
  const gSat = tf.grad((z: tf.Tensor) => generatorMinimax(z))(tf.tensor1d([-8])).dataSync()[0];
  const gNs = tf.grad((z: tf.Tensor) => generatorNonSaturating(z))(tf.tensor1d([-8])).dataSync()[0];
  assertClose(gSat, -sigmoid(-8), 1e-9, "d/dl log(1 − σ(l))");
  assertClose(gNs, sigmoid(-8) - 1, 1e-6, "d/dl −log σ(l)");
});

Deno.test("minimax D loss at D* = p/(p+q) equals log 4 − 2·JS(p, q) (Goodfellow Thm. 1)", () => {
  // Discrete p and q over four points, with probabilities in eighths so that a batch of 8 samples
  // per side represents each distribution exactly and the batch means are the expectations.
  const p = [4, 2, 1, 1].map((c) => c / 8);
  const q = [1, 1, 2, 4].map((c) => c / 8);
  const dStar = p.map((pi, i) => pi / (pi + q[i]));
  const logit = dStar.map((d) => Math.log(d / (1 - d)));
  const batch = (probs: number[]) => probs.flatMap((pr, i) => Array(pr * 8).fill(logit[i]));
  const loss = value(discriminatorMinimax(tf.tensor1d(batch(p)), tf.tensor1d(batch(q))));
  const m = p.map((pi, i) => (pi + q[i]) / 2);
  const kl = (a: number[], b: number[]) =>
    a.reduce((s, ai, i) => s + (ai > 0 ? ai * Math.log(ai / b[i]) : 0), 0);
  const js = 0.5 * kl(p, m) + 0.5 * kl(q, m);
  assertClose(loss, 2 * Math.log(2) - 2 * js, 1e-5);
  assert.ok(js > 0.1, "the example must not be trivial");
});

Deno.test("Wasserstein, hinge, least-squares, L1 and drift losses match hand values", () => {
  const real = [0.5, -1.5, 2.0, 0.25];
  const fake = [-0.5, 1.2, -2.2, 0.0];
  const r = tf.tensor1d(real), f = tf.tensor1d(fake);
  assertClose(value(criticWasserstein(r, f)), mean(fake) - mean(real), 1e-6, "critic W");
  assertClose(value(generatorWasserstein(f)), -mean(fake), 1e-6, "generator W");
  const relu = (v: number) => Math.max(0, v);
  const hinge = mean(real.map((v) => relu(1 - v))) + mean(fake.map((v) => relu(1 + v)));
  assertClose(value(discriminatorHinge(r, f)), hinge, 1e-6, "hinge D");
  assertClose(value(generatorHinge(f)), -mean(fake), 1e-6, "hinge G");
  assertClose(value(lsgan(r, 1)), mean(real.map((v) => (v - 1) ** 2)), 1e-6, "lsgan 1");
  assertClose(value(lsgan(f, 0)), mean(fake.map((v) => v * v)), 1e-6, "lsgan 0");
  assertClose(value(l1(r, f)), mean(real.map((v, i) => Math.abs(v - fake[i]))), 1e-6, "l1");
  assertClose(value(driftPenalty(r)), 0.001 * mean(real.map((v) => v * v)), 1e-9, "drift");
  assertClose(value(driftPenalty(r, 0.5)), 0.5 * mean(real.map((v) => v * v)), 1e-6, "drift ε");
  // Shapes other than vectors: means are over all elements.
  const img = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
  assertClose(value(l1(img, tf.zerosLike(img))), 4.5, 1e-6, "l1 on NHWC");
});

// ---- gradient penalty -------------------------------------------------------------------------

/** LeakyReLU written through relu, which tfjs can differentiate twice (tf.leakyRelu cannot). */
const lrelu = (x: tf.Tensor, slope = 0.2): tf.Tensor =>
  tf.add(tf.mul(x, slope), tf.mul(tf.relu(x), 1 - slope));

Deno.test("lrelu via relu equals tf.leakyRelu", () => {
  const x = tf.tensor1d([-3, -0.5, 0, 0.5, 3]);
  assert.deepEqual(Array.from(lrelu(x).dataSync()), Array.from(tf.leakyRelu(x, 0.2).dataSync()));
});

Deno.test("gradient penalty of a linear critic D(x) = w·x + b is (‖w‖ − 1)², its gradient too", () => {
  const rng = new Rng(1, "gp-linear");
  const wInit = [0.6, -1.2, 0.9, 0.3];
  const w = tf.variable(tf.tensor2d(wInit, [4, 1]));
  const b = tf.variable(tf.scalar(0.7));
  const critic = (x: tf.Tensor) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), w), b);
  // Images [B, 2, 2, 1] flattened to 4 features, eps of shape [B, 1, 1, 1].
  const real = rng.randn([3, 2, 2, 1]);
  const fake = rng.randn([3, 2, 2, 1]);
  const eps = rng.rand([3, 1, 1, 1]);
  const norm = Math.hypot(...wInit);
  const { value: gp, grads } = tf.variableGrads(
    () => gradientPenalty(critic, real, fake, eps),
    [w, b],
  );
  assertClose(value(gp), (norm - 1) ** 2, 1e-5, "penalty");
  // d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖; the bias does not move the gradient.
  const gw = grads[w.name].dataSync();
  wInit.forEach((wi, i) => assertClose(gw[i], 2 * (norm - 1) * wi / norm, 1e-5, `dw[${i}]`));
  // tfjs leaves out variables the result does not depend on.
  assert.equal(grads[b.name], undefined, "the bias does not move ∇x D");
  // A custom target: (‖w‖ − 2)².
  assertClose(value(gradientPenalty(critic, real, fake, eps, 2)), (norm - 2) ** 2, 1e-5, "target");
  // R1 of the same critic: ‖w‖²/2, and its gradient w.r.t. w is w.
  const r1 = tf.variableGrads(() => r1Penalty(critic, real), [w]);
  assertClose(value(r1.value), norm * norm / 2, 1e-5, "r1");
  const g1 = r1.grads[w.name].dataSync();
  wInit.forEach((wi, i) => assertClose(g1[i], wi, 1e-5, `dr1/dw[${i}]`));
});

Deno.test("r1Penalty of D(x) = Σx² is mean ‖2x‖² / 2", () => {
  const x = [[1, 2], [-0.5, 0.25], [3, -1]];
  const d = (t: tf.Tensor) => tf.sum(tf.square(t), 1);
  const expected = mean(x.map((row) => row.reduce((s, v) => s + 4 * v * v, 0))) / 2;
  assertClose(value(r1Penalty(d, tf.tensor2d(x))), expected, 1e-5);
});

Deno.test("gradient penalty at a flat critic is target² with a finite gradient", () => {
  // ∇D = 0 everywhere: without the epsilon inside the square root the gradient would be NaN.
  const w = tf.variable(tf.zeros([3, 1]));
  const critic = (x: tf.Tensor) => tf.matMul(x as tf.Tensor2D, w);
  const real = tf.ones([2, 3]), fake = tf.zeros([2, 3]), eps = tf.fill([2, 1], 0.5);
  const { value: gp, grads } = tf.variableGrads(
    () => gradientPenalty(critic, real, fake, eps),
    [w],
  );
  assertClose(value(gp), 1, 1e-5);
  for (const g of grads[w.name].dataSync()) assert.ok(Number.isFinite(g));
});

/**
 * Checks d(penalty)/dθ from tfjs's double backprop against central differences, for every scalar
 * of every variable. float32 limits the precision: with step h the rounding error is about
 * 1e-7·|f|/h, so we use h = 1e-2 and a tolerance relative to the gradient's scale.
 */
function checkPenaltyGradient(
  penalty: () => tf.Scalar,
  vars: tf.Variable[],
  h = 1e-2,
  relTol = 1e-3,
): void {
  const { grads } = tf.variableGrads(penalty, vars);
  // tfjs leaves out variables the penalty does not depend on (e.g. the last bias): gradient 0.
  const analyticOf = (v: tf.Variable) => grads[v.name]?.dataSync() ?? new Float32Array(v.size);
  let scale = 0;
  for (const v of vars) for (const g of analyticOf(v)) scale = Math.max(scale, Math.abs(g));
  assert.ok(scale > 1e-3, "gradient must not vanish, or the check is empty");
  for (const v of vars) {
    const analytic = analyticOf(v);
    const base = v.dataSync().slice();
    for (let i = 0; i < base.length; i++) {
      const at = (delta: number) => {
        const shifted = base.slice();
        shifted[i] += delta;
        v.assign(tf.tensor(shifted, v.shape));
        return tf.tidy(() => value(penalty()));
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(base, v.shape));
      assertClose(analytic[i], numeric, relTol * scale, `${v.name}[${i}]`);
    }
  }
}

Deno.test("gradient-penalty gradient matches finite differences: 2-layer LeakyReLU MLP", () => {
  const rng = new Rng(7, "gp-mlp");
  const w1 = tf.variable(rng.randn([3, 5], 0, 0.8));
  const b1 = tf.variable(rng.randn([5], 0, 0.1));
  const w2 = tf.variable(rng.randn([5, 1], 0, 0.8));
  const b2 = tf.variable(rng.randn([1], 0, 0.1));
  const hidden = (x: tf.Tensor) => tf.add(tf.matMul(x as tf.Tensor2D, w1), b1);
  const critic = (x: tf.Tensor) => tf.add(tf.matMul(lrelu(hidden(x)) as tf.Tensor2D, w2), b2);
  const real = rng.randn([4, 3]), fake = rng.randn([4, 3]), eps = rng.rand([4, 1]);
  // Finite differences are only valid away from the kinks of the LeakyReLU.
  const xHat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
  const minPre = Math.min(...Array.from(hidden(xHat).dataSync(), Math.abs));
  assert.ok(minPre > 0.05, `pre-activations too close to the kink (${minPre})`);
  checkPenaltyGradient(() => gradientPenalty(critic, real, fake, eps), [w1, b1, w2, b2]);
});

Deno.test("gradient-penalty gradient matches finite differences: conv2d critic", () => {
  const rng = new Rng(3, "gp-conv");
  const k = tf.variable(rng.randn([3, 3, 2, 3], 0, 0.5)); // [kh, kw, in, out]
  const w = tf.variable(rng.randn([2 * 2 * 3, 1], 0, 0.5));
  const conv = (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, "same");
  const critic = (x: tf.Tensor) =>
    tf.matMul(tf.reshape(lrelu(conv(x)), [x.shape[0], -1]) as tf.Tensor2D, w);
  const real = rng.randn([2, 4, 4, 2]),
    fake = rng.randn([2, 4, 4, 2]),
    eps = rng.rand([2, 1, 1, 1]);
  const xHat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
  const minPre = Math.min(...Array.from(conv(xHat).dataSync(), Math.abs));
  assert.ok(minPre > 0.02, `pre-activations too close to the kink (${minPre})`);
  checkPenaltyGradient(() => gradientPenalty(critic, real, fake, eps), [k, w]);
  // The same machinery for R1 on the conv critic.
  checkPenaltyGradient(() => r1Penalty(critic, real), [k, w]);
});
