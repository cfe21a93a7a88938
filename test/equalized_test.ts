/**
 * Tests for lib/equalized.ts against independent references: closed-form constants, float64 loops
 * written here, tfjs's own kernels (`tf.image.resizeNearestNeighbor`, `tf.avgPool`,
 * `tf.leakyRelu`), hand-computed minibatch statistics, and central finite differences for the
 * second-order gradients that R1 / WGAN-GP / path length need. All on the cpu backend.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  downsample2x,
  emaBeta,
  emaUpdate,
  EqualizedConv2d,
  EqualizedLinear,
  equalizedScale,
  gradsInOrder,
  lrelu,
  minibatchStddev,
  pixelNorm,
  upsample2x,
} from "../lib/equalized.ts";
import { Module } from "../lib/nn.ts";
import { r1Penalty } from "../lib/losses.ts";
import { assertClose } from "./fixtures.ts";

await tf.setBackend("cpu");

function assertAllClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ""): void {
  assert.equal(a.length, b.length, `${what} length`);
  for (let i = 0; i < a.length; i++) assertClose(a[i], b[i], tol, `${what}[${i}]`);
}

const meanStd = (v: ArrayLike<number>): [number, number] => {
  let s = 0, s2 = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const m = s / v.length;
  for (let i = 0; i < v.length; i++) s2 += (v[i] - m) ** 2;
  return [m, Math.sqrt(s2 / v.length)];
};

Deno.test("equalizedScale is gain/√fan_in · lrMul", () => {
  // √2/√(3·3·8) = √(2/72) = 1/6 exactly; gain 1, fan-in 512, λ 0.01: 0.01/√512.
  assertClose(equalizedScale(3 * 3 * 8), 1 / 6, 1e-15);
  assertClose(equalizedScale(512, 1, 0.01), 0.01 / Math.sqrt(512), 1e-15);
  assertClose(equalizedScale(100, Math.SQRT2 / 4), Math.SQRT2 / 40, 1e-15);
});

Deno.test("equalized layers store N(0, 1/λ²) weights and zero (or biasInit) biases", () => {
  const lin = new EqualizedLinear(new Rng(1, "eq"), 256, 256);
  const [m, s] = meanStd(lin.weight.dataSync());
  assertClose(m, 0, 0.02, "mean");
  assertClose(s, 1, 0.02, "std");
  assert.ok(lin.bias!.dataSync().every((b) => b === 0));
  const slow = new EqualizedLinear(new Rng(1, "eq"), 256, 64, { lrMul: 0.01, biasInit: 1 });
  assertClose(meanStd(slow.weight.dataSync())[1], 100, 3, "std with λ = 0.01");
  assert.ok(slow.bias!.dataSync().every((b) => b === 1));
  const conv = new EqualizedConv2d(new Rng(2, "eq"), 32, 32, 3);
  assertClose(meanStd(conv.weight.dataSync())[1], 1, 0.03, "conv std");
  assertClose(conv.scale, 1 / Math.sqrt(9 * 32) * Math.SQRT2, 1e-12, "conv scale");
});

Deno.test("EqualizedLinear computes x·(W·c·λ) + b·λ (float64 reference)", () => {
  const rng = new Rng(3, "lin");
  const lin = new EqualizedLinear(rng, 3, 2, { lrMul: 0.5, gain: 1 });
  lin.bias!.assign(tf.tensor1d([0.4, -1]));
  const x = [[1, -2, 0.5], [0.3, 0.1, -1]];
  const W = lin.weight.arraySync() as number[][];
  const c = 1 / Math.sqrt(3) * 0.5;
  const expected = x.flatMap((row) =>
    [0, 1].map((o) => row.reduce((s, v, i) => s + v * W[i][o] * c, 0) + [0.4, -1][o] * 0.5)
  );
  assertAllClose(lin.apply(tf.tensor2d(x)).dataSync(), expected, 1e-5);
});

Deno.test("EqualizedConv2d is a 'same' conv with the weight times c (float64 loop)", () => {
  const rng = new Rng(4, "conv");
  const conv = new EqualizedConv2d(rng, 2, 3, 3);
  conv.bias!.assign(tf.tensor1d([0.1, 0.2, -0.3]));
  const H = 4, W = 5;
  const x = rng.randn([1, H, W, 2]);
  const xv = x.dataSync(), wv = conv.weight.dataSync();
  const c = Math.SQRT2 / Math.sqrt(18);
  const expected: number[] = [];
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      for (let o = 0; o < 3; o++) {
        let s = [0.1, 0.2, -0.3][o];
        for (let di = 0; di < 3; di++) {
          for (let dj = 0; dj < 3; dj++) {
            const y = i + di - 1, xx = j + dj - 1;
            if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
            for (let ci = 0; ci < 2; ci++) {
              s += xv[(y * W + xx) * 2 + ci] * wv[((di * 3 + dj) * 2 + ci) * 3 + o] * c;
            }
          }
        }
        expected.push(s);
      }
    }
  }
  assertAllClose(conv.apply(x).dataSync(), expected, 1e-5);
});

Deno.test("equalized lr: the stored weight's gradient is c·λ times the effective weight's", () => {
  // The effective weight W·c·λ is a plain layer; dL/dW_stored = c·λ · dL/dW_effective.
  const rng = new Rng(5, "grad");
  const lin = new EqualizedLinear(rng, 4, 3, { lrMul: 0.01 });
  const x = rng.randn([2, 4]);
  const target = rng.randn([2, 3]);
  const loss = (y: tf.Tensor) => tf.sum(tf.square(tf.sub(y, target))) as tf.Scalar;
  const stored = tf.variableGrads(() => loss(lin.apply(x)), [lin.weight]).grads[lin.weight.name];
  const c = Math.SQRT2 / 2 * 0.01;
  const eff = tf.mul(lin.weight, c);
  const b = tf.mul(lin.bias!, 0.01);
  const plain = tf.grad((w: tf.Tensor) =>
    loss(tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b))
  )(
    eff,
  );
  assertAllClose(stored.dataSync(), Array.from(plain.dataSync(), (g) => g * c), 1e-6);
});

Deno.test("lrelu equals tf.leakyRelu (times the gain)", () => {
  const x = tf.tensor1d([-3, -0.5, 0, 0.5, 3]);
  assertAllClose(lrelu(x).dataSync(), tf.leakyRelu(x, 0.2).dataSync(), 1e-7);
  assertAllClose(
    lrelu(x, 0.2, Math.SQRT2).dataSync(),
    Array.from(tf.leakyRelu(x, 0.2).dataSync(), (v) => v * Math.SQRT2),
    1e-6,
  );
});

Deno.test("pixelNorm gives unit RMS over channels at every pixel", () => {
  const rng = new Rng(6, "pn");
  // Pixels with wildly different scales.
  const x = tf.mul(rng.randn([2, 3, 3, 16]), rng.rand([2, 3, 3, 1], 0.01, 50));
  const y = pixelNorm(x).dataSync();
  for (let p = 0; p < 18; p++) {
    let ms = 0;
    for (let c = 0; c < 16; c++) ms += y[p * 16 + c] ** 2;
    assertClose(ms / 16, 1, 1e-4, `pixel ${p}`);
  }
  // Hand value: [3, 4] → mean square 12.5 → [3, 4]/√12.5.
  assertAllClose(pixelNorm(tf.tensor2d([[3, 4]])).dataSync(), [
    3 / Math.sqrt(12.5),
    4 / Math.sqrt(12.5),
  ], 1e-6);
});

Deno.test("minibatchStddev matches a hand computation (groups b mod B/G)", () => {
  // B = 4, group size 2 → 2 groups: {0, 2} and {1, 3}. Each image is 1×2 with 1 channel.
  const x = tf.tensor4d([1, 3, 0, 0, 3, 7, 2, 0], [4, 1, 2, 1]);
  const y = minibatchStddev(x, 2);
  assert.deepEqual(y.shape, [4, 1, 2, 2]);
  const v = y.arraySync() as number[][][][];
  // Group {0, 2}: features (1, 3) and (3, 7): biased std 1 and 2 → mean 1.5.
  // Group {1, 3}: (0, 2) and (0, 0): std 1 and √1e-8 = 1e-4 → mean 0.50005.
  const expected = [1.5, 0.50005, 1.5, 0.50005];
  for (let b = 0; b < 4; b++) {
    for (let j = 0; j < 2; j++) {
      assertClose(v[b][0][j][1], expected[b], 1e-5, `stat b${b}`);
      assertClose(v[b][0][j][0], (x.arraySync() as number[][][][])[b][0][j][0], 0, "passthrough");
    }
  }
  // Group size larger than the batch: one group of all 4.
  const all = minibatchStddev(x, 8).arraySync() as number[][][][];
  const f0 = [1, 0, 3, 2], f1 = [3, 0, 7, 0];
  const stat = (meanStd(f0)[1] + meanStd(f1)[1]) / 2;
  for (let b = 0; b < 4; b++) assertClose(all[b][0][0][1], stat, 1e-5, "one group");
  assert.throws(() => minibatchStddev(tf.zeros([6, 1, 1, 1]), 4), /not divisible/);
});

Deno.test("upsample2x / downsample2x equal tfjs's nearest resize and average pool", () => {
  const x = new Rng(7, "ud").randn([2, 3, 4, 2]) as tf.Tensor4D;
  assertAllClose(
    upsample2x(x).dataSync(),
    tf.image.resizeNearestNeighbor(x, [6, 8]).dataSync(),
    0,
  );
  const big = new Rng(8, "ud").randn([2, 4, 6, 3]) as tf.Tensor4D;
  assertAllClose(downsample2x(big).dataSync(), tf.avgPool(big, 2, 2, "valid").dataSync(), 1e-6);
  // upsample's gradient is the 2×2 sum of the upstream gradient.
  const k = new Rng(9, "ud").randn([2, 6, 8, 2]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsample2x(t), k)))(x);
  assertAllClose(
    g.dataSync(),
    tf.mul(tf.avgPool(k as tf.Tensor4D, 2, 2, "valid"), 4).dataSync(),
    1e-5,
  );
});

/**
 * d(penalty)/dθ from tfjs's double backprop against finite differences, on about `perVar`
 * scalars of each variable (float32: h = 1e-2, tolerance relative to the gradient's scale).
 */
function checkSecondOrder(
  penalty: () => tf.Scalar,
  vars: tf.Variable[],
  opts: { h?: number; relTol?: number; perVar?: number } = {},
): void {
  const h = opts.h ?? 1e-2, relTol = opts.relTol ?? 2e-3, perVar = opts.perVar ?? 6;
  const { grads } = tf.variableGrads(penalty, vars);
  const analyticOf = (v: tf.Variable) => grads[v.name]?.dataSync() ?? new Float32Array(v.size);
  let scale = 0;
  for (const v of vars) for (const g of analyticOf(v)) scale = Math.max(scale, Math.abs(g));
  assert.ok(scale > 1e-4, "gradient must not vanish, or the check is empty");
  const value = () => tf.tidy(() => penalty().dataSync()[0]);
  for (const v of vars) {
    const analytic = analyticOf(v);
    const base = v.dataSync().slice();
    const step = Math.max(1, Math.floor(base.length / perVar));
    for (let i = 0; i < base.length; i += step) {
      const at = (delta: number) => {
        const shifted = base.slice();
        shifted[i] += delta;
        v.assign(tf.tensor(shifted, v.shape));
        return value();
      };
      // Richardson extrapolation of two central differences cancels the O(h²) error term,
      // which the curvature of pixel norm and the square root would otherwise leave.
      const d1 = (at(h) - at(-h)) / (2 * h), d2 = (at(h / 2) - at(-h / 2)) / h;
      const numeric = (4 * d2 - d1) / 3;
      v.assign(tf.tensor(base, v.shape));
      assertClose(analytic[i], numeric, relTol * scale, `${v.name}[${i}]`);
    }
  }
}

class TinyCritic extends Module {
  readonly a: EqualizedConv2d;
  readonly b: EqualizedConv2d;
  readonly fc: EqualizedLinear;
  constructor(rng: Rng) {
    super();
    this.a = this.child("a", new EqualizedConv2d(rng, 1, 2, 3));
    this.b = this.child("b", new EqualizedConv2d(rng, 3, 2, 1));
    this.fc = this.child("fc", new EqualizedLinear(rng, 2 * 2 * 2, 1, { gain: 1 }));
  }
  apply(x: tf.Tensor): tf.Tensor {
    // conv → lrelu → pool → minibatch stddev → 1×1 conv → upsample → pool → pixel norm → FC
    let h: tf.Tensor = downsample2x(lrelu(this.a.apply(x), 0.2, Math.SQRT2));
    h = this.b.apply(minibatchStddev(h, 2));
    h = pixelNorm(downsample2x(upsample2x(h)));
    return this.fc.apply(tf.reshape(h, [x.shape[0], -1]));
  }
}

Deno.test("second-order gradients through every op here match finite differences (R1)", () => {
  const rng = new Rng(3, "fd");
  const D = new TinyCritic(rng);
  for (const v of D.trainableVariables()) v.assign(tf.add(v, rng.randn(v.shape, 0, 0.1)));
  // Pixel norm bends sharply where a pixel's feature vector is near 0; a bias keeps it away.
  D.b.bias!.assign(tf.tensor1d([0.8, -0.6]));
  const real = rng.randn([2, 4, 4, 1]);
  // Finite differences need the pre-activations away from the LeakyReLU kink, and pixel norms
  // away from 0.
  const pre = D.a.apply(real).dataSync();
  // A weight moved by h = 1e-2 moves a pre-activation by at most c·h·max|x| ≈ 0.015.
  assert.ok(Math.min(...Array.from(pre, Math.abs)) > 0.02, "kink");
  const h = D.b.apply(minibatchStddev(downsample2x(lrelu(D.a.apply(real), 0.2, Math.SQRT2)), 2));
  const norms = tf.sqrt(tf.mean(tf.square(h), -1)).dataSync();
  assert.ok(Math.min(...norms) > 0.2, `pixel norms near 0: ${Math.min(...norms)}`);
  checkSecondOrder(() => r1Penalty((x) => D.apply(x), real), D.trainableVariables());
});

Deno.test("emaBeta and emaUpdate: half-life in images; trainables averaged, buffers copied", () => {
  assertClose(emaBeta(32, 10_000), Math.pow(0.5, 32 / 10_000), 1e-15);
  assert.equal(emaBeta(32, 0), 0);
  class M extends Module {
    readonly w: tf.Variable;
    readonly buf: tf.Variable;
    constructor(w: number, buf: number) {
      super();
      this.w = this.param("w", tf.scalar(w));
      this.buf = this.param("buf", tf.scalar(buf), false);
    }
  }
  const target = new M(0, 0), source = new M(1, 7);
  // After halfLife/batch steps toward a fixed source, the gap has halved.
  const beta = emaBeta(10, 100);
  for (let i = 0; i < 10; i++) emaUpdate(target, source, beta);
  assertClose(target.w.dataSync()[0], 0.5, 1e-5, "half-life");
  assert.equal(target.buf.dataSync()[0], 7);
  emaUpdate(target, source, 0.9);
  assertClose(target.w.dataSync()[0], 0.9 * 0.5 + 0.1, 1e-5, "one step");
});

Deno.test("gradsInOrder fills the variables a loss does not use with zeros", () => {
  const a = tf.variable(tf.tensor1d([1, 2])), b = tf.variable(tf.tensor1d([3]));
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(a)) as tf.Scalar, [a, b]);
  const out = gradsInOrder([a, b], grads);
  assert.deepEqual(Array.from(out[0].dataSync()), [2, 4]);
  assert.deepEqual(Array.from(out[1].dataSync()), [0]);
});
