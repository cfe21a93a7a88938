/**
 * The GAN objectives of the nine papers, as pure functions of tfjs tensors.
 *
 * Every function returns a scalar that is the *mean* over its inputs (PyTorch's default
 * `reduction="mean"`), so it can be handed straight to `tf.variableGrads`. Losses on a discriminator
 * take raw scores ("logits") and never apply a sigmoid and then a log: log σ(x) = −softplus(−x) is
 * exact and finite for every float32 x, while log(sigmoid(x)) is −∞ once sigmoid rounds to 0 or 1
 * (at x ≈ −88 and x ≈ 17 in float32).
 *
 * Penalties that involve ∇ₓD ({@link gradientPenalty}, {@link r1Penalty}) take the critic as a
 * function and differentiate it with `tf.grad` inside, so an outer `tf.variableGrads` differentiates
 * through that gradient (double backpropagation). Stock tfjs-core 4.22 gets this wrong for
 * tanh/sigmoid/exp/elu (silently) and leakyRelu (throws); `lib/tf.ts` registers corrected
 * gradients for those five, so they may be used in a penalized critic. Still unusable there:
 * `tf.prelu`, `tf.maximum`, `tf.clipByValue` (comparison masks: "gradient function not found for
 * Greater/Less"), `tf.avgPool`, `tf.maxPool`, `tf.image.resize*` (their backward kernels have no
 * gradient) and `tf.stridedSlice` (no gradient at all): use average pooling as reshape + mean,
 * nearest upsampling as reshape + tile/concat, and `tf.slice`.
 * Linear layers, conv2d (any stride), conv2dTranspose, depthwise conv, relu, sqrt, square, mean,
 * sum, reshape, slice and concat differentiate twice correctly.
 *
 * @module
 */
import { tf } from "./tf.ts";

/** A binary target: all-zeros, all-ones, or a tensor of per-element targets in [0, 1]. */
export type BinaryTarget = 0 | 1 | tf.Tensor;

function targetLike(x: tf.Tensor, target: BinaryTarget): tf.Tensor {
  return typeof target === "number" ? tf.fill(x.shape, target) : target;
}

/**
 * Binary cross-entropy on logits, mean over all elements — PyTorch's `BCEWithLogitsLoss`:
 * ℓ(x, t) = −[t·log σ(x) + (1 − t)·log(1 − σ(x))] = t·softplus(−x) + (1 − t)·softplus(x).
 *
 * Written with softplus, which is finite for every x, so ±100 logits give exact losses (0 or 100)
 * and finite gradients (σ(x) − t).
 */
export function bceWithLogits(logits: tf.Tensor, target: BinaryTarget): tf.Scalar {
  return tf.tidy(() => {
    if (target === 1) return tf.mean(tf.softplus(tf.neg(logits))) as tf.Scalar;
    if (target === 0) return tf.mean(tf.softplus(logits)) as tf.Scalar;
    const t = targetLike(logits, target);
    const pos = tf.mul(t, tf.softplus(tf.neg(logits)));
    const neg = tf.mul(tf.sub(1, t), tf.softplus(logits));
    return tf.mean(tf.add(pos, neg)) as tf.Scalar;
  });
}

/** PyTorch's BCELoss clamps each log at −100 so that a probability of exactly 0 or 1 stays finite. */
const BCE_LOG_FLOOR = -100;
/** PyTorch's BCELoss backward divides by max(p·(1 − p), 1e-12). */
const BCE_GRAD_EPS = 1e-12;

/**
 * Binary cross-entropy on probabilities (sigmoid outputs), mean over all elements — PyTorch's
 * `nn.BCELoss`, which the PyTorch-GAN reference scripts use on a discriminator ending in a sigmoid:
 * ℓ(p, t) = −[t·max(log p, −100) + (1 − t)·max(log(1 − p), −100)].
 *
 * The gradient is PyTorch's: ∂ℓ/∂p = (p − t) / max(p(1 − p), 1e-12) / N. Built from tfjs ops, the
 * clamp's gradient at p = 0 or 1 would be 0·(1/0) = NaN even for the term that `t` zeroes out,
 * which happens as soon as a float32 sigmoid saturates (|logit| ≳ 17). Prefer
 * {@link bceWithLogits}; this exists to match the reference scripts. The target gets no gradient.
 */
export function bce(probs: tf.Tensor, target: BinaryTarget): tf.Scalar {
  const t = targetLike(probs, target);
  const f = tf.customGrad((p, tt, save) => {
    const pp = p as tf.Tensor, ttt = tt as tf.Tensor;
    (save as tf.GradSaveFunc)([pp, ttt]);
    const logP = tf.maximum(tf.log(pp), BCE_LOG_FLOOR);
    const log1mP = tf.maximum(tf.log(tf.sub(1, pp)), BCE_LOG_FLOOR);
    const value = tf.neg(tf.mean(tf.add(tf.mul(ttt, logP), tf.mul(tf.sub(1, ttt), log1mP))));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sp, st] = saved;
      const denom = tf.maximum(tf.mul(sp, tf.sub(1, sp)), BCE_GRAD_EPS);
      const dp = tf.mul(tf.div(tf.sub(sp, st), denom), tf.div(dy, sp.size));
      return [dp, tf.zerosLike(st)];
    };
    return { value: value as tf.Scalar, gradFunc };
  });
  const out = f(probs, t) as tf.Scalar;
  if (t !== target) t.dispose();
  return out;
}

/**
 * The discriminator's side of the minimax game (Goodfellow et al. 2014, eq. 1):
 * −E_x[log D(x)] − E_z[log(1 − D(G(z)))] with D = σ(logits).
 *
 * This is the sum of the two BCE terms. The PyTorch-GAN scripts report (real + fake) / 2; halving
 * only rescales the discriminator's learning rate. At the optimal D* = p/(p + q) it equals
 * log 4 − 2·JS(p‖q) (Goodfellow et al. 2014, Theorem 1).
 */
export function discriminatorMinimax(realLogits: tf.Tensor, fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(bceWithLogits(realLogits, 1), bceWithLogits(fakeLogits, 0)));
}

/**
 * The generator's side of the original minimax game (Goodfellow et al. 2014, eq. 1):
 * E_z[log(1 − D(G(z)))] = −E[softplus(logit)], minimized by G. It saturates: when D confidently
 * rejects fakes (logit → −∞) its gradient σ(logit) vanishes, which is why the paper trains G with
 * {@link generatorNonSaturating} in practice.
 */
export function generatorMinimax(fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.softplus(fakeLogits))) as tf.Scalar);
}

/**
 * The non-saturating generator loss (Goodfellow et al. 2014, Section 3: "train G to maximize
 * log D(G(z))"): −E_z[log D(G(z))] = E[softplus(−logit)] — BCE of the fakes against label 1.
 */
export function generatorNonSaturating(fakeLogits: tf.Tensor): tf.Scalar {
  return bceWithLogits(fakeLogits, 1);
}

/**
 * The WGAN critic loss (Arjovsky et al. 2017, Algorithm 1; Gulrajani et al. 2017, eq. 3 without the
 * penalty): E[D(G(z))] − E[D(x)]. Minimizing it maximizes the Kantorovich–Rubinstein estimate of
 * W1 for a 1-Lipschitz critic; scores are unbounded real numbers, not logits.
 */
export function criticWasserstein(realScores: tf.Tensor, fakeScores: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sub(tf.mean(fakeScores), tf.mean(realScores)) as tf.Scalar);
}

/** The WGAN generator loss (Arjovsky et al. 2017, Algorithm 1): −E[D(G(z))]. */
export function generatorWasserstein(fakeScores: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(fakeScores)) as tf.Scalar);
}

/**
 * Added inside the square root of ‖∇‖²: d√s/ds = 1/(2√s) is infinite at s = 0 (a critic that is flat
 * at x̂), and infinity times the zero gradient of s is NaN. With 1e-12 the slope is at most 5·10⁵ and
 * the norm moves by at most 1e-6, which float32 does not even register once ‖∇‖² ≳ 1e-5.
 */
const NORM_EPS = 1e-12;

/** Per-sample squared L2 norm of a [B, ...] tensor, as a [B] tensor. */
function perSampleSquaredNorm(g: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.square(tf.reshape(g, [g.shape[0], -1])), 1) as tf.Tensor1D;
}

/**
 * The WGAN-GP gradient penalty (Gulrajani et al. 2017, eq. 3 and Algorithm 1):
 * E_x̂[(‖∇_x̂ D(x̂)‖₂ − target)²] with x̂ = ε·x_real + (1 − ε)·x_fake, one ε ~ U[0, 1] per sample.
 * The caller multiplies by λ (10 in the paper).
 *
 * `eps` comes from the caller's seeded Rng, shaped to broadcast over a sample ([B, 1, 1, 1] for
 * NHWC images, [B, 1] for vectors). ∇_x̂ is taken with `tf.grad` of ΣD(x̂) — samples do not interact,
 * so that is each sample's own gradient — inside the caller's tape, so `tf.variableGrads` of the
 * result differentiates through it to the critic's variables. The critic must use only ops that
 * differentiate twice in tfjs (see the module doc). `target` is 1 in WGAN-GP;
 * ProGAN's variant uses 750 with a rescaled penalty. The norm is √(‖∇‖² + 1e-12) (see NORM_EPS).
 */
export function gradientPenalty(
  critic: (x: tf.Tensor) => tf.Tensor,
  real: tf.Tensor,
  fake: tf.Tensor,
  eps: tf.Tensor,
  target = 1,
): tf.Scalar {
  return tf.tidy(() => {
    const xHat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake));
    const grad = tf.grad((x: tf.Tensor) => tf.sum(critic(x)))(xHat);
    const norm = tf.sqrt(tf.add(perSampleSquaredNorm(grad), NORM_EPS));
    return tf.mean(tf.square(tf.sub(norm, target))) as tf.Scalar;
  });
}

/**
 * The R1 penalty (Mescheder et al. 2018, eq. 9; StyleGAN2's `loss_Dr1`): E_x[‖∇_x D(x)‖²] / 2 on
 * real data only. The caller multiplies by γ (StyleGAN2: γ/2 · ‖∇‖², i.e. γ times this value), and
 * may apply it lazily every 16 steps. Same double-backprop rules as {@link gradientPenalty}.
 */
export function r1Penalty(
  discriminator: (x: tf.Tensor) => tf.Tensor,
  real: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const grad = tf.grad((x: tf.Tensor) => tf.sum(discriminator(x)))(real);
    return tf.mul(tf.mean(perSampleSquaredNorm(grad)), 0.5) as tf.Scalar;
  });
}

/**
 * ProGAN's drift term (Karras et al. 2018, Appendix A.1): ε_drift·E_x[D(x)²] with ε_drift = 0.001,
 * added to the critic loss to keep the scores of real images from drifting far from zero.
 */
export function driftPenalty(realScores: tf.Tensor, epsDrift = 0.001): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.square(realScores)), epsDrift) as tf.Scalar);
}

/**
 * The hinge discriminator loss (Miyato et al. 2018, eq. 16; Lim & Ye 2017):
 * E_x[relu(1 − D(x))] + E_z[relu(1 + D(G(z)))].
 */
export function discriminatorHinge(realScores: tf.Tensor, fakeScores: tf.Tensor): tf.Scalar {
  return tf.tidy(() =>
    tf.add(
      tf.mean(tf.relu(tf.sub(1, realScores))),
      tf.mean(tf.relu(tf.add(1, fakeScores))),
    ) as tf.Scalar
  );
}

/** The hinge generator loss (Miyato et al. 2018, eq. 17): −E_z[D(G(z))]. */
export function generatorHinge(fakeScores: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(fakeScores)) as tf.Scalar);
}

/**
 * Least-squares GAN loss (Mao et al. 2017, eq. 2 with a = 0, b = c = 1): mean((pred − target)²).
 * CycleGAN (Zhu et al. 2017, Section 4) uses it with target 1 for real and 0 for fake, i.e.
 * PyTorch's `MSELoss` against a constant.
 */
export function lsgan(pred: tf.Tensor, target: number): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(pred, target))) as tf.Scalar);
}

/**
 * Mean absolute error, mean(|a − b|) — CycleGAN's cycle-consistency and identity losses (Zhu et al.
 * 2017, eq. 2), PyTorch's `L1Loss`.
 */
export function l1(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b))) as tf.Scalar);
}
