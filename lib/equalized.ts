/**
 * Building blocks shared by ProGAN (Karras et al. 2018) and StyleGAN2 (Karras et al. 2020):
 * equalized-learning-rate layers, pixel normalization, minibatch standard deviation, 2× nearest
 * upsampling and 2×2 average pooling, and the exponential moving average of generator weights.
 *
 * **Equalized learning rate** (ProGAN §4.1): weights are *stored* as N(0, 1) and multiplied at run
 * time by the He constant c = gain/√fan_in. The forward pass is that of a He-initialized layer, but
 * Adam's update (≈ lr per step whatever the gradient's scale) now moves every layer's effective
 * weights by ≈ c·lr, so layers with large fan-in no longer learn more slowly relative to their
 * weights' scale. StyleGAN's **learning-rate multiplier** λ (the mapping network uses 0.01) extends
 * this: stored weights are N(0, 1/λ²), the run-time factor is c·λ, and the bias is multiplied by λ.
 * The effective weights still start He-initialized, but move λ× slower. (As in the reference code:
 * `init_std = 1/lrmul`, `runtime_coef = he_std·lrmul`, `b·lrmul`.)
 *
 * Every op here differentiates twice in tfjs-core 4.22, because R1, the WGAN-GP penalty and the
 * path-length regularizer differentiate through ∇ (see lib/losses.ts): LeakyReLU is written
 * through `relu`, average pooling through `reshape` + `mean`, and nearest upsampling carries its
 * own gradient (`tf.leakyRelu`, `tf.avgPool` and `tf.image.resizeNearestNeighbor` have no
 * second-order gradient in tfjs-core 4.22).
 *
 * @module
 */
import { tf } from "./tf.ts";
import type { Rng } from "./random.ts";
import { Module } from "./nn.ts";

/**
 * The run-time weight factor of an equalized layer: gain/√fan_in · lrMul. ProGAN uses gain √2
 * (He) for layers followed by LeakyReLU and 1 for the linear toRGB/output layers; StyleGAN2 uses
 * gain 1 everywhere and multiplies the activation by √2 instead.
 */
export function equalizedScale(fanIn: number, gain: number = Math.SQRT2, lrMul = 1): number {
  return gain / Math.sqrt(fanIn) * lrMul;
}

/** Options of {@link EqualizedLinear} and {@link EqualizedConv2d}. */
export interface EqualizedOptions {
  /** He gain (default √2). */
  gain?: number;
  /** Learning-rate multiplier λ (default 1; StyleGAN's mapping network: 0.01). */
  lrMul?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Initial stored bias value; the effective bias is this times lrMul (default 0). */
  biasInit?: number;
}

/** Fully connected layer with equalized learning rate: y = x·(W·c·λ) + b·λ, W stored N(0, 1/λ²). */
export class EqualizedLinear extends Module {
  /** Stored weight, [in, out], N(0, 1/λ²); used times {@link EqualizedLinear.scale}. */
  readonly weight: tf.Variable;
  /** Stored bias, [out], used times λ; absent when `bias` is false. */
  readonly bias?: tf.Variable;
  /** The run-time factor c·λ applied to the stored weight. */
  readonly scale: number;
  /** λ, applied to the stored bias. */
  readonly lrMul: number;

  /** A layer from `inFeatures` to `outFeatures`; `rng` draws the stored weight. */
  constructor(rng: Rng, inFeatures: number, outFeatures: number, opts: EqualizedOptions = {}) {
    super();
    this.lrMul = opts.lrMul ?? 1;
    this.scale = equalizedScale(inFeatures, opts.gain ?? Math.SQRT2, this.lrMul);
    this.weight = this.param("weight", rng.randn([inFeatures, outFeatures], 0, 1 / this.lrMul));
    if (opts.bias ?? true) {
      this.bias = this.param("bias", tf.fill([outFeatures], opts.biasInit ?? 0));
    }
  }

  /** [B, in] → [B, out]. */
  apply(x: tf.Tensor): tf.Tensor2D {
    const w = tf.mul(this.weight, this.scale) as tf.Tensor2D;
    const y = tf.matMul(x as tf.Tensor2D, w) as tf.Tensor2D;
    return this.bias ? tf.add(y, tf.mul(this.bias, this.lrMul)) as tf.Tensor2D : y;
  }
}

/**
 * Stride-1 convolution with equalized learning rate and "same" padding (odd kernels: 1×1, 3×3),
 * NHWC, weight [k, k, in, out] stored N(0, 1/λ²); fan_in = k·k·in.
 */
export class EqualizedConv2d extends Module {
  /** Stored weight, [k, k, in, out], N(0, 1/λ²); used times {@link EqualizedConv2d.scale}. */
  readonly weight: tf.Variable;
  /** Stored bias, [out], used times λ; absent when `bias` is false. */
  readonly bias?: tf.Variable;
  /** The run-time factor c·λ applied to the stored weight (fan_in = k·k·in). */
  readonly scale: number;
  /** λ, applied to the stored bias. */
  readonly lrMul: number;

  /**
   * A `kernel`×`kernel` layer (odd `kernel`, else it throws) from `inChannels` to `outChannels`
   * channels; `rng` draws the stored weight.
   */
  constructor(
    rng: Rng,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    opts: EqualizedOptions = {},
  ) {
    super();
    if (kernel % 2 !== 1) throw new Error(`EqualizedConv2d: kernel must be odd, got ${kernel}`);
    this.lrMul = opts.lrMul ?? 1;
    this.scale = equalizedScale(kernel * kernel * inChannels, opts.gain ?? Math.SQRT2, this.lrMul);
    const shape = [kernel, kernel, inChannels, outChannels];
    this.weight = this.param("weight", rng.randn(shape, 0, 1 / this.lrMul));
    if (opts.bias ?? true) {
      this.bias = this.param("bias", tf.fill([outChannels], opts.biasInit ?? 0));
    }
  }

  /** [B, H, W, in] → [B, H, W, out]. */
  apply(x: tf.Tensor): tf.Tensor4D {
    const w = tf.mul(this.weight, this.scale) as tf.Tensor4D;
    const y = tf.conv2d(x as tf.Tensor4D, w, 1, "same");
    return this.bias ? tf.add(y, tf.mul(this.bias, this.lrMul)) as tf.Tensor4D : y;
  }
}

/**
 * LeakyReLU times `gain` (StyleGAN2 uses √2 to keep the signal's magnitude). Twice
 * differentiable (R1, path length) through the corrected gradient registered in lib/tf.ts.
 */
export function lrelu(x: tf.Tensor, slope = 0.2, gain = 1): tf.Tensor {
  return tf.mul(tf.leakyRelu(x, slope), gain);
}

/**
 * Pixel-wise feature normalization (ProGAN §4.2, eq. 2): b = a / √(mean_c a² + ε), over the last
 * (channel) axis, ε = 1e-8. Also StyleGAN's normalization of z.
 */
export function pixelNorm(x: tf.Tensor, eps = 1e-8): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
}

/**
 * 2× nearest-neighbour upsampling of NHWC images: every pixel becomes a 2×2 block. The forward pass
 * is `tf.image.resizeNearestNeighbor` (a fast kernel on every backend), but its tfjs gradient has
 * no gradient of its own; so the gradient is given here as what it is, a 2×2 sum pool
 * (4·{@link downsample2x}), which differentiates again — needed by StyleGAN2's path-length term.
 */
export const upsample2x: (x: tf.Tensor) => tf.Tensor4D = tf.customGrad((input) => {
  const x = input as tf.Tensor4D;
  const [, h, w] = x.shape;
  return {
    value: tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]),
    gradFunc: (dy: tf.Tensor) => tf.mul(downsample2x(dy), 4),
  };
}) as (x: tf.Tensor) => tf.Tensor4D;

/** 2×2 average pooling with stride 2 of NHWC images (H, W even), via reshape + mean. */
export function downsample2x(x: tf.Tensor): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.mean(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D;
}

/** Repeated {@link downsample2x} from `x`'s size down to `size` (a power-of-two fraction). */
export function downsampleTo(x: tf.Tensor, size: number): tf.Tensor4D {
  let y = x as tf.Tensor4D;
  while (y.shape[1] > size) y = downsample2x(y);
  if (y.shape[1] !== size) throw new Error(`downsampleTo: cannot reach ${size} from ${x.shape[1]}`);
  return y;
}

/** a + (b − a)·t: ProGAN's fade-in blend (t = α) and StyleGAN's truncation (t = ψ). */
export function lerp(a: tf.Tensor, b: tf.Tensor, t: number | tf.Tensor): tf.Tensor {
  return tf.add(a, tf.mul(tf.sub(b, a), t));
}

/**
 * Minibatch standard deviation (ProGAN §3, reference `minibatch_stddev_layer`): split the batch
 * into groups of G = min(groupSize, B) samples — sample b joins group b mod (B/G), as the
 * reference's reshape to [G, B/G, …] does — take each feature's standard deviation over its group
 * (biased, + 1e-8 inside the root), average it over all features and pixels, and append that one
 * number per group as an extra constant feature map of each of its members. B must be divisible by G.
 *
 * The sums over the group and the broadcasts back are matrix products with constant vectors: the
 * same arithmetic as reductions over a rank-5 tensor, but on tfjs's fastest kernel.
 */
export function minibatchStddev(x: tf.Tensor, groupSize = 4): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const g = Math.min(groupSize, b);
  if (b % g !== 0) {
    throw new Error(`minibatchStddev: batch ${b} is not divisible by group size ${g}`);
  }
  const m = b / g;
  const y = tf.reshape(x, [g, m * h * w * c]); // row k holds the k-th member of every group
  const meanRow = tf.fill([1, g], 1 / g);
  const centred = tf.sub(y, tf.matMul(meanRow, y));
  const std = tf.sqrt(tf.add(tf.matMul(meanRow, tf.square(centred)), 1e-8)); // [1, M·H·W·C]
  const perGroup = tf.mean(tf.reshape(std, [m, h * w * c]), 1, true); // [M, 1]
  // Group value → each member (row b of [G, M] is sample b) → each pixel.
  const perSample = tf.matMul(tf.ones([g, 1]), tf.reshape(perGroup, [1, m]));
  const map = tf.matMul(tf.reshape(perSample, [b, 1]), tf.ones([1, h * w]));
  return tf.concat([x as tf.Tensor4D, tf.reshape(map, [b, h, w, 1]) as tf.Tensor4D], 3);
}

/**
 * The EMA decay per step for a half-life given in images: β = 0.5^(batch / halfLife). StyleGAN2
 * uses a 10k-image half-life (β ≈ 0.9978 at batch 32); ProGAN's β = 0.999 at batch 16 is a
 * half-life of ≈ 11k images.
 */
export function emaBeta(batchSize: number, halfLifeImages: number): number {
  return halfLifeImages > 0 ? Math.pow(0.5, batchSize / halfLifeImages) : 0;
}

/**
 * One step of the generator's weight average (ProGAN Appendix A.1, StyleGAN's `Gs`): every trainable
 * variable of `target` becomes β·target + (1 − β)·source; buffers (running averages such as
 * StyleGAN's w̄) are copied, as the reference's `setup_as_moving_average_of` does. `target` and
 * `source` must be built alike.
 */
export function emaUpdate(target: Module, source: Module, beta: number): void {
  const src = source.namedVariables(), dst = target.namedVariables();
  if (src.length !== dst.length) throw new Error("emaUpdate: modules differ");
  tf.tidy(() => {
    dst.forEach((d, i) => {
      const s = src[i].variable;
      d.variable.assign(d.trainable ? lerp(s, d.variable, beta) : s);
    });
  });
}

/**
 * Gradients for every variable of `vars`, in order: tfjs's `variableGrads` leaves out the variables
 * a loss does not depend on (a not-yet-faded-in ProGAN block), while our optimizers need one
 * gradient per variable, always in the same order. Missing ones become zeros.
 */
export function gradsInOrder(
  vars: tf.Variable[],
  grads: Record<string, tf.Tensor>,
): tf.Tensor[] {
  return vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
}
