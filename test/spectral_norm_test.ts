/**
 * Spectral normalization (lib/spectral_norm.ts) against independent references: the top singular
 * value from a float64 Jacobi eigen-solve of MᵀM, the closed-form gradient of W/σ(W) with ũ, ṽ held
 * constant, the plain layers applied to W/σ, and a checkpoint round trip of ũ and ṽ. cpu backend.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { Conv2d, Linear, loadStateDict, stateDict } from "../lib/nn.ts";
import { SpectralNorm } from "../lib/spectral_norm.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/checkpoint.ts";

await tf.setBackend("cpu");

function assertClose(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: got ${actual}, expected ${expected} (tolerance ${tol})`,
  );
}

/** Eigenvalues of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations. */
function jacobiEigenvalues(a: Float64Array, n: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // columns p, q
          const kp = m[k * n + p], kq = m[k * n + q];
          m[k * n + p] = c * kp - s * kq;
          m[k * n + q] = s * kp + c * kq;
        }
        for (let k = 0; k < n; k++) { // rows p, q
          const pk = m[p * n + k], qk = m[q * n + k];
          m[p * n + k] = c * pk - s * qk;
          m[q * n + k] = s * pk + c * qk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]);
}

/** Largest singular value of a rows×cols matrix (row-major): √λmax(MᵀM), in float64. */
function topSingularValue(mat: ArrayLike<number>, rows: number, cols: number): number {
  const mtm = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += mat[r * cols + i] * mat[r * cols + j];
      mtm[i * cols + j] = s;
    }
  }
  return Math.sqrt(Math.max(...jacobiEigenvalues(mtm, cols)));
}

/** The paper's matrix of a Linear layer: PyTorch's weight [out, in] = our [in, out] transposed. */
function linearPaperMatrix(w: ArrayLike<number>, inF: number, outF: number): Float64Array {
  const m = new Float64Array(outF * inF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) m[o * inF + i] = w[i * outF + o];
  return m;
}

/** The paper's matrix of a conv: PyTorch's weight [out, in, kh, kw] reshaped to [out, in·k·k]. */
function convPaperMatrix(w: ArrayLike<number>, k: number, inC: number, outC: number): Float64Array {
  const m = new Float64Array(outC * inC * k * k);
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          const ours = ((kh * k + kw) * inC + i) * outC + o; // [kh, kw, in, out]
          m[o * (inC * k * k) + (i * k + kh) * k + kw] = w[ours];
        }
      }
    }
  }
  return m;
}

function value(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

Deno.test("Linear: σ after many power iterations equals the top singular value (Jacobi)", () => {
  const rng = new Rng(1, "sn-linear");
  const sn = new SpectralNorm(rng, new Linear(rng, 7, 5, { weightInit: (s, r) => r.randn(s) }));
  for (let i = 0; i < 300; i++) sn.powerIteration();
  const sigma = value(sn.sigma());
  const expected = topSingularValue(linearPaperMatrix(sn.layer.weight.dataSync(), 7, 5), 5, 7);
  assert.ok(expected > 1, "a non-trivial matrix");
  assertClose(sigma, expected, 1e-4 * expected, "σ");
  assert.deepEqual(sn.u.shape, [5]);
  assert.deepEqual(sn.v.shape, [7]);
  // ũ and ṽ are unit vectors.
  assertClose(value(tf.norm(sn.u)), 1, 1e-5, "‖u‖");
  assertClose(value(tf.norm(sn.v)), 1, 1e-5, "‖v‖");
});

Deno.test("Conv2d: σ matches the top singular value of the [out, in·k·k] matrix", () => {
  const rng = new Rng(2, "sn-conv");
  const conv = new Conv2d(rng, 4, 6, 3, 1, 1, { weightInit: (s, r) => r.randn(s) });
  const sn = new SpectralNorm(rng, conv);
  // One step from a random ũ is not yet converged; many are.
  const w = conv.weight.dataSync();
  const expected = topSingularValue(convPaperMatrix(w, 3, 4, 6), 6, 36);
  sn.powerIteration();
  const early = value(sn.sigma());
  assert.ok(early <= expected * (1 + 1e-5), "ũᵀMṽ never exceeds σ_max");
  for (let i = 0; i < 300; i++) sn.powerIteration();
  assertClose(value(sn.sigma()), expected, 1e-4 * expected, "σ");
  assert.deepEqual(sn.u.shape, [6]);
  assert.deepEqual(sn.v.shape, [36]);
  // The normalized weight has spectral norm 1.
  const wBar = sn.normalizedWeight({ training: false });
  const sBar = topSingularValue(convPaperMatrix(wBar.dataSync(), 3, 4, 6), 6, 36);
  assertClose(sBar, 1, 1e-4, "σ(W/σ(W))");
});

Deno.test("power iteration advances only in training mode with updateStats", () => {
  const rng = new Rng(3, "sn-modes");
  const sn = new SpectralNorm(rng, new Linear(rng, 6, 4, { weightInit: (s, r) => r.randn(s) }));
  const x = rng.randn([3, 6]);
  const u0 = Array.from(sn.u.dataSync());
  sn.apply(x, { training: false });
  sn.apply(x, { training: true, updateStats: false });
  assert.deepEqual(Array.from(sn.u.dataSync()), u0, "no update");
  sn.apply(x, { training: true });
  assert.notDeepEqual(Array.from(sn.u.dataSync()), u0, "one step in training mode");
});

Deno.test("forward equals the plain layer applied with W/σ(W)", () => {
  const rng = new Rng(4, "sn-forward");
  for (
    const make of [
      () => new Linear(rng, 5, 3),
      () => new Conv2d(rng, 2, 3, 4, 2, 1),
    ]
  ) {
    const layer = make();
    const sn = new SpectralNorm(rng, layer);
    const x = layer instanceof Linear ? rng.randn([4, 5]) : rng.randn([2, 8, 8, 2]);
    const y = sn.apply(x, { training: true }); // one power step, then W/σ with the new ũ, ṽ
    const sigma = value(sn.sigma());
    // Reference: the same layer type with its weight divided by σ.
    const plain = layer instanceof Linear ? new Linear(rng, 5, 3) : new Conv2d(rng, 2, 3, 4, 2, 1);
    plain.weight.assign(tf.div(layer.weight, sigma));
    plain.bias!.assign(layer.bias!);
    const ref = plain.apply(x);
    assert.deepEqual(y.shape, ref.shape);
    const a = y.dataSync(), b = ref.dataSync();
    for (let i = 0; i < a.length; i++) assertClose(a[i], b[i], 1e-5, `y[${i}]`);
  }
});

Deno.test("gradient of W/σ(W) holds ũ, ṽ constant: R/σ − ⟨W, R⟩/σ² · ṽũᵀ", () => {
  const rng = new Rng(5, "sn-grad");
  const inF = 6, outF = 4;
  const sn = new SpectralNorm(
    rng,
    new Linear(rng, inF, outF, { weightInit: (s, r) => r.randn(s) }),
  );
  const r = rng.randn([inF, outF]);
  const rv = r.dataSync();
  for (const training of [false, true]) {
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(sn.normalizedWeight({ training }), r)) as tf.Scalar,
      [sn.layer.weight],
    );
    const g = grads[sn.layer.weight.name].dataSync();
    // After the (possible) power step: ũ, ṽ as now stored, σ = ṽᵀ W ũ in our [in, out] layout.
    const u = sn.u.dataSync(), v = sn.v.dataSync(), w = sn.layer.weight.dataSync();
    let sigma = 0, wr = 0;
    for (let i = 0; i < inF; i++) {
      for (let o = 0; o < outF; o++) {
        sigma += v[i] * w[i * outF + o] * u[o];
        wr += w[i * outF + o] * rv[i * outF + o];
      }
    }
    for (let i = 0; i < inF; i++) {
      for (let o = 0; o < outF; o++) {
        const k = i * outF + o;
        const expected = rv[k] / sigma - wr / (sigma * sigma) * v[i] * u[o];
        assertClose(g[k], expected, 1e-5, `training=${training} dW[${i},${o}]`);
      }
    }
  }
});

Deno.test("ũ and ṽ are non-trainable state that survives a checkpoint round trip", async () => {
  const rng = new Rng(6, "sn-ckpt");
  const sn = new SpectralNorm(rng, new Conv2d(rng, 3, 5, 3, 1, 1));
  for (let i = 0; i < 7; i++) sn.powerIteration();
  const names = sn.namedVariables().map((v) => `${v.name}:${v.trainable}`);
  assert.deepEqual(names, ["layer/weight:true", "layer/bias:true", "u:false", "v:false"]);
  assert.equal(sn.trainableVariables().length, 2);
  const dir = await Deno.makeTempDir({ prefix: "sn_ckpt_" });
  await saveCheckpoint(join(dir, "ckpt"), stateDict(sn, "D/"), {});
  const fresh = new SpectralNorm(new Rng(99), new Conv2d(new Rng(99), 3, 5, 3, 1, 1));
  assert.notDeepEqual(Array.from(fresh.u.dataSync()), Array.from(sn.u.dataSync()));
  loadStateDict(fresh, (await loadCheckpoint(join(dir, "ckpt"))).tensors, "D/");
  for (const k of ["u", "v"] as const) {
    assert.deepEqual(Array.from(fresh[k].dataSync()), Array.from(sn[k].dataSync()), k);
  }
  // The restored state continues the same iteration.
  sn.powerIteration();
  fresh.powerIteration();
  assert.deepEqual(Array.from(fresh.u.dataSync()), Array.from(sn.u.dataSync()));
  await Deno.remove(dir, { recursive: true });
});
