/**
 * Sample-quality metrics as plain math on typed arrays (no tfjs): the Fréchet distance between
 * Gaussians fitted to features (the "FID" formula of Heusel et al. 2017), the Inception Score
 * (Salimans et al. 2016), class coverage and label accuracy. `lib/eval.ts` feeds them with the
 * features and class probabilities of our MNIST-family classifier (`lib/classifier.ts`).
 *
 * Matrices are dense, row-major `Float64Array`s of d×d entries; everything is computed in float64.
 *
 * @module
 */

/** Numeric vectors accepted as input. */
export type Vec = Float64Array | Float32Array | ArrayLike<number>;

/** Eigenvalues and eigenvectors of a symmetric matrix: A = V diag(values) Vᵀ. */
export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Row-major d×d matrix whose column j is the unit eigenvector of `values[j]`. */
  vectors: Float64Array;
}

function checkSquare(a: Vec, d: number, what: string): void {
  if (!Number.isInteger(d) || d <= 0) throw new RangeError(`${what}: bad dimension ${d}`);
  if (a.length !== d * d) {
    throw new RangeError(`${what}: expected ${d}×${d} = ${d * d} entries, got ${a.length}`);
  }
}

/**
 * Eigen-decomposition of a symmetric d×d matrix by the cyclic Jacobi method: sweep over all
 * off-diagonal pairs (p, q), each time applying the plane rotation that zeroes a_pq, until the
 * off-diagonal mass is negligible. It is slower than QR-based methods (≈10 sweeps of O(d³)) but
 * simple, unconditionally stable, and accurate for the tiny eigenvalues of near-singular
 * covariance matrices — which is what the Fréchet distance needs. The input is symmetrized
 * ((A + Aᵀ)/2) and not modified.
 */
export function symmetricEigen(a: Vec, d: number): SymmetricEigen {
  checkSquare(a, d, "symmetricEigen");
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) m[i * d + j] = 0.5 * (a[i * d + j] + a[j * d + i]);
  }
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;

  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += Math.abs(m[p * d + q]);
    if (off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (apq === 0) continue;
        // An element too small to change either diagonal entry in float64 is set to zero: this is
        // what ends the iteration (off reaches exactly 0), and as the test is relative to each
        // diagonal entry, tiny eigenvalues keep their relative accuracy.
        const g = 100 * Math.abs(apq);
        const app = Math.abs(m[p * d + p]), aqq = Math.abs(m[q * d + q]);
        if (sweep > 3 && app + g === app && aqq + g === aqq) {
          m[p * d + q] = m[q * d + p] = 0;
          continue;
        }
        // Choose t = tan(angle) as the smaller root of t² + 2θt − 1 = 0, so |angle| ≤ π/4:
        // that is what makes the cyclic method converge (quadratically, in the end).
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J with J the rotation in the (p, q) plane: first the columns, then the rows.
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p], akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k], aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
        m[p * d + q] = m[q * d + p] = 0; // exactly zero by construction; drop the rounding residue
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p], vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Sort ascending, permuting eigenvector columns along.
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => m[i * d + i] - m[j * d + j]);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  order.forEach((src, j) => {
    values[j] = m[src * d + src];
    for (let k = 0; k < d; k++) vectors[k * d + j] = v[k * d + src];
  });
  return { values, vectors };
}

/** Product of two row-major d×d matrices. */
export function matMul(a: Vec, b: Vec, d: number): Float64Array {
  checkSquare(a, d, "matMul");
  checkSquare(b, d, "matMul");
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
    }
  }
  return out;
}

/**
 * The principal square root of a symmetric positive semi-definite matrix, V diag(√λ) Vᵀ, with
 * eigenvalues clamped at 0 (rounding can make a PSD matrix's smallest ones slightly negative).
 */
export function sqrtPsd(a: Vec, d: number): Float64Array {
  const { values, vectors: v } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const r = Math.sqrt(Math.max(values[j], 0));
    if (r === 0) continue;
    for (let i = 0; i < d; i++) {
      const vij = v[i * d + j] * r;
      for (let k = 0; k < d; k++) out[i * d + k] += vij * v[k * d + j];
    }
  }
  return out;
}

/**
 * Tr((Σ1 Σ2)^{1/2}) for symmetric PSD Σ1, Σ2, computed as Tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}).
 *
 * Why this form: Σ1Σ2 is not symmetric, so a general `sqrtm` (scipy's, via a complex Schur form)
 * returns a complex matrix with rounding-noise imaginary parts that FID code must discard, and it
 * is unstable when Σ1Σ2 is near-singular (pytorch-fid adds εI and retries). But
 * Σ1Σ2 = Σ1^{1/2} (Σ1^{1/2} Σ2 Σ1^{1/2}) Σ1^{-1/2} is similar to the symmetric PSD matrix
 * M = Σ1^{1/2} Σ2 Σ1^{1/2} (for singular Σ1 by continuity), so both have the same real eigenvalues
 * λ ≥ 0, and the trace of the principal square root is Σ √λ — two symmetric eigenproblems, all
 * real, no imaginary parts to clean up.
 */
export function traceSqrtProduct(sigma1: Vec, sigma2: Vec, d: number): number {
  checkSquare(sigma1, d, "traceSqrtProduct");
  checkSquare(sigma2, d, "traceSqrtProduct");
  const s = sqrtPsd(sigma1, d);
  const m = matMul(matMul(s, sigma2, d), s, d);
  const { values } = symmetricEigen(m, d);
  let tr = 0;
  for (const l of values) tr += Math.sqrt(Math.max(l, 0));
  return tr;
}

/**
 * Fréchet (2-Wasserstein²) distance between N(μ1, Σ1) and N(μ2, Σ2):
 * ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^{1/2}). The dimension is `mu1.length`; covariances are
 * row-major d×d. The exact value is ≥ 0, so a rounding-level negative result is returned as 0.
 */
export function frechetDistance(mu1: Vec, sigma1: Vec, mu2: Vec, sigma2: Vec): number {
  const d = mu1.length;
  if (mu2.length !== d) throw new RangeError(`frechetDistance: means differ in length`);
  checkSquare(sigma1, d, "frechetDistance sigma1");
  checkSquare(sigma2, d, "frechetDistance sigma2");
  let dist = 0;
  for (let i = 0; i < d; i++) dist += (mu1[i] - mu2[i]) ** 2;
  for (let i = 0; i < d; i++) dist += sigma1[i * d + i] + sigma2[i * d + i];
  dist -= 2 * traceSqrtProduct(sigma1, sigma2, d);
  return Math.max(dist, 0);
}

/** Mean vector and covariance matrix of a set of feature vectors. */
export interface MeanCov {
  /** Mean, length d. */
  mean: Float64Array;
  /** Unbiased (n − 1) covariance, row-major d×d — numpy's `np.cov(x, rowvar=False)`. */
  cov: Float64Array;
}

/** Mean and unbiased covariance of n row-major feature vectors of dimension d (n ≥ 2). */
export function meanCov(features: Vec, n: number, d: number): MeanCov {
  if (features.length !== n * d) {
    throw new RangeError(`meanCov: expected ${n}×${d} = ${n * d} values, got ${features.length}`);
  }
  if (n < 2) throw new RangeError(`meanCov: need at least 2 samples, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += features[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  // Center first (two passes) rather than E[xxᵀ] − μμᵀ, which loses digits to cancellation.
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j] = features[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const xa = x[a];
      for (let b = a; b < d; b++) cov[a * d + b] += xa * x[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) cov[a * d + b] = cov[b * d + a] = cov[a * d + b] / (n - 1);
  }
  return { mean, cov };
}

/** A score's mean and standard deviation over splits. */
export interface MeanStd {
  /** Mean over splits. */
  mean: number;
  /** Population standard deviation over splits. */
  std: number;
}

/**
 * Inception Score of n class-probability rows (row-major n×k): exp(E_x KL(p(y|x) ‖ p(y))), with
 * p(y) the mean prediction. As in Salimans et al.'s code, the samples are cut into `splits`
 * consecutive parts, the score is computed per part, and the mean and (population) standard
 * deviation over parts are returned. Ranges from 1 (every sample gets the same prediction) to k
 * (confident predictions, all classes equally often).
 */
export function inceptionScore(probs: Vec, n: number, k: number, splits = 10): MeanStd {
  if (probs.length !== n * k) {
    throw new RangeError(
      `inceptionScore: expected ${n}×${k} = ${n * k} values, got ${probs.length}`,
    );
  }
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new RangeError(`inceptionScore: splits must be an integer in 1..${n}, got ${splits}`);
  }
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const lo = Math.floor((s * n) / splits), hi = Math.floor(((s + 1) * n) / splits);
    const py = new Float64Array(k);
    for (let i = lo; i < hi; i++) for (let j = 0; j < k; j++) py[j] += probs[i * k + j];
    for (let j = 0; j < k; j++) py[j] /= hi - lo;
    let kl = 0;
    for (let i = lo; i < hi; i++) {
      for (let j = 0; j < k; j++) {
        const p = probs[i * k + j];
        if (p > 0) kl += p * Math.log(p / py[j]); // 0 · log 0 = 0
      }
    }
    scores.push(Math.exp(kl / (hi - lo)));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits);
  return { mean, std };
}

/** How the predicted classes of a sample set spread over the k classes. */
export interface Coverage {
  /** Number of classes predicted at least once. */
  classesCovered: number;
  /** Count of predictions per class. */
  histogram: number[];
  /** Entropy of the predicted-class distribution, in nats (log k when perfectly balanced). */
  entropy: number;
  /** `entropy / log k`: 1 for balanced classes, 0 for a single class (mode collapse). */
  normalizedEntropy: number;
}

/** Class coverage of predicted labels in 0..k−1 (a mode-collapse indicator). */
export function classCoverage(preds: ArrayLike<number>, k: number): Coverage {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`classCoverage: bad class count ${k}`);
  const histogram = new Array<number>(k).fill(0);
  for (let i = 0; i < preds.length; i++) {
    const c = preds[i];
    if (!(Number.isInteger(c) && c >= 0 && c < k)) {
      throw new RangeError(`classCoverage: prediction ${c} at ${i} is not in 0..${k - 1}`);
    }
    histogram[c]++;
  }
  let entropy = 0;
  for (const c of histogram) {
    if (c > 0) entropy -= (c / preds.length) * Math.log(c / preds.length);
  }
  return {
    classesCovered: histogram.filter((c) => c > 0).length,
    histogram,
    entropy,
    normalizedEntropy: k > 1 ? entropy / Math.log(k) : 0,
  };
}

/**
 * Fraction of samples whose predicted class equals the class they were generated for — how well a
 * conditional generator (CGAN) obeys its label.
 */
export function labelAccuracy(preds: ArrayLike<number>, requested: ArrayLike<number>): number {
  if (preds.length !== requested.length) {
    throw new RangeError(
      `labelAccuracy: ${preds.length} predictions vs ${requested.length} labels`,
    );
  }
  if (preds.length === 0) throw new RangeError("labelAccuracy: no samples");
  let hit = 0;
  for (let i = 0; i < preds.length; i++) if (preds[i] === requested[i]) hit++;
  return hit / preds.length;
}
