import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  BatchNorm,
  Conv2d,
  ConvTranspose2d,
  dropout,
  Embedding,
  Linear,
  loadStateDict,
  normalInit,
  stateDict,
} from "../lib/nn.ts";

await tf.setBackend("cpu");

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5, what = "") {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

/** Naive NHWC conv (cross-correlation) with symmetric zero padding, as PyTorch defines it. */
function naiveConv(
  x: Float32Array,
  [b, h, w, ci]: number[],
  wt: Float32Array,
  k: number,
  co: number,
  s: number,
  p: number,
) {
  const oh = Math.floor((h + 2 * p - k) / s) + 1, ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out = new Float32Array(b * oh * ow * co);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let o = 0; o < co; o++) {
          let acc = 0;
          for (let di = 0; di < k; di++) {
            for (let dj = 0; dj < k; dj++) {
              const y = i * s - p + di, xx = j * s - p + dj;
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              for (let c = 0; c < ci; c++) {
                acc += x[((n * h + y) * w + xx) * ci + c] * wt[((di * k + dj) * ci + c) * co + o];
              }
            }
          }
          out[((n * oh + i) * ow + j) * co + o] = acc;
        }
      }
    }
  }
  return { out, shape: [b, oh, ow, co] };
}

/** Naive transposed conv with PyTorch padding semantics; weight [k,k,out,in] (tfjs layout). */
function naiveConvTranspose(
  x: Float32Array,
  [b, h, w, ci]: number[],
  wt: Float32Array,
  k: number,
  co: number,
  s: number,
  p: number,
) {
  const fh = (h - 1) * s + k, fw = (w - 1) * s + k;
  const full = new Float32Array(b * fh * fw * co);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        for (let c = 0; c < ci; c++) {
          const v = x[((n * h + i) * w + j) * ci + c];
          for (let di = 0; di < k; di++) {
            for (let dj = 0; dj < k; dj++) {
              for (let o = 0; o < co; o++) {
                full[((n * fh + i * s + di) * fw + j * s + dj) * co + o] += v *
                  wt[((di * k + dj) * co + o) * ci + c];
              }
            }
          }
        }
      }
    }
  }
  const oh = fh - 2 * p, ow = fw - 2 * p;
  const out = new Float32Array(b * oh * ow * co);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let o = 0; o < co; o++) {
          out[((n * oh + i) * ow + j) * co + o] = full[((n * fh + i + p) * fw + j + p) * co + o];
        }
      }
    }
  }
  return { out, shape: [b, oh, ow, co] };
}

Deno.test("Linear computes xW + b and uses PyTorch's default U(±1/√fan_in) init", () => {
  const rng = new Rng(0);
  const l = new Linear(rng, 400, 300);
  const w = Array.from(l.weight.dataSync()), bias = Array.from(l.bias!.dataSync());
  const bound = 1 / Math.sqrt(400);
  assert.ok(w.every((v) => Math.abs(v) <= bound) && bias.every((v) => Math.abs(v) <= bound));
  const variance = w.reduce((a, v) => a + v * v, 0) / w.length;
  assert.ok(Math.abs(variance - bound * bound / 3) < 0.05 * bound * bound / 3);
  const small = new Linear(new Rng(1), 3, 2);
  const x = [1, -2, 0.5];
  const W = small.weight.dataSync(), B = small.bias!.dataSync();
  const expected = [0, 1].map((o) => x.reduce((a, xi, i) => a + xi * W[i * 2 + o], 0) + B[o]);
  close(small.apply(tf.tensor2d([x])).dataSync(), expected, 1e-6, "linear");
});

Deno.test("Conv2d matches a naive convolution (integer padding, stride 1 and 2, odd sizes)", () => {
  for (
    const [h, w, k, s, p] of [[7, 5, 3, 1, 1], [8, 8, 4, 2, 1], [9, 7, 5, 2, 2], [6, 6, 3, 2, 0]]
  ) {
    const rng = new Rng(h * 100 + k);
    const conv = new Conv2d(rng, 3, 4, k, s, p, { bias: false });
    const xs = [2, h, w, 3];
    const x = rng.normalArray(xs.reduce((a, b) => a * b));
    const ref = naiveConv(x, xs, conv.weight.dataSync() as Float32Array, k, 4, s, p);
    const y = conv.apply(tf.tensor4d(x, xs as [number, number, number, number]));
    assert.deepEqual(y.shape, ref.shape);
    close(y.dataSync(), ref.out, 1e-4, `conv ${h}x${w} k${k} s${s} p${p}`);
  }
});

Deno.test("ConvTranspose2d has PyTorch's output size and values (DCGAN k4 s2 p1, k4 s1 p0)", () => {
  for (const [h, k, s, p] of [[4, 4, 2, 1], [1, 4, 1, 0], [7, 4, 2, 1], [5, 3, 2, 0]]) {
    const rng = new Rng(7 + h + k);
    const deconv = new ConvTranspose2d(rng, 3, 2, k, s, p, { bias: false });
    const xs = [2, h, h, 3];
    const x = rng.normalArray(xs.reduce((a, b) => a * b));
    const ref = naiveConvTranspose(x, xs, deconv.weight.dataSync() as Float32Array, k, 2, s, p);
    const y = deconv.apply(tf.tensor4d(x, xs as [number, number, number, number]));
    assert.equal(y.shape[1], (h - 1) * s - 2 * p + k);
    assert.deepEqual(y.shape, ref.shape);
    close(y.dataSync(), ref.out, 1e-4, `deconv h${h} k${k} s${s} p${p}`);
  }
  // "same" equals PyTorch padding 1 for k=4, s=2.
  const rng = new Rng(3);
  const a = new ConvTranspose2d(rng, 2, 2, 4, 2, "same", { bias: false });
  const b = new ConvTranspose2d(new Rng(3), 2, 2, 4, 2, 1, { bias: false });
  const x = new Rng(9).randn([1, 3, 3, 2]);
  close(a.apply(x).dataSync(), b.apply(x).dataSync(), 1e-5, "same vs p1");
});

Deno.test("BatchNorm: training normalizes with biased batch var + eps, updates running stats like PyTorch", () => {
  const bn = new BatchNorm(new Rng(0), 2, { eps: 0.8, momentum: 0.1 });
  const x = [[1, 10], [2, 20], [3, 30], [6, 40]];
  const y = bn.apply(tf.tensor2d(x), { training: true }).arraySync() as number[][];
  for (let f = 0; f < 2; f++) {
    const col = x.map((r) => r[f]);
    const mean = col.reduce((a, b) => a + b) / 4;
    const biased = col.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    const unbiased = biased * 4 / 3;
    close(y.map((r) => r[f]), col.map((v) => (v - mean) / Math.sqrt(biased + 0.8)), 1e-5, "bn out");
    close([bn.runningMean.dataSync()[f]], [0.1 * mean], 1e-6, "running mean");
    close([bn.runningVar.dataSync()[f]], [0.9 + 0.1 * unbiased], 1e-6, "running var");
  }
  // Eval mode uses the running statistics.
  const e = bn.apply(tf.tensor2d([[1, 1]]), { training: false }).dataSync();
  const rm = bn.runningMean.dataSync(), rv = bn.runningVar.dataSync();
  close(e, [0, 1].map((f) => (1 - rm[f]) / Math.sqrt(rv[f] + 0.8)), 1e-5, "eval");
  // updateStats: false (sampling) leaves them alone.
  const before = Array.from(bn.runningVar.dataSync());
  bn.apply(tf.tensor2d([[100, -100], [0, 0]]), { training: true, updateStats: false });
  assert.deepEqual(Array.from(bn.runningVar.dataSync()), before);
});

Deno.test("BatchNorm2d normalizes NHWC over batch and space", () => {
  const bn = new BatchNorm(new Rng(0), 3);
  const x = new Rng(1).randn([4, 5, 5, 3], 2, 3);
  const y = bn.apply(x, { training: true });
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  close(mean.dataSync(), [0, 0, 0], 1e-4, "mean");
  close(variance.dataSync(), [1, 1, 1], 1e-3, "var");
});

Deno.test("dropout: inverted scaling, rate, determinism from the Rng, identity in eval", () => {
  const x = tf.ones([100, 100]);
  const a = dropout(x, 0.4, { training: true, rng: new Rng(5) }).dataSync();
  const b = dropout(x, 0.4, { training: true, rng: new Rng(5) }).dataSync();
  assert.deepEqual(Array.from(a), Array.from(b));
  const zeros = a.filter((v) => v === 0).length / a.length;
  assert.ok(Math.abs(zeros - 0.4) < 0.02, `drop rate ${zeros}`);
  assert.ok(a.every((v) => v === 0 || Math.abs(v - 1 / 0.6) < 1e-6));
  assert.equal(dropout(x, 0.4, { training: false }), x);
  assert.throws(() => dropout(x, 0.4, { training: true }), /rng/);
});

Deno.test("Embedding looks up rows and its gradient scatters into them", () => {
  const emb = new Embedding(new Rng(2), 10, 4);
  const table = emb.weight.arraySync() as number[][];
  const idx = tf.tensor1d([3, 3, 7], "int32");
  assert.deepEqual(emb.apply(idx).arraySync(), [table[3], table[3], table[7]]);
  const { grads } = tf.variableGrads(() => tf.sum(emb.apply(idx)) as tf.Scalar, [emb.weight]);
  const g = grads[emb.weight.name].arraySync() as number[][];
  assert.deepEqual(g[3], [2, 2, 2, 2]);
  assert.deepEqual(g[7], [1, 1, 1, 1]);
  assert.deepEqual(g[0], [0, 0, 0, 0]);
});

Deno.test("stateDict/loadStateDict round trip and shape-mismatch error", () => {
  const a = new Linear(new Rng(1), 3, 2), b = new Linear(new Rng(2), 3, 2);
  loadStateDict(b, stateDict(a));
  assert.deepEqual(Array.from(b.weight.dataSync()), Array.from(a.weight.dataSync()));
  const c = new Linear(new Rng(3), 4, 2);
  assert.throws(() => loadStateDict(c, stateDict(a)), /shape \[3,2\], model expects \[4,2\]/);
  assert.throws(() => loadStateDict(c, new Map()), /missing weight/);
});

Deno.test("normalInit draws N(mean, std) from the given Rng", () => {
  const t = Array.from(normalInit(0.02)([200, 100], new Rng(4)).dataSync());
  const m = t.reduce((a, b) => a + b) / t.length;
  const sd = Math.sqrt(t.reduce((a, b) => a + (b - m) ** 2, 0) / t.length);
  assert.ok(Math.abs(m) < 0.0005 && Math.abs(sd - 0.02) < 0.0005, `${m} ${sd}`);
});

Deno.test("BatchNorm gradients (through batch statistics) equal tf.batchNorm's", () => {
  const bn = new BatchNorm(new Rng(0), 3, { eps: 0.8 });
  const x = new Rng(1).randn([4, 2, 2, 3], 1, 2);
  const w = new Rng(2).randn([4, 2, 2, 3]);
  const vars = [bn.gamma, bn.beta];
  const ours = tf.grads((x: tf.Tensor) =>
    tf.sum(tf.mul(bn.apply(x, { training: true, updateStats: false }), w))
  );
  const stock = tf.grads((x: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, bn.beta, bn.gamma, 0.8), w));
  });
  close(ours([x])[0].dataSync(), stock([x])[0].dataSync(), 1e-4, "dx");
  const f = (fn: typeof tf.batchNorm | null) =>
    tf.variableGrads(() => {
      if (!fn) {
        return tf.sum(tf.mul(bn.apply(x, { training: true, updateStats: false }), w)) as tf.Scalar;
      }
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.sum(tf.mul(fn(x, mean, variance, bn.beta, bn.gamma, 0.8), w)) as tf.Scalar;
    }, vars).grads;
  const a = f(null), b = f(tf.batchNorm);
  for (const v of vars) close(a[v.name].dataSync(), b[v.name].dataSync(), 1e-4, v.name);
});
