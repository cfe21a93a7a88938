import assert from "node:assert/strict";
import { Rng } from "../lib/random.ts";
import {
  classCoverage,
  frechetDistance,
  inceptionScore,
  labelAccuracy,
  matMul,
  meanCov,
  sqrtPsd,
  symmetricEigen,
} from "../lib/metrics.ts";

function close(a: number, b: number, tol: number, what = "") {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function closeAll(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = "") {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) close(a[i], b[i], tol, `${what}[${i}]`);
}

function transpose(a: Float64Array, d: number): Float64Array {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = a[i * d + j];
  return t;
}

function identity(d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

/** A random orthogonal matrix: Gram–Schmidt on the columns of a Gaussian matrix. */
function randomOrthogonal(d: number, rng: Rng): Float64Array {
  const q = Float64Array.from(rng.normalArray(d * d));
  for (let j = 0; j < d; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += q[i * d + j] * q[i * d + k];
      for (let i = 0; i < d; i++) q[i * d + j] -= dot * q[i * d + k];
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += q[i * d + j] ** 2;
    for (let i = 0; i < d; i++) q[i * d + j] /= Math.sqrt(norm);
  }
  return q;
}

/** Q diag(values) Qᵀ. */
function fromEigen(q: Float64Array, values: number[], d: number): Float64Array {
  const qd = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) qd[i * d + j] = q[i * d + j] * values[j];
  return matMul(qd, transpose(q, d), d);
}

/** A random full-rank covariance: G Gᵀ / d + 0.1 I for a Gaussian G. */
function randomCov(d: number, rng: Rng): Float64Array {
  const g = Float64Array.from(rng.normalArray(d * d));
  const c = matMul(g, transpose(g, d), d);
  for (let i = 0; i < d * d; i++) c[i] /= d;
  for (let i = 0; i < d; i++) c[i * d + i] += 0.1;
  return c;
}

/** Inverse by Gauss–Jordan elimination with partial pivoting (test-only reference). */
function inverse(a: Float64Array, d: number): Float64Array {
  const m = a.slice();
  const inv = identity(d);
  for (let c = 0; c < d; c++) {
    let piv = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r * d + c]) > Math.abs(m[piv * d + c])) piv = r;
    for (const x of [m, inv]) {
      for (let k = 0; k < d; k++) [x[c * d + k], x[piv * d + k]] = [x[piv * d + k], x[c * d + k]];
    }
    const p = m[c * d + c];
    for (let k = 0; k < d; k++) {
      m[c * d + k] /= p;
      inv[c * d + k] /= p;
    }
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r * d + c];
      for (let k = 0; k < d; k++) {
        m[r * d + k] -= f * m[c * d + k];
        inv[r * d + k] -= f * inv[c * d + k];
      }
    }
  }
  return inv;
}

/** Square root of a (non-symmetric) matrix by the Denman–Beavers iteration. */
function denmanBeavers(a: Float64Array, d: number): Float64Array {
  let y = a.slice(), z = identity(d);
  for (let it = 0; it < 60; it++) {
    const yi = inverse(y, d), zi = inverse(z, d);
    const ny = new Float64Array(d * d), nz = new Float64Array(d * d);
    for (let i = 0; i < d * d; i++) {
      ny[i] = 0.5 * (y[i] + zi[i]);
      nz[i] = 0.5 * (z[i] + yi[i]);
    }
    y = ny;
    z = nz;
  }
  return y;
}

function trace(a: Float64Array, d: number): number {
  let t = 0;
  for (let i = 0; i < d; i++) t += a[i * d + i];
  return t;
}

Deno.test("symmetricEigen reconstructs A = VΛVᵀ with orthonormal V and ascending values", () => {
  const rng = new Rng(1, "eig");
  for (const d of [1, 2, 7, 24]) {
    const g = Float64Array.from(rng.normalArray(d * d));
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) a[i * d + j] = g[i * d + j] + g[j * d + i];
    }
    const { values, vectors: v } = symmetricEigen(a, d);
    for (let j = 1; j < d; j++) assert.ok(values[j - 1] <= values[j], "ascending");
    closeAll(fromEigen(v, Array.from(values), d), a, 1e-12, `reconstruction d=${d}`);
    closeAll(matMul(transpose(v, d), v, d), identity(d), 1e-12, `VᵀV d=${d}`);
  }
});

Deno.test("symmetricEigen recovers known eigenvalues, repeated and zero ones included", () => {
  const rng = new Rng(2, "eig-known");
  const d = 9;
  const known = [0, 0, 1e-9, 0.5, 1, 1, 1, 3, 40];
  const a = fromEigen(randomOrthogonal(d, rng), known, d);
  const { values } = symmetricEigen(a, d);
  for (let j = 0; j < d; j++) assert.ok(Math.abs(values[j] - known[j]) < 1e-13 * 40, `λ${j}`);
  // A hand example: [[2, 1], [1, 2]] has eigenvalues 1 and 3, eigenvectors (1, −1)/√2, (1, 1)/√2.
  const e = symmetricEigen([2, 1, 1, 2], 2);
  closeAll(e.values, [1, 3], 1e-15, "2x2 values");
  close(Math.abs(e.vectors[0 * 2 + 1]), Math.SQRT1_2, 1e-15, "2x2 vector");
});

Deno.test("sqrtPsd squares back to the matrix", () => {
  const d = 6;
  const c = randomCov(d, new Rng(3, "sqrt"));
  const s = sqrtPsd(c, d);
  closeAll(matMul(s, s, d), c, 1e-12, "S·S");
  closeAll(s, transpose(s, d), 1e-14, "symmetric");
});

Deno.test("frechetDistance: identical Gaussians give 0", () => {
  const rng = new Rng(4, "fd-same");
  const d = 16;
  const mu = rng.normalArray(d);
  const c = randomCov(d, rng);
  assert.ok(frechetDistance(mu, c, mu, c) < 1e-10 * trace(c, d));
});

Deno.test("frechetDistance: diagonal covariances match ‖μ1−μ2‖² + Σ(√a−√b)²", () => {
  const rng = new Rng(5, "fd-diag");
  const d = 10;
  const mu1 = rng.normalArray(d), mu2 = rng.normalArray(d);
  const a = Array.from({ length: d }, () => rng.uniform() * 3);
  const b = Array.from({ length: d }, () => rng.uniform() * 3);
  b[0] = 0; // a degenerate direction is allowed
  const s1 = fromEigen(identity(d), a, d), s2 = fromEigen(identity(d), b, d);
  let want = 0;
  for (let i = 0; i < d; i++) {
    want += (mu1[i] - mu2[i]) ** 2 + (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
  }
  close(frechetDistance(mu1, s1, mu2, s2), want, 1e-12, "diagonal");
});

Deno.test("frechetDistance: commuting covariances (shared random eigenvectors)", () => {
  const rng = new Rng(6, "fd-commute");
  const d = 12;
  const q = randomOrthogonal(d, rng);
  const a = Array.from({ length: d }, () => 0.01 + rng.uniform() * 5);
  const b = Array.from({ length: d }, () => 0.01 + rng.uniform() * 5);
  const mu1 = rng.normalArray(d), mu2 = rng.normalArray(d);
  let want = 0;
  for (let i = 0; i < d; i++) {
    want += (mu1[i] - mu2[i]) ** 2 + (Math.sqrt(a[i]) - Math.sqrt(b[i])) ** 2;
  }
  close(
    frechetDistance(mu1, fromEigen(q, a, d), mu2, fromEigen(q, b, d)),
    want,
    1e-11,
    "commuting",
  );
});

Deno.test("frechetDistance: 1-D case is (μ1−μ2)² + (σ1−σ2)²", () => {
  close(frechetDistance([1.5], [4], [-0.5], [0.25]), 2 ** 2 + (2 - 0.5) ** 2, 1e-15, "1-D");
  close(frechetDistance([0], [9], [0], [9]), 0, 1e-15, "1-D same");
});

Deno.test("frechetDistance: 2-D hand example, I vs [[2,1],[1,2]] gives 4 − 2√3", () => {
  // Σ1Σ2 = Σ2 has eigenvalues 1 and 3: Tr = 2 + 4 − 2(1 + √3).
  close(
    frechetDistance([0, 0], [1, 0, 0, 1], [0, 0], [2, 1, 1, 2]),
    4 - 2 * Math.sqrt(3),
    1e-14,
    "2-D",
  );
});

Deno.test("frechetDistance: random non-commuting pair vs a Denman–Beavers sqrtm", () => {
  const rng = new Rng(7, "fd-general");
  for (const d of [3, 8, 20]) {
    const s1 = randomCov(d, rng), s2 = randomCov(d, rng);
    const mu1 = rng.normalArray(d), mu2 = rng.normalArray(d);
    const prod = matMul(s1, s2, d);
    // They really do not commute, so the commuting-case formula would be wrong here.
    const other = matMul(s2, s1, d);
    assert.ok(prod.some((x, i) => Math.abs(x - other[i]) > 1e-3), "non-commuting");
    const root = denmanBeavers(prod, d);
    closeAll(matMul(root, root, d), prod, 1e-9, "Denman–Beavers converged");
    let want = trace(s1, d) + trace(s2, d) - 2 * trace(root, d);
    for (let i = 0; i < d; i++) want += (mu1[i] - mu2[i]) ** 2;
    close(frechetDistance(mu1, s1, mu2, s2), want, 1e-10, `general d=${d}`);
  }
});

Deno.test("frechetDistance rejects mismatched shapes", () => {
  assert.throws(() => frechetDistance([0, 0], [1, 0, 0, 1], [0], [1]), RangeError);
  assert.throws(() => frechetDistance([0, 0], [1, 0, 0], [0, 0], [1, 0, 0, 1]), RangeError);
});

Deno.test("meanCov: hand-computed mean and unbiased covariance", () => {
  // Points (1, 2), (3, 4), (5, 0): mean (3, 2); deviations x (−2, 0, 2), y (0, 2, −2).
  const { mean, cov } = meanCov(new Float32Array([1, 2, 3, 4, 5, 0]), 3, 2);
  closeAll(mean, [3, 2], 1e-15, "mean");
  closeAll(cov, [4, -2, -2, 4], 1e-15, "cov");
  assert.throws(() => meanCov(new Float32Array(5), 3, 2), RangeError);
});

Deno.test("meanCov of Gaussian samples approaches the true covariance", () => {
  const rng = new Rng(8, "meancov");
  const d = 3, n = 20000;
  // x = L z with L lower-triangular gives covariance L Lᵀ.
  const l = [1, 0, 0, 0.5, 2, 0, -1, 0.3, 0.7];
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const z = [rng.normal(), rng.normal(), rng.normal()];
    for (let r = 0; r < d; r++) {
      x[i * d + r] = 5 * r + l[r * 3] * z[0] + l[r * 3 + 1] * z[1] + l[r * 3 + 2] * z[2];
    }
  }
  const { mean, cov } = meanCov(x, n, d);
  const want = matMul(l, transpose(Float64Array.from(l), d), d);
  for (let r = 0; r < d; r++) assert.ok(Math.abs(mean[r] - 5 * r) < 0.05, `mean ${r}`);
  for (let i = 0; i < d * d; i++) assert.ok(Math.abs(cov[i] - want[i]) < 0.1, `cov ${i}`);
});

Deno.test("inceptionScore: uniform one-hot predictions give k, identical predictions give 1", () => {
  const k = 10, splits = 10, n = k * splits * 3;
  const oneHot = new Float32Array(n * k);
  for (let i = 0; i < n; i++) oneHot[i * k + (i % k)] = 1; // every split holds each class 3 times
  const is = inceptionScore(oneHot, n, k, splits);
  close(is.mean, k, 1e-12, "IS uniform");
  close(is.std, 0, 1e-12, "IS std");

  const same = new Float32Array(n * k);
  for (let i = 0; i < n; i++) same.set([0.5, 0.2, 0.1, 0.1, 0.1, 0, 0, 0, 0, 0], i * k);
  close(inceptionScore(same, n, k, splits).mean, 1, 1e-7, "IS identical");
});

Deno.test("inceptionScore: hand-computed two-sample case and std over splits", () => {
  // p1 = (1, 0), p2 = (½, ½): p(y) = (¾, ¼).
  const kl1 = Math.log(1 / 0.75);
  const kl2 = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25);
  close(inceptionScore([1, 0, 0.5, 0.5], 2, 2, 1).mean, Math.exp((kl1 + kl2) / 2), 1e-14, "hand");
  // Split 1 scores 2 (balanced one-hot), split 2 scores 1 (identical): mean 1.5, std 0.5.
  const s = inceptionScore([1, 0, 0, 1, 1, 0, 1, 0], 4, 2, 2);
  close(s.mean, 1.5, 1e-14, "split mean");
  close(s.std, 0.5, 1e-14, "split std");
});

Deno.test("classCoverage on hand-made histograms", () => {
  const half = classCoverage([0, 1, 0, 1], 4);
  assert.deepEqual(half.histogram, [2, 2, 0, 0]);
  assert.equal(half.classesCovered, 2);
  close(half.entropy, Math.log(2), 1e-15, "entropy");
  close(half.normalizedEntropy, 0.5, 1e-15, "normalized");

  const collapsed = classCoverage(new Int32Array(50).fill(3), 10);
  assert.equal(collapsed.classesCovered, 1);
  assert.equal(collapsed.entropy, 0);

  const skew = classCoverage([0, 0, 0, 1], 2);
  const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
  close(skew.entropy, h, 1e-15, "skewed entropy");

  const all = classCoverage(Int32Array.from({ length: 30 }, (_, i) => i % 10), 10);
  close(all.normalizedEntropy, 1, 1e-15, "balanced");
  assert.throws(() => classCoverage([0, 10], 10), RangeError);
});

Deno.test("labelAccuracy", () => {
  assert.equal(labelAccuracy([0, 1, 2, 3], new Int32Array([0, 1, 0, 3])), 0.75);
  assert.throws(() => labelAccuracy([0, 1], [0]), RangeError);
});
