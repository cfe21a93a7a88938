/**
 * StyleGAN2 — Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the Image
 * Quality of StyleGAN", CVPR 2020, configuration F, scaled down. Reference implementation:
 * github.com/NVlabs/stylegan2 (training/networks_stylegan2.py, loss.py, training_loop.py).
 *
 * Generator: a mapping network z → w (pixel-normalized z, 8 fully connected layers, LeakyReLU 0.2,
 * learning-rate multiplier 0.01), and a synthesis network that starts from a learned constant 4×4
 * input and applies, per resolution, two 3×3 *modulated and demodulated* convolutions (§2.2, Fig. 2)
 * whose styles are affine maps of w, each followed by per-pixel noise with a learned per-channel
 * strength, a bias and LeakyReLU; the output is the sum of a modulated 1×1 toRGB at every resolution,
 * upsampled and added ("skip" generator, §4.1, Fig. 7). Discriminator: residual (§4.1), with
 * minibatch standard deviation before its last block. Loss: non-saturating logistic with lazy R1
 * (γ, every 16 minibatches, scaled by 16; App. B) and lazy path-length regularization (§3.2: every
 * 4 minibatches, weight 2, running mean with decay 0.01, half-size batches), style-mixing
 * regularization (p = 0.9), the running average w̄ of w as the truncation centre (β 0.995), an
 * exponential moving average of G's weights for sampling (half-life 10k images), and Adam(0.002,
 * β1 0, β2 0.99) with lr and β's adjusted for the lazy regularization (App. B: c = k/(k + 1)).
 *
 * Implementation choices, documented where they are made:
 * - Modulation uses the *fused* formulation "scale the input activations by the style, convolve with
 *   the shared weight, scale the outputs by the demodulation coefficients" (the reference's
 *   `fused_modconv=False` path). It equals a convolution with per-sample weights w'_{ijk} = s_i·w_{ijk}
 *   normalized per output channel (tested in test/stylegan2_test.ts), but is one ordinary batched
 *   convolution: no B copies of the weights, no grouped (depthwise) convolution, and it runs on the
 *   kernels every backend has.
 * - Resampling uses the paper's [1,3,3,1] FIR filter, built as nearest-neighbour upsampling or 2×2
 *   averaging composed with a [1,2,1] blur ([1,1] ∗ [1,2,1] = [1,3,3,1]; tested against the
 *   reference's formulas). The paper fuses the filter with a transposed (G) or strided (D) 3×3
 *   conv as "zero-insert, conv, blur" and "blur, conv, decimate"; here the conv sits on the other
 *   side of the blur (upsample, blur, conv; conv, blur, pool). Linear shift-invariant steps
 *   commute, so this differs only at the image borders (zero padding).
 * - Noise strengths are per channel, as in StyleGAN (2019) §2; StyleGAN2's code has one per layer.
 * - A lazy regularizer runs on the last minibatch of every k (the reference: the first), so that
 *   its value lands in losses.jsonl when `logEvery` is a multiple of k.
 * - w̄ is updated once per G forward in training (G step, D step, path-length step), each time
 *   from the batch's w before style mixing, as the reference's `dlatent_avg`.
 *
 * Offline default: MNIST resized to 32×32 (4 → 32: 8 style inputs), 64 feature maps (32 at 32²)
 * instead of 512, z and w of 64, batch 16, 5 epochs (300k images; config F: 25M), and
 * γ = 10·(R/1024)² (config F's γ = 10 at 1024² scaled with the image area, 0.01 at 32² —
 * StyleGAN2-ADA's CIFAR-10 value). `--dataset celeba` or `folder` defaults to 64×64;
 * `--paper-size` uses config F's widths (512) and batch (32).
 *
 *   deno task reproduce stylegan2            # offline default (MNIST 32×32, small widths)
 *   deno task reproduce stylegan2 --quick    # tiny widths, a few dozen steps: seconds on CPU
 *   deno task reproduce stylegan2 --dataset celeba --resolution 128 --paper-size --backend webgpu
 *
 * @module
 */
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { loadStateDict, Module } from "../lib/nn.ts";
import {
  downsample2x,
  emaBeta,
  emaUpdate,
  EqualizedConv2d,
  EqualizedLinear,
  gradsInOrder,
  lerp,
  lrelu,
  minibatchStddev,
  pixelNorm,
  upsample2x,
} from "../lib/equalized.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { discriminatorMinimax, generatorNonSaturating, r1Penalty } from "../lib/losses.ts";
import { epochOrder, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { Run } from "../lib/run.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { saveGrid } from "../lib/image.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { linePlotScene, savePlot } from "../lib/plot.ts";
import { UserError } from "../lib/fsutil.ts";

/** Hyperparameters; "paper" values are config F (StyleGAN2 Table 1, App. B and the reference code). */
export interface StyleGan2Config {
  /** Dataset (paper: FFHQ 1024², LSUN 256²…); offline default MNIST. */
  dataset: string;
  /** Use only the first `limit` training images (null = all). */
  limit: number | null;
  /** Output resolution R, a power of two ≥ 8 (images are resized to it). */
  resolution: number;
  /** Feature maps at resolution r: min(fmapBase / r, fmapMax); config F: 16384 and 512. */
  fmapBase: number;
  fmapMax: number;
  /** Dimensions of z and w (512 and 512). */
  latentDim: number;
  wDim: number;
  /** Mapping network depth (8) and its learning-rate multiplier (0.01). */
  mappingLayers: number;
  mappingLrMul: number;
  /** Probability of style mixing in training (0.9). */
  styleMixingProb: number;
  /** Minibatch (32). */
  batchSize: number;
  /** Adam before the lazy-regularization adjustment: lr 0.002, β1 0, β2 0.99, ε 1e-8. */
  lr: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** R1 weight γ (config F on FFHQ: 10) and interval (16 minibatches). */
  r1Gamma: number;
  r1Interval: number;
  /** Path-length weight (2), interval (4), running-mean decay (0.01), batch shrink (2). */
  plWeight: number;
  plInterval: number;
  plDecay: number;
  plBatchShrink: number;
  /** Decay of the running average w̄ of w (0.995). */
  wAvgBeta: number;
  /** Half-life in images of G's weight average (10k). */
  emaHalfLifeImages: number;
  /** Minibatch-stddev group size (4). */
  mbstdGroup: number;
  /** Passes over the dataset (the paper counts images: 25M for FFHQ). */
  epochs: number;
  /** Append to losses.jsonl every this many steps; checkpoint every this many steps. */
  logEvery: number;
  checkpointEvery: number;
  /** Epochs whose grids form the epoch-series figure. */
  seriesEpochs: number[];
}

/** Config F's γ = 10 at 1024², scaled with the image area: 10·(R/1024)². */
export function defaultR1Gamma(resolution: number): number {
  return 10 * (resolution / 1024) ** 2;
}

/** The offline default: config F's algorithm, scaled to MNIST 32×32 on a CPU (see module doc). */
export const PAPER_CONFIG: StyleGan2Config = {
  dataset: "mnist",
  limit: null,
  resolution: 32,
  fmapBase: 1024,
  fmapMax: 64,
  latentDim: 64,
  wDim: 64,
  mappingLayers: 8,
  mappingLrMul: 0.01,
  styleMixingProb: 0.9,
  batchSize: 16,
  lr: 0.002,
  beta1: 0,
  beta2: 0.99,
  adamEps: 1e-8,
  r1Gamma: defaultR1Gamma(32),
  r1Interval: 16,
  plWeight: 2,
  plInterval: 4,
  plDecay: 0.01,
  plBatchShrink: 2,
  wAvgBeta: 0.995,
  emaHalfLifeImages: 10_000,
  mbstdGroup: 4,
  epochs: 5,
  logEvery: 16, // a multiple of both regularizer intervals, so their values get logged
  checkpointEvery: 1000,
  seriesEpochs: [1, 2, 3, 4, 5],
};

/** `--paper-size`: config F's widths and minibatch (for a GPU). */
export const PAPER_SIZE: Partial<StyleGan2Config> = {
  fmapBase: 16384,
  fmapMax: 512,
  latentDim: 512,
  wDim: 512,
  batchSize: 32,
};

/**
 * `--quick`: 4–16 feature maps, 4 mapping layers, 160 images, 2 epochs of batch 8 (40 steps), R1
 * every 4 steps instead of 16 so that both regularizers run often.
 */
export const QUICK_CONFIG: StyleGan2Config = {
  ...PAPER_CONFIG,
  limit: 160,
  fmapBase: 128,
  fmapMax: 16,
  latentDim: 16,
  wDim: 16,
  mappingLayers: 4,
  batchSize: 8,
  r1Interval: 4,
  plInterval: 4,
  emaHalfLifeImages: 32,
  epochs: 2,
  logEvery: 1,
  checkpointEvery: 16,
  seriesEpochs: [1, 2],
};

/** Feature maps at resolution r. */
export function featureMaps(cfg: Pick<StyleGan2Config, "fmapBase" | "fmapMax">, r: number): number {
  return Math.max(1, Math.min(Math.floor(cfg.fmapBase / r), cfg.fmapMax));
}

/** Resolutions 4, 8, …, R. */
function resolutions(R: number): number[] {
  const n = Math.log2(R) - 1;
  if (!Number.isInteger(n) || n < 2) {
    throw new UserError(`stylegan2: resolution must be a power of two ≥ 8, got ${R}`);
  }
  return Array.from({ length: n }, (_, s) => 4 << s);
}

/** The number of style inputs (w copies): 2 per resolution, 2·log2(R) − 2. */
export function numWs(resolution: number): number {
  return 2 * resolutions(resolution).length;
}

/**
 * The resolution a style input acts on: inputs 2k and 2k + 1 belong to 4·2^k (StyleGAN's
 * numbering; input 2k + 1 drives both toRGB at 4·2^k and the first conv of the next resolution).
 */
export function wsResolution(index: number): number {
  return 4 << Math.floor(index / 2);
}

// ---------------------------------------------------------------------------------------------
// Mapping network, modulated convolution, synthesis network

/** Depthwise [1,2,1]ᵀ[1,2,1]/16 kernels, one per channel count (kept: shared by every call). */
const blurKernels = new Map<number, tf.Tensor4D>();

function blurKernel(channels: number): tf.Tensor4D {
  let k = blurKernels.get(channels);
  if (!k) {
    const taps = [1, 2, 1];
    const v = new Float32Array(9 * channels);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        v.fill(taps[i] * taps[j] / 16, (i * 3 + j) * channels, (i * 3 + j + 1) * channels);
      }
    }
    k = tf.keep(tf.tensor4d(v, [3, 3, channels, 1]));
    blurKernels.set(channels, k);
  }
  return k;
}

/**
 * The binomial blur [1,2,1]⊗[1,2,1]/16 per channel, zero-padded. Its gradient is itself (a
 * symmetric kernel with zero padding is self-adjoint), given explicitly so that it differentiates
 * again: tfjs has no gradient for the depthwise convolution's input gradient.
 */
export const blur121: (x: tf.Tensor) => tf.Tensor4D = tf.customGrad((input) => {
  const x = input as tf.Tensor4D;
  return {
    value: tf.depthwiseConv2d(x, blurKernel(x.shape[3]), 1, "same"),
    gradFunc: (dy: tf.Tensor) => blur121(dy),
  };
}) as (x: tf.Tensor) => tf.Tensor4D;

/**
 * The paper's 2× upsampling with the [1,3,3,1] FIR filter (reference `upsample_2d`): nearest
 * neighbour (zero insertion + [1,1]) then [1,2,1] — [1,1] ∗ [1,2,1] = [1,3,3,1] — so output pixel
 * 2i is (x[i−1] + 3x[i])/4 and 2i + 1 is (3x[i] + x[i+1])/4 per axis, zero outside.
 */
export function firUpsample2x(x: tf.Tensor): tf.Tensor4D {
  return blur121(upsample2x(x));
}

/**
 * The paper's 2× downsampling with the [1,3,3,1] filter (reference `downsample_2d`): [1,2,1] then
 * 2×2 averaging, i.e. y[i] = (x[2i−1] + 3x[2i] + 3x[2i+1] + x[2i+2])/8 per axis, zero outside.
 */
export function firDownsample2x(x: tf.Tensor): tf.Tensor4D {
  return downsample2x(blur121(x));
}

/** Mapping network: z → pixel norm → `layers` × (equalized FC, λ = lrMul, LeakyReLU·√2) → w. */
export class MappingNetwork extends Module {
  readonly layers: EqualizedLinear[] = [];

  constructor(rng: Rng, latentDim: number, wDim: number, layers: number, lrMul: number) {
    super();
    for (let i = 0; i < layers; i++) {
      const fc = new EqualizedLinear(rng, i === 0 ? latentDim : wDim, wDim, { gain: 1, lrMul });
      this.layers.push(this.child(`fc${i}`, fc));
    }
  }

  /** z [B, latent] → w [B, wDim]. */
  apply(z: tf.Tensor): tf.Tensor2D {
    let x = pixelNorm(z);
    for (const fc of this.layers) x = lrelu(fc.apply(x), 0.2, Math.SQRT2);
    return x as tf.Tensor2D;
  }
}

/** Options of {@link modulatedConv}. */
export interface ModConvOptions {
  demodulate: boolean;
  /** 2× upsampling with the [1,3,3,1] filter ({@link firUpsample2x}) before the convolution. */
  upsample?: boolean;
}

/**
 * Modulated convolution (StyleGAN2 §2.2, eqs. 1–3) in the fused formulation: with styles s [B, in]
 * and the shared weight w [k, k, in, out] (already scaled), y = conv(x ⊙ s, w) ⊙ d, where the
 * demodulation coefficients are d_bj = 1/√(Σ_{i,k} (s_bi·w_kij)² + 1e-8) = 1/√(Σ_i s_bi²·Σ_k w_kij²
 * + 1e-8). Identical to convolving each sample with its own weights w'_kij = s_bi·w_kij·d_bj.
 */
export function modulatedConv(
  x: tf.Tensor,
  weight: tf.Tensor,
  styles: tf.Tensor,
  opts: ModConvOptions,
): tf.Tensor4D {
  const [b, , , cin] = x.shape;
  let h = tf.mul(x, tf.reshape(styles, [b, 1, 1, cin]));
  if (opts.upsample) h = firUpsample2x(h);
  let y = tf.conv2d(h as tf.Tensor4D, weight as tf.Tensor4D, 1, "same");
  if (opts.demodulate) {
    const cout = (weight as tf.Tensor4D).shape[3];
    const wsq = tf.sum(tf.reshape(tf.square(weight), [-1, cin, cout]), 0); // Σ_k w², [in, out]
    const d = tf.rsqrt(
      tf.add(tf.matMul(tf.square(styles) as tf.Tensor2D, wsq as tf.Tensor2D), 1e-8),
    );
    y = tf.mul(y, tf.reshape(d, [b, 1, 1, cout]));
  }
  return y;
}

/**
 * A modulated convolution layer: weight stored N(0, 1) with the equalized-lr scale 1/√(k²·in), and
 * the style affine A: w → s, an equalized FC layer whose bias starts at 1 (so s ≈ 1 initially).
 */
export class ModulatedConv2d extends Module {
  readonly weight: tf.Variable;
  readonly affine: EqualizedLinear;
  readonly scale: number;

  constructor(
    rng: Rng,
    wDim: number,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly opts: ModConvOptions,
  ) {
    super();
    this.affine = this.child(
      "affine",
      new EqualizedLinear(rng, wDim, inChannels, { gain: 1, biasInit: 1 }),
    );
    this.weight = this.param("weight", rng.randn([kernel, kernel, inChannels, outChannels]));
    this.scale = 1 / Math.sqrt(kernel * kernel * inChannels);
  }

  /** x [B, H, W, in], w [B, wDim] → [B, H', W', out]. */
  apply(x: tf.Tensor, w: tf.Tensor): tf.Tensor4D {
    return modulatedConv(x, tf.mul(this.weight, this.scale), this.affine.apply(w), this.opts);
  }
}

/** Modulated 3×3 conv → + noise·strength (per channel) → + bias → LeakyReLU·√2. */
export class StyledConv extends Module {
  readonly conv: ModulatedConv2d;
  readonly noiseStrength: tf.Variable;
  readonly bias: tf.Variable;

  constructor(rng: Rng, wDim: number, cin: number, cout: number, upsample: boolean) {
    super();
    this.conv = this.child(
      "conv",
      new ModulatedConv2d(rng, wDim, cin, cout, 3, { demodulate: true, upsample }),
    );
    this.noiseStrength = this.param("noise_strength", tf.zeros([cout]));
    this.bias = this.param("bias", tf.zeros([cout]));
  }

  apply(x: tf.Tensor, w: tf.Tensor, noise: tf.Tensor): tf.Tensor4D {
    const y = tf.add(this.conv.apply(x, w), tf.mul(noise, this.noiseStrength));
    return lrelu(tf.add(y, this.bias), 0.2, Math.SQRT2) as tf.Tensor4D;
  }
}

/** toRGB: modulated 1×1 conv without demodulation, + bias, linear. */
export class ToRgb extends Module {
  readonly conv: ModulatedConv2d;
  readonly bias: tf.Variable;

  constructor(rng: Rng, wDim: number, cin: number, channels: number) {
    super();
    this.conv = this.child(
      "conv",
      new ModulatedConv2d(rng, wDim, cin, channels, 1, { demodulate: false }),
    );
    this.bias = this.param("bias", tf.zeros([channels]));
  }

  apply(x: tf.Tensor, w: tf.Tensor): tf.Tensor4D {
    return tf.add(this.conv.apply(x, w), this.bias) as tf.Tensor4D;
  }
}

/** Synthesis network: constant 4×4 input, styled convs, skip-connected toRGBs. */
export class Synthesis extends Module {
  readonly constInput: tf.Variable;
  /** convs[s]: the styled convs at resolution 4·2^s (one at 4×4, the first of others upsamples). */
  readonly convs: StyledConv[][] = [];
  readonly toRgb: ToRgb[] = [];
  readonly resolutions: number[];

  constructor(rng: Rng, cfg: StyleGan2Config, channels: number) {
    super();
    this.resolutions = resolutions(cfg.resolution);
    const c4 = featureMaps(cfg, 4);
    this.constInput = this.param("const", rng.randn([1, 4, 4, c4]));
    this.resolutions.forEach((r, s) => {
      const c = featureMaps(cfg, r);
      if (s === 0) {
        this.convs.push([this.child("b4/conv", new StyledConv(rng, cfg.wDim, c4, c4, false))]);
      } else {
        const cin = featureMaps(cfg, r / 2);
        this.convs.push([
          this.child(`b${r}/conv0`, new StyledConv(rng, cfg.wDim, cin, c, true)),
          this.child(`b${r}/conv1`, new StyledConv(rng, cfg.wDim, c, c, false)),
        ]);
      }
      this.toRgb.push(this.child(`b${r}/torgb`, new ToRgb(rng, cfg.wDim, c, channels)));
    });
  }

  /** Shapes of the per-layer noise inputs for a batch of `b`: [b, r, r, 1] per styled conv. */
  noiseShapes(b: number): number[][] {
    return this.convs.flatMap((layer, s) => layer.map(() => [b, 4 << s, 4 << s, 1]));
  }

  /** ws [B, numWs, wDim] and noise inputs (see {@link Synthesis.noiseShapes}) → images. */
  apply(ws: tf.Tensor, noise: tf.Tensor[]): tf.Tensor4D {
    const b = ws.shape[0];
    const w = tf.unstack(ws, 1);
    let x: tf.Tensor = tf.tile(this.constInput, [b, 1, 1, 1]);
    let rgb: tf.Tensor | null = null;
    let n = 0;
    this.convs.forEach((layer, s) => {
      // Style inputs: conv at 4×4 uses 0; at stage s ≥ 1 conv0 uses 2s − 1, conv1 2s; toRGB 2s + 1.
      layer.forEach((conv, j) => {
        x = conv.apply(x, w[s === 0 ? 0 : 2 * s - 1 + j], noise[n++]);
      });
      const y = this.toRgb[s].apply(x, w[2 * s + 1]);
      rgb = rgb ? tf.add(firUpsample2x(rgb), y) : y;
    });
    return rgb! as tf.Tensor4D;
  }
}

/** Draws one set of noise inputs from `rng` (N(0, 1) per pixel, as the reference's noise). */
export function drawNoise(rng: Rng, synthesis: Synthesis, b: number): tf.Tensor[] {
  return synthesis.noiseShapes(b).map((shape) => rng.randn(shape));
}

/** Truncation (StyleGAN §2.2 / App. B): w' = w̄ + ψ·(w − w̄); ψ = 1 is the identity, 0 gives w̄. */
export function truncate(ws: tf.Tensor, wAvg: tf.Tensor, psi: number): tf.Tensor {
  return psi === 1 ? ws : lerp(wAvg, ws, psi);
}

/**
 * The generator: mapping + synthesis, and two buffers that are checkpointed with it — the running
 * average w̄ of w (truncation centre) and the running mean of path lengths `a` (§3.2).
 */
export class StyleGenerator extends Module {
  readonly mapping: MappingNetwork;
  readonly synthesis: Synthesis;
  readonly wAvg: tf.Variable;
  readonly plMean: tf.Variable;
  readonly numWs: number;

  constructor(rng: Rng, cfg: StyleGan2Config, channels: number) {
    super();
    this.mapping = this.child(
      "mapping",
      new MappingNetwork(rng, cfg.latentDim, cfg.wDim, cfg.mappingLayers, cfg.mappingLrMul),
    );
    this.synthesis = this.child("synthesis", new Synthesis(rng, cfg, channels));
    this.wAvg = this.param("w_avg", tf.zeros([cfg.wDim]), false);
    this.plMean = this.param("pl_mean", tf.zeros([]), false);
    this.numWs = numWs(cfg.resolution);
  }

  /** w [B, wDim] → ws [B, numWs, wDim] (the same w for every layer). */
  broadcast(w: tf.Tensor): tf.Tensor3D {
    const [b, d] = w.shape;
    return tf.mul(tf.reshape(w, [b, 1, d]), tf.ones([1, this.numWs, 1])) as tf.Tensor3D;
  }

  /** w̄ ← mean_batch(w) + β·(w̄ − mean_batch(w)) — the reference's `dlatent_avg` update. */
  trackWAvg(w: tf.Tensor, beta: number): void {
    tf.tidy(() => this.wAvg.assign(lerp(tf.mean(w, 0), this.wAvg, beta) as tf.Tensor1D));
  }

  /** z → images with truncation ψ (default 1, none) and the given noise inputs. */
  generate(z: tf.Tensor, noise: tf.Tensor[], psi = 1): tf.Tensor4D {
    const ws = truncate(this.broadcast(this.mapping.apply(z)), this.wAvg, psi);
    return this.synthesis.apply(ws, noise);
  }
}

// ---------------------------------------------------------------------------------------------
// Residual discriminator

/**
 * Residual discriminator (Fig. 7c): fromRGB at full resolution, then per resolution
 * x' = (lrelu(down(conv3(lrelu(conv3(x))))) + conv1(down(x))) / √2 with the FIR downsampling
 * `down`, then minibatch stddev, conv 3×3, FC, FC → 1 logit. Equalized lr, gain 1, LeakyReLU·√2;
 * only twice-differentiable ops (R1 needs ∇ₓD).
 */
export class ResidualDiscriminator extends Module {
  readonly fromRgb: EqualizedConv2d;
  readonly blocks: { conv0: EqualizedConv2d; conv1: EqualizedConv2d; skip: EqualizedConv2d }[] = [];
  readonly finalConv: EqualizedConv2d;
  readonly dense: EqualizedLinear;
  readonly out: EqualizedLinear;

  constructor(rng: Rng, cfg: StyleGan2Config, channels: number, readonly mbstdGroup = 4) {
    super();
    const res = resolutions(cfg.resolution).reverse();
    this.fromRgb = this.child(
      `fromrgb${res[0]}`,
      new EqualizedConv2d(rng, channels, featureMaps(cfg, res[0]), 1, { gain: 1 }),
    );
    for (const r of res.slice(0, -1)) {
      const c = featureMaps(cfg, r), cout = featureMaps(cfg, r / 2);
      this.blocks.push({
        conv0: this.child(`b${r}/conv0`, new EqualizedConv2d(rng, c, c, 3, { gain: 1 })),
        conv1: this.child(`b${r}/conv1`, new EqualizedConv2d(rng, c, cout, 3, { gain: 1 })),
        skip: this.child(
          `b${r}/skip`,
          new EqualizedConv2d(rng, c, cout, 1, { gain: 1, bias: false }),
        ),
      });
    }
    const c4 = featureMaps(cfg, 4);
    this.finalConv = this.child("b4/conv", new EqualizedConv2d(rng, c4 + 1, c4, 3, { gain: 1 }));
    this.dense = this.child("b4/dense", new EqualizedLinear(rng, 16 * c4, c4, { gain: 1 }));
    this.out = this.child("b4/out", new EqualizedLinear(rng, c4, 1, { gain: 1 }));
  }

  /** Images [B, R, R, C] → logits [B, 1]. */
  apply(x: tf.Tensor): tf.Tensor2D {
    const act = (t: tf.Tensor) => lrelu(t, 0.2, Math.SQRT2);
    let h = act(this.fromRgb.apply(x));
    for (const blk of this.blocks) {
      const skip = blk.skip.apply(firDownsample2x(h));
      const main = act(firDownsample2x(blk.conv1.apply(act(blk.conv0.apply(h)))));
      h = tf.mul(tf.add(main, skip), Math.SQRT1_2);
    }
    h = act(this.finalConv.apply(minibatchStddev(h, this.mbstdGroup)));
    h = act(this.dense.apply(tf.reshape(h, [x.shape[0], -1])));
    return this.out.apply(h);
  }
}

// ---------------------------------------------------------------------------------------------
// Experiment

const FLAGS: Record<string, ExtraFlag> = {
  resolution: {
    type: "string",
    choices: ["8", "16", "32", "64", "128", "256"],
    help: "output resolution (default 32; 64 for celeba/folder); images are resized to it",
  },
  "r1-gamma": {
    type: "string",
    help: "R1 weight γ (default 10·(R/1024)², config F's 10 at 1024² scaled by area)",
  },
  "pl-batch-shrink": {
    type: "string",
    help: "path-length batch = batch / this (default 2, as the paper)",
  },
  "paper-size": {
    type: "boolean",
    help: "config F's widths (512 maps, z and w 512) and batch 32 (needs a GPU)",
  },
};

function positiveFlag(args: Record<string, unknown>, name: string, integer: boolean) {
  const v = args[name] as string | undefined;
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n)))) {
    throw new UserError(
      `--${name} expects a positive ${integer ? "integer" : "number"}, got "${v}"`,
    );
  }
  return n;
}

/** How stylegan2.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<StyleGan2Config> = {
  paper: "stylegan2",
  description: "StyleGAN2 (Karras et al. 2020), config F scaled down: mapping network, modulated " +
    "convs, skip G, residual D, R1 + path-length regularization; offline default MNIST 32×32.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    const dataset = args.dataset ?? base.dataset;
    const res = args.extra.resolution as string | undefined;
    const resolution = res
      ? Number(res)
      : ["celeba", "folder"].includes(dataset) && !args.quick
      ? 64
      : base.resolution;
    return {
      ...base,
      ...(args.extra["paper-size"] ? PAPER_SIZE : {}),
      dataset,
      resolution,
      r1Gamma: positiveFlag(args.extra, "r1-gamma", false) ?? defaultR1Gamma(resolution),
      plBatchShrink: positiveFlag(args.extra, "pl-batch-shrink", true) ?? base.plBatchShrink,
      epochs: args.epochs ?? base.epochs,
      batchSize: args.batchSize ?? base.batchSize,
      lr: args.lr ?? base.lr,
    };
  },
  runIdParts: (cfg) => [cfg.dataset, `${cfg.resolution}px`],
  dataset: (cfg) => ({
    name: cfg.dataset,
    split: "train",
    size: cfg.resolution,
    limit: cfg.limit ?? undefined,
  }),
};

/**
 * Lazy regularization (App. B): a regularizer applied every k minibatches is scaled by k, and Adam
 * runs with lr·c, β1^c, β2^c, c = k/(k + 1), so the combined updates match unregularized Adam.
 */
function lazyAdam(cfg: StyleGan2Config, interval: number): Adam {
  const c = interval / (interval + 1);
  return new Adam(cfg.lr * c, cfg.beta1 ** c, cfg.beta2 ** c, cfg.adamEps);
}

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  const B = cfg.batchSize;
  if (data.n < B) throw new UserError(`stylegan2: ${data.n} images, fewer than one batch of ${B}`);
  if (B % Math.min(cfg.mbstdGroup, B) !== 0) {
    throw new UserError(`stylegan2: batch size ${B} must be divisible by ${cfg.mbstdGroup}`);
  }
  const C = data.channels;

  const G = new StyleGenerator(new Rng(args.seed, "init-G"), cfg, C);
  const Gema = new StyleGenerator(new Rng(args.seed, "init-G"), cfg, C);
  const D = new ResidualDiscriminator(new Rng(args.seed, "init-D"), cfg, C, cfg.mbstdGroup);
  const optG = lazyAdam(cfg, cfg.plInterval);
  const optD = lazyAdam(cfg, cfg.r1Interval);
  const noise = new Rng(args.seed, "noise");
  const fixed = fixedInputs(args.seed, cfg, G.synthesis);
  const stepsPerEpoch = Math.floor(data.n / B);
  const loop = TrainLoop.create(run, {
    modules: { G, D, Gema },
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "stylegan2",
    stepsPerEpoch,
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });
  if (loop.step === 0) {
    await saveGrid(
      run.path("real.png"),
      toTensor(data, [...Array(Math.min(64, data.n)).keys()]),
      GRID,
    );
  }

  const beta = emaBeta(B, cfg.emaHalfLifeImages);
  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  const plB = Math.max(1, Math.floor(B / cfg.plBatchShrink));
  /** Latents → ws, with style mixing: w2 takes over from a random layer on, with probability p. */
  const mixedStyles = (z1: tf.Tensor, z2: tf.Tensor, mix: number): tf.Tensor => {
    const w1 = G.mapping.apply(z1);
    G.trackWAvg(w1, cfg.wAvgBeta);
    const ws = G.broadcast(w1);
    if (mix >= G.numWs) return ws;
    const ws2 = G.broadcast(G.mapping.apply(z2));
    const [b, L, d] = ws.shape;
    return tf.concat([
      tf.slice(ws, [0, 0, 0], [b, mix, d]),
      tf.slice(ws2, [0, mix, 0], [b, L - mix, d]),
    ], 1);
  };
  /** Host-side draws for one G forward: latents, mixing cutoff, noise inputs. */
  const draw = (b: number) => ({
    z1: noise.randn([b, cfg.latentDim]),
    z2: noise.randn([b, cfg.latentDim]),
    mix: noise.uniform() < cfg.styleMixingProb ? 1 + noise.int(G.numWs - 1) : G.numWs,
    inputs: drawNoise(noise, G.synthesis, b),
  });
  while (loop.running) {
    const order = epochOrder(data.n, args.seed, loop.epoch);
    const i = loop.stepInEpoch;
    const idx = order.subarray(i * B, (i + 1) * B);
    const step = loop.step;
    const doPl = (step + 1) % cfg.plInterval === 0, doR1 = (step + 1) % cfg.r1Interval === 0;
    const t0 = performance.now();
    const out = tf.tidy(() => {
      const real = toTensor(data, idx);
      // G main: non-saturating logistic loss −log σ(D(G(z))).
      const a = draw(B);
      const g = tf.variableGrads(
        () =>
          generatorNonSaturating(
            D.apply(G.synthesis.apply(mixedStyles(a.z1, a.z2, a.mix), a.inputs)),
          ),
        gVars,
      );
      optG.step(gVars, gradsInOrder(gVars, g.grads));
      // G regularization, lazily: path-length penalty on a smaller batch, weighted by interval.
      const pl = doPl ? pathLengthStep(G, optG, gVars, noise, plB, cfg) : null;
      // D main: softplus(D(G(z))) + softplus(−D(x)), fakes made without a tape.
      const f = draw(B);
      const fake = G.synthesis.apply(mixedStyles(f.z1, f.z2, f.mix), f.inputs);
      let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
      const d = tf.variableGrads(() => {
        dReal = tf.keep(D.apply(real));
        dFake = tf.keep(D.apply(fake));
        return discriminatorMinimax(dReal, dFake);
      }, dVars);
      optD.step(dVars, gradsInOrder(dVars, d.grads));
      emaUpdate(Gema, G, beta);
      // D regularization, lazily: R1 = γ/2·E‖∇ₓD(x)‖² on reals, weighted by the interval.
      let r1: tf.Tensor | null = null;
      if (doR1) {
        const reg = tf.variableGrads(
          () =>
            tf.mul(r1Penalty((x) => D.apply(x), real), cfg.r1Gamma * cfg.r1Interval) as tf.Scalar,
          dVars,
        );
        optD.step(dVars, gradsInOrder(dVars, reg.grads));
        r1 = tf.div(reg.value, cfg.r1Interval * cfg.r1Gamma);
      }
      // Everything read back in one asynchronous read (WebGPU cannot read synchronously).
      const zero = tf.scalar(0);
      const stats = tf.stack([
        d.value,
        g.value,
        tf.mean(tf.sigmoid(dReal!)),
        tf.mean(tf.sigmoid(dFake!)),
        G.plMean,
        r1 ?? zero,
        pl ?? zero,
      ]);
      tf.dispose([dReal!, dFake!]); // kept tensors outlive the tidy
      return stats;
    });
    const [dLoss, gLoss, dx, dgz, plMean, r1, pl] = await out.data();
    out.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const values: Record<string, number> = {
      d_loss: dLoss,
      g_loss: gLoss,
      "D(x)": dx,
      "D(G(z))": dgz,
      pl_mean: plMean,
    };
    // The lazy regularizers are logged only on the steps that compute them.
    if (doR1) values.r1 = r1;
    if (doPl) values.pl_penalty = pl;
    const go = await loop.after(values, B, seconds, async (epoch) => {
      const imgs = tf.tidy(() => Gema.generate(fixed.z, fixed.noise));
      await saveGrid(epochGridPath(run, epoch), imgs, GRID);
      imgs.dispose();
    });
    if (!go) return;
  }

  await writeFigures(run, Gema, fixed, cfg);
  await run.finish();
  console.error(`[stylegan2] done: ${run.dir}`);
}

/**
 * One lazy path-length step (§3.2, reference `pl_reg`): with y ~ N(0, I)/√(H·W), J_wᵀy is the
 * gradient of Σ G(w)·y w.r.t. the style inputs; its length ‖J_wᵀy‖ (summed over w's dimensions,
 * averaged over the style inputs) is pulled toward its running mean a, which moves by
 * `plDecay` toward the batch mean each time: loss = interval · weight · E[(‖J_wᵀy‖ − a)²].
 * Returns the penalty E[(‖J_wᵀy‖ − a)²] (a scalar tensor).
 */
function pathLengthStep(
  G: StyleGenerator,
  opt: Adam,
  gVars: tf.Variable[],
  noise: Rng,
  b: number,
  cfg: StyleGan2Config,
): tf.Scalar {
  return tf.tidy(() => {
    const z = noise.randn([b, cfg.latentDim]);
    const inputs = drawNoise(noise, G.synthesis, b);
    const R = cfg.resolution;
    const y = tf.div(noise.randn([b, R, R, G.synthesis.toRgb[0].bias.shape[0]]), R);
    let newMean: tf.Tensor | null = null, penalty: tf.Scalar | null = null;
    const pl = tf.variableGrads(() => {
      const w = G.mapping.apply(z);
      G.trackWAvg(w, cfg.wAvgBeta);
      const jy = tf.grad((ws: tf.Tensor) => tf.sum(tf.mul(G.synthesis.apply(ws, inputs), y)))(
        G.broadcast(w),
      );
      const lengths = tf.sqrt(tf.mean(tf.sum(tf.square(jy), 2), 1));
      const a = lerp(G.plMean, tf.mean(lengths), cfg.plDecay);
      newMean = tf.keep(a);
      penalty = tf.keep(tf.mean(tf.square(tf.sub(lengths, a))) as tf.Scalar);
      return tf.mul(penalty, cfg.plWeight * cfg.plInterval) as tf.Scalar;
    }, gVars);
    opt.step(gVars, gradsInOrder(gVars, pl.grads));
    G.plMean.assign(newMean!);
    // Kept tensors outlive every tidy: hand back a tracked copy and free them.
    const out = tf.clone(penalty!);
    tf.dispose([newMean!, penalty!]);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Figures

const GRID = { nrow: 8, range: [-1, 1] as [number, number] };

interface FixedInputs {
  /** 64 latents for the grids. */
  z: tf.Tensor;
  /** Their noise inputs. */
  noise: tf.Tensor[];
  /** An independent stream for the figures' other draws. */
  rng: Rng;
}

function fixedInputs(seed: number, cfg: StyleGan2Config, synthesis: Synthesis): FixedInputs {
  const rng = new Rng(seed, "fixed-noise");
  const z = rng.randn([64, cfg.latentDim]);
  return { z, noise: drawNoise(rng, synthesis, 64), rng };
}

/** Rows of the noise inputs, repeated/selected by `idx` (same noise for related images). */
function pickNoise(noise: tf.Tensor[], idx: number[]): tf.Tensor[] {
  const t = tf.tensor1d(idx, "int32");
  return noise.map((n) => tf.gather(n, t));
}

/** The style ranges of Fig. 3 of StyleGAN (2019), for resolution R: coarse ≤ 8², middle, fine. */
export function styleRanges(R: number): Record<"coarse" | "middle" | "fine", number[]> {
  const L = numWs(R), middleTop = Math.min(32, R / 2);
  const all = Array.from({ length: L }, (_, i) => i);
  return {
    coarse: all.filter((i) => wsResolution(i) <= 8),
    middle: all.filter((i) => wsResolution(i) > 8 && wsResolution(i) <= middleTop),
    fine: all.filter((i) => wsResolution(i) > middleTop),
  };
}

async function writeFigures(
  run: Run,
  G: StyleGenerator,
  fixed: FixedInputs,
  cfg: StyleGan2Config,
): Promise<void> {
  const rng = fixed.rng;
  // Uncurated samples, no truncation.
  const samples = tf.tidy(() => G.generate(fixed.z, fixed.noise));
  await saveGrid(run.path("samples.png"), samples, GRID);
  samples.dispose();

  // Truncation sweep: rows = the same z (and noise), columns ψ = 1, 0.7, 0.5, 0.
  const psis = [1, 0.7, 0.5, 0];
  const rows = 8;
  const sweep = tf.tidy(() => {
    const ws = G.broadcast(G.mapping.apply(tf.slice(fixed.z, 0, rows)));
    const cells = Array.from({ length: rows }, (_, r) => r);
    const wsRows = tf.concat(
      cells.map((r) => tf.concat(psis.map((p) => truncate(tf.slice(ws, r, 1), G.wAvg, p)), 0)),
      0,
    );
    const noise = pickNoise(fixed.noise, cells.flatMap((r) => psis.map(() => r)));
    return G.synthesis.apply(wsRows, noise);
  });
  await saveGrid(run.path("truncation.png"), sweep, { ...GRID, nrow: psis.length });
  sweep.dispose();

  // Style mixing (StyleGAN Fig. 3): rows = sources A, columns = sources B; cell = A with B's
  // coarse / middle / fine styles. Top row: the B images; left column: the A images.
  const nA = 5, nB = 5;
  const zA = rng.randn([nA, cfg.latentDim]), zB = rng.randn([nB, cfg.latentDim]);
  const noiseA = drawNoise(rng, G.synthesis, nA);
  for (const [name, layers] of Object.entries(styleRanges(cfg.resolution))) {
    if (layers.length === 0) continue;
    const grid = tf.tidy(() => {
      const wsA = G.broadcast(G.mapping.apply(zA)), wsB = G.broadcast(G.mapping.apply(zB));
      const imgA = G.synthesis.apply(wsA, noiseA);
      const imgB = G.synthesis.apply(
        wsB,
        pickNoise(noiseA, [...Array(nB).keys()].map((j) => j % nA)),
      );
      const mask = tf.tensor(
        Array.from({ length: G.numWs }, (_, i) => (layers.includes(i) ? 1 : 0)),
        [1, G.numWs, 1],
      );
      const cellsWs: tf.Tensor[] = [], noiseIdx: number[] = [];
      for (let a = 0; a < nA; a++) {
        for (let bIdx = 0; bIdx < nB; bIdx++) {
          cellsWs.push(lerp(tf.slice(wsA, a, 1), tf.slice(wsB, bIdx, 1), mask));
          noiseIdx.push(a);
        }
      }
      const mixed = G.synthesis.apply(tf.concat(cellsWs, 0), pickNoise(noiseA, noiseIdx));
      const blank = tf.ones([1, ...imgA.shape.slice(1)]);
      const tiles: tf.Tensor[] = [blank, imgB];
      for (let a = 0; a < nA; a++) {
        tiles.push(tf.slice(imgA, a, 1), tf.slice(mixed, a * nB, nB));
      }
      return tf.concat(tiles, 0) as tf.Tensor4D;
    });
    await saveGrid(run.path(`style_mixing_${name}.png`), grid, { ...GRID, nrow: nB + 1 });
    grid.dispose();
  }

  // Noise resampling (StyleGAN Fig. 4): same w, different noise inputs; the last column is the
  // per-pixel standard deviation over 32 noise draws (black 0, white the row's maximum).
  const nW = 4, shown = 6, draws = 32;
  const zN = rng.randn([nW, cfg.latentDim]);
  const rowsImgs: tf.Tensor[] = [];
  for (let r = 0; r < nW; r++) {
    const noise = drawNoise(rng, G.synthesis, draws);
    rowsImgs.push(tf.tidy(() => {
      const ws = G.broadcast(G.mapping.apply(tf.tile(tf.slice(zN, r, 1), [draws, 1])));
      const imgs = G.synthesis.apply(ws, noise);
      const std = tf.sqrt(tf.mean(tf.square(tf.sub(imgs, tf.mean(imgs, 0, true))), [0, 3]));
      const map01 = tf.div(std, tf.add(tf.max(std), 1e-8));
      const stdImg = tf.tile(
        tf.reshape(tf.sub(tf.mul(map01, 2), 1), [1, ...imgs.shape.slice(1, 3), 1]),
        [1, 1, 1, imgs.shape[3]],
      );
      return tf.concat([tf.slice(imgs, 0, shown), stdImg], 0);
    }));
    for (const n of noise) n.dispose();
  }
  const variation = tf.concat(rowsImgs, 0) as tf.Tensor4D;
  await saveGrid(run.path("noise_variation.png"), variation, { ...GRID, nrow: shown + 1 });
  for (const t of [variation, ...rowsImgs, zA, zB, zN, ...noiseA]) t.dispose();

  await plotLosses(run, "losses", { "D loss": "d_loss", "G loss": "g_loss" }, {
    title: `StyleGAN2 on ${cfg.dataset}: logistic losses`,
    yLabel: "loss",
    smooth: 0.9,
  });
  await plotLosses(run, "d_outputs", { "D(x)": "D(x)", "D(G(z))": "D(G(z))" }, {
    title: "Discriminator outputs (sigmoid of the logits)",
    yLabel: "mean probability",
    yRange: [0, 1],
  });
  // The lazy regularizers are logged only on the steps that compute them.
  const records = await run.readLosses();
  const series = Object.entries({
    "R1: E|grad D(x)|^2 / 2": "r1",
    "path-length penalty": "pl_penalty",
    "path-length mean a": "pl_mean",
  }).map(([name, key]) => {
    const rs = records.filter((r) => key in r);
    return { name, x: rs.map((r) => r.step), y: rs.map((r) => r[key]) };
  }).filter((s) => s.y.length > 0);
  if (series.length > 0) {
    const scene = linePlotScene(series, {
      title: "Lazy regularizers",
      xLabel: "iteration",
      yLabel: "value",
      logY: true,
    });
    await savePlot(run.path("regularizers.svg"), scene);
    await savePlot(run.path("regularizers.png"), scene);
  }
  await progressFigures(run, cfg.epochs, cfg.seriesEpochs);
}

/**
 * n samples from a run's averaged generator (ψ = 1), for `deno task eval`: latents and noise
 * inputs from fixed `eval-noise` streams.
 */
export async function sampleForEval(runDir: string, n: number): Promise<{ images: tf.Tensor4D }> {
  const manifest = await Run.readManifest(runDir);
  const cfg = manifest.config as StyleGan2Config;
  const ckpt = await loadCheckpoint(join(runDir, "checkpoint"));
  const C = ckpt.tensors.get(`Gema/synthesis/b4/torgb/bias`)?.shape[0];
  if (!C) throw new UserError(`${runDir}: the checkpoint holds no stylegan2 generator`);
  const G = new StyleGenerator(new Rng(manifest.seed, "init-G"), cfg, C);
  loadStateDict(G, ckpt.tensors, "Gema/");
  for (const t of ckpt.tensors.values()) t.dispose();
  const rng = new Rng(manifest.seed, "eval-noise");
  const parts: tf.Tensor4D[] = [];
  for (let i = 0; i < n; i += 256) {
    const b = Math.min(256, n - i);
    const z = rng.randn([b, cfg.latentDim]);
    const noise = drawNoise(rng, G.synthesis, b);
    parts.push(tf.tidy(() => G.generate(z, noise)));
    for (const t of [z, ...noise]) t.dispose();
  }
  G.dispose();
  const images = tf.concat(parts, 0);
  for (const p of parts) p.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
