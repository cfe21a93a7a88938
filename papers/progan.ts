/**
 * ProGAN — Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
 * Stability, and Variation", ICLR 2018. Reference implementation: github.com/tkarras/progressive_growing_of_gans
 * (networks.py, train.py, loss.py, config.py).
 *
 * Both networks start at 4×4 and grow by doubling the resolution (§3, Fig. 2): each new resolution
 * is first *faded in* — the new block's output is blended with the 2× upsampled (G) or 2×2
 * average-pooled (D) path of the previous resolution, with α rising linearly from 0 to 1 — and then
 * *stabilized* at α = 1. Each phase shows a fixed number of images (800k in the paper). Also from
 * the paper: pixel normalization after every conv of G (§4.2), minibatch standard deviation as an
 * extra feature map before D's last block (§3), equalized learning rate in every layer (§4.1),
 * WGAN-GP (λ = 10) with the drift term ε_drift·D(x)² (ε = 0.001), Adam(0.001, β1 0, β2 0.99),
 * n_critic = 1 (App. A.1: one D step, then one G step per minibatch), an exponential moving average
 * of G's weights for the samples (App. A.1, β = 0.999), and the real images shown at the current
 * resolution — average-pooled down, and during a fade-in blended between their low- and high-res
 * versions with the same α (the reference's `process_reals`).
 *
 * Scaled down for an offline CPU default (documented per field below): MNIST resized to 32×32
 * (4 → 8 → 16 → 32), 64 feature maps instead of 512, z of 64, 30k images per phase instead of 800k.
 * `--paper-size` restores the paper's widths and phase length for users with a GPU and time.
 *
 *   deno task reproduce progan            # offline default (MNIST 32×32, small widths)
 *   deno task reproduce progan --quick    # tiny widths, short phases: seconds on CPU
 *   deno task reproduce progan --dataset celeba --resolution 64 --paper-size
 *
 * @module
 */
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { loadStateDict, Module } from "../lib/nn.ts";
import {
  downsample2x,
  downsampleTo,
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
import { Adam, type Optimizer } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import {
  criticWasserstein,
  driftPenalty,
  generatorWasserstein,
  gradientPenalty,
} from "../lib/losses.ts";
import { epochOrder, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { Run } from "../lib/run.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { saveGrid } from "../lib/image.ts";
import { linePlotScene, savePlot } from "../lib/plot.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { UserError } from "../lib/fsutil.ts";

/** Hyperparameters. "Paper" values are from App. A.1 and Table 2 unless noted. */
export interface ProGanConfig {
  /** Dataset; the paper trains on CelebA-HQ (1024²), LSUN (256²) and CIFAR-10 (32²). */
  dataset: string;
  /** Use only the first `limit` training images (null = all). */
  limit: number | null;
  /** Final resolution R (a power of two ≥ 8); training grows 4 → 8 → … → R. */
  resolution: number;
  /**
   * Feature maps at resolution r: min(fmapBase / r, fmapMax). The paper's Table 2 is fmapBase
   * 16384, fmapMax 512 (512 maps up to 32², then 256, 128, 64, 32, 16 at 1024²).
   */
  fmapBase: number;
  fmapMax: number;
  /** Dimension of z (paper 512). */
  latentDim: number;
  /** Minibatch size (paper 16 for resolutions up to 128²). */
  batchSize: number;
  /** Adam: α 0.001, β1 0, β2 0.99, ε 1e-8. */
  lr: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** Reset Adam's moments whenever a phase begins (the reference's `reset_opt_for_new_lod`). */
  resetOptimizer: boolean;
  /** WGAN-GP weight λ (10). */
  gpLambda: number;
  /** Drift weight ε_drift (0.001). */
  epsDrift: number;
  /** Images shown in each fade-in phase and each stabilization phase (paper 800k). */
  imagesPerPhase: number;
  /** Minibatch-stddev group size (4). */
  mbstdGroup: number;
  /** Half-life in images of the generator weight average (β 0.999 at batch 16 ≈ 11k images). */
  emaHalfLifeImages: number;
  /** Append to losses.jsonl every this many steps; checkpoint every this many steps. */
  logEvery: number;
  checkpointEvery: number;
}

/**
 * The offline default: the paper's algorithm and optimizer, scaled to a CPU — MNIST at 32×32, 64
 * feature maps (32 at 32²) instead of 512, z of 64, 30k images per phase instead of 800k
 * (7 phases, 210k images ≈ 3.5 MNIST epochs).
 */
export const PAPER_CONFIG: ProGanConfig = {
  dataset: "mnist",
  limit: null,
  resolution: 32,
  fmapBase: 1024,
  fmapMax: 64,
  latentDim: 64,
  batchSize: 16,
  lr: 1e-3,
  beta1: 0,
  beta2: 0.99,
  adamEps: 1e-8,
  resetOptimizer: true,
  gpLambda: 10,
  epsDrift: 0.001,
  imagesPerPhase: 30_000,
  mbstdGroup: 4,
  emaHalfLifeImages: 11_000,
  logEvery: 10,
  checkpointEvery: 1000,
};

/** `--paper-size`: the paper's widths, z and phase length (for a GPU). */
export const PAPER_SIZE: Partial<ProGanConfig> = {
  fmapBase: 16384,
  fmapMax: 512,
  latentDim: 512,
  imagesPerPhase: 800_000,
};

/** `--quick`: the same 4 → 32 growth with 4–16 feature maps and 64 images per phase. */
export const QUICK_CONFIG: ProGanConfig = {
  ...PAPER_CONFIG,
  limit: 512,
  fmapBase: 128,
  fmapMax: 16,
  latentDim: 16,
  batchSize: 8,
  imagesPerPhase: 64,
  emaHalfLifeImages: 32,
  logEvery: 1,
  checkpointEvery: 16,
};

// ---------------------------------------------------------------------------------------------
// The growth schedule

/** Number of resolutions 4, 8, …, R. */
export function numStages(resolution: number): number {
  const s = Math.log2(resolution) - 1;
  if (!Number.isInteger(s) || s < 2) {
    throw new UserError(`progan: resolution must be a power of two ≥ 8, got ${resolution}`);
  }
  return s;
}

/** Phases: 4×4 stabilization, then a fade-in and a stabilization phase per further resolution. */
export function numPhases(resolution: number): number {
  return 2 * numStages(resolution) - 1;
}

/** Training steps per phase: the phase's images in whole minibatches (at least one). */
export function stepsPerPhase(cfg: Pick<ProGanConfig, "imagesPerPhase" | "batchSize">): number {
  return Math.max(1, Math.round(cfg.imagesPerPhase / cfg.batchSize));
}

/** Where a step falls in the growth schedule. */
export interface GrowthState {
  /** 0-based phase (the TrainLoop's epoch). */
  phase: number;
  /** 0-based resolution index: the networks run at 4·2^stage pixels. */
  stage: number;
  resolution: number;
  /** Fade-in weight of the newest block: rises linearly during a fade-in, 1 when stabilizing. */
  alpha: number;
  fading: boolean;
}

/**
 * The growth state of 0-based step `step`. In a fade-in phase α is the fraction of the phase's
 * images shown *before* this step (k / stepsPerPhase for its k-th step), so it starts at exactly 0
 * (the new block does not yet contribute) and reaches 1 when stabilization begins.
 */
export function growthAt(step: number, spp: number, resolution: number): GrowthState {
  const phases = numPhases(resolution);
  const phase = Math.min(Math.floor(step / spp), phases - 1);
  const stage = Math.ceil(phase / 2);
  const fading = phase % 2 === 1;
  const alpha = fading ? (step - phase * spp) / spp : 1;
  return { phase, stage, resolution: 4 << stage, alpha, fading };
}

/** Feature maps at resolution r: min(fmapBase / r, fmapMax). */
export function featureMaps(cfg: Pick<ProGanConfig, "fmapBase" | "fmapMax">, r: number): number {
  return Math.max(1, Math.min(Math.floor(cfg.fmapBase / r), cfg.fmapMax));
}

// ---------------------------------------------------------------------------------------------
// Networks (Table 2; every layer equalized, LeakyReLU 0.2)

/**
 * Generator: z → pixel norm → dense to 4×4 (the paper's 4×4 conv on a 1×1 input, gain √2/4 as in
 * the reference) → conv 3×3; then per resolution: nearest 2× up, two 3×3 convs; pixel norm after
 * every conv; a linear 1×1 toRGB per resolution.
 */
export class ProGenerator extends Module {
  readonly dense: EqualizedLinear;
  /** convs[s]: the 3×3 convs of stage s (one at 4×4, two above). */
  readonly convs: EqualizedConv2d[][] = [];
  readonly toRgb: EqualizedConv2d[] = [];
  readonly stages: number;
  readonly ch4: number;

  constructor(rng: Rng, cfg: ProGanConfig, imageChannels: number) {
    super();
    this.stages = numStages(cfg.resolution);
    this.ch4 = featureMaps(cfg, 4);
    this.dense = this.child(
      "b4/dense",
      new EqualizedLinear(rng, cfg.latentDim, 16 * this.ch4, { gain: Math.SQRT2 / 4 }),
    );
    this.convs.push([this.child("b4/conv", new EqualizedConv2d(rng, this.ch4, this.ch4, 3))]);
    this.toRgb.push(
      this.child("torgb4", new EqualizedConv2d(rng, this.ch4, imageChannels, 1, { gain: 1 })),
    );
    for (let s = 1; s < this.stages; s++) {
      const r = 4 << s, cin = featureMaps(cfg, r / 2), c = featureMaps(cfg, r);
      this.convs.push([
        this.child(`b${r}/conv0`, new EqualizedConv2d(rng, cin, c, 3)),
        this.child(`b${r}/conv1`, new EqualizedConv2d(rng, c, c, 3)),
      ]);
      this.toRgb.push(
        this.child(`torgb${r}`, new EqualizedConv2d(rng, c, imageChannels, 1, { gain: 1 })),
      );
    }
  }

  private block(h: tf.Tensor, s: number): tf.Tensor {
    if (s > 0) h = upsample2x(h);
    for (const conv of this.convs[s]) h = pixelNorm(lrelu(conv.apply(h)));
    return h;
  }

  /** z [B, latent] → images [B, r, r, C] at stage `stage` (r = 4·2^stage), fading in with α. */
  apply(z: tf.Tensor, stage: number, alpha = 1): tf.Tensor4D {
    const b = z.shape[0];
    let h: tf.Tensor = tf.reshape(this.dense.apply(pixelNorm(z)), [b, 4, 4, this.ch4]);
    h = this.block(pixelNorm(lrelu(h)), 0);
    let prev: tf.Tensor | null = null;
    for (let s = 1; s <= stage; s++) {
      if (s === stage && alpha < 1) prev = upsample2x(this.toRgb[s - 1].apply(h));
      h = this.block(h, s);
    }
    const out = this.toRgb[stage].apply(h);
    return (prev ? lerp(prev, out, alpha) : out) as tf.Tensor4D;
  }
}

/**
 * Discriminator, the mirror image: a 1×1 fromRGB per resolution, per resolution two 3×3 convs and
 * a 2×2 average pool, then minibatch stddev, conv 3×3, dense (the paper's 4×4 conv), dense → 1.
 * Only twice-differentiable ops (lib/equalized.ts), because the gradient penalty needs ∇ₓD.
 */
export class ProDiscriminator extends Module {
  readonly fromRgb: EqualizedConv2d[] = [];
  /** convs[s] for s ≥ 1: the two 3×3 convs of stage s (the last one narrows to the stage below). */
  readonly convs: EqualizedConv2d[][] = [[]];
  readonly finalConv: EqualizedConv2d;
  readonly dense: EqualizedLinear;
  readonly out: EqualizedLinear;
  readonly stages: number;

  constructor(rng: Rng, cfg: ProGanConfig, imageChannels: number, readonly mbstdGroup = 4) {
    super();
    this.stages = numStages(cfg.resolution);
    for (let s = 0; s < this.stages; s++) {
      const r = 4 << s, c = featureMaps(cfg, r);
      this.fromRgb.push(
        this.child(`fromrgb${r}`, new EqualizedConv2d(rng, imageChannels, c, 1)),
      );
      if (s > 0) {
        this.convs.push([
          this.child(`b${r}/conv0`, new EqualizedConv2d(rng, c, c, 3)),
          this.child(`b${r}/conv1`, new EqualizedConv2d(rng, c, featureMaps(cfg, r / 2), 3)),
        ]);
      }
    }
    const c4 = featureMaps(cfg, 4);
    this.finalConv = this.child("b4/conv", new EqualizedConv2d(rng, c4 + 1, c4, 3));
    this.dense = this.child("b4/dense", new EqualizedLinear(rng, 16 * c4, c4));
    this.out = this.child("b4/out", new EqualizedLinear(rng, c4, 1, { gain: 1 }));
  }

  private block(h: tf.Tensor, s: number): tf.Tensor {
    for (const conv of this.convs[s]) h = lrelu(conv.apply(h));
    return downsample2x(h);
  }

  /** Images [B, r, r, C] at stage `stage` → scores [B, 1] (unbounded: a WGAN critic). */
  apply(x: tf.Tensor, stage: number, alpha = 1): tf.Tensor2D {
    let h = lrelu(this.fromRgb[stage].apply(x));
    if (stage > 0) {
      h = this.block(h, stage);
      if (alpha < 1) h = lerp(lrelu(this.fromRgb[stage - 1].apply(downsample2x(x))), h, alpha);
      for (let s = stage - 1; s >= 1; s--) h = this.block(h, s);
    }
    h = lrelu(this.finalConv.apply(minibatchStddev(h, this.mbstdGroup)));
    h = lrelu(this.dense.apply(tf.reshape(h, [x.shape[0], -1])));
    return this.out.apply(h);
  }
}

/**
 * Real images as the networks see them at a growth state: average-pooled to its resolution and,
 * during a fade-in, blended with their 2× smaller version upsampled back, with the same α as the
 * networks (α = 0: exactly the previous resolution's images).
 */
export function realsAt(full: tf.Tensor4D, g: GrowthState): tf.Tensor4D {
  const x = downsampleTo(full, g.resolution);
  if (!g.fading) return x;
  return lerp(upsample2x(downsample2x(x)), x, g.alpha) as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// Experiment

const FLAGS: Record<string, ExtraFlag> = {
  resolution: {
    type: "string",
    choices: ["8", "16", "32", "64", "128", "256"],
    help: "final resolution (default 32; images are resized to it)",
  },
  "images-per-phase": {
    type: "string",
    help: "images per fade-in and per stabilization phase (paper 800000; default 30000)",
  },
  "paper-size": {
    type: "boolean",
    help: "the paper's widths (512 maps, z 512) and 800k images per phase (needs a GPU)",
  },
};

/** How progan.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<ProGanConfig> = {
  paper: "progan",
  description: "ProGAN (Karras et al. 2018): progressive growing 4×4 → R with WGAN-GP; " +
    "offline default MNIST at 32×32 with reduced widths.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    if (args.epochs !== undefined) {
      throw new UserError("progan trains in phases, not epochs: use --images-per-phase N");
    }
    const ipp = args.extra["images-per-phase"] as string | undefined;
    const imagesPerPhase = ipp === undefined ? undefined : Number(ipp);
    if (imagesPerPhase !== undefined && !(Number.isInteger(imagesPerPhase) && imagesPerPhase > 0)) {
      throw new UserError(`--images-per-phase expects a positive integer, got "${ipp}"`);
    }
    const res = args.extra.resolution as string | undefined;
    return {
      ...base,
      ...(args.extra["paper-size"] ? PAPER_SIZE : {}),
      dataset: args.dataset ?? base.dataset,
      resolution: res ? Number(res) : base.resolution,
      batchSize: args.batchSize ?? base.batchSize,
      lr: args.lr ?? base.lr,
      ...(imagesPerPhase ? { imagesPerPhase } : {}),
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

/** Empties an Adam's moments and step count (a fresh optimizer, same object). */
function resetOptimizer(opt: Optimizer): void {
  const t = tf.scalar(0);
  opt.loadState(new Map([["t", t]]));
  t.dispose();
}

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  const B = cfg.batchSize;
  if (data.n < B) throw new UserError(`progan: ${data.n} images, fewer than one batch of ${B}`);
  if (B % Math.min(cfg.mbstdGroup, B) !== 0) {
    throw new UserError(`progan: batch size ${B} must be divisible by ${cfg.mbstdGroup}`);
  }
  const C = data.channels;

  // G and its weight average start identical (same init stream); D has its own stream.
  const G = new ProGenerator(new Rng(args.seed, "init-G"), cfg, C);
  const Gema = new ProGenerator(new Rng(args.seed, "init-G"), cfg, C);
  const D = new ProDiscriminator(new Rng(args.seed, "init-D"), cfg, C, cfg.mbstdGroup);
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.adamEps);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.adamEps);
  const noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([64, cfg.latentDim]);
  const spp = stepsPerPhase(cfg);
  const phases = numPhases(cfg.resolution);
  const beta = emaBeta(B, cfg.emaHalfLifeImages);
  const loop = TrainLoop.create(run, {
    modules: { G, D, Gema },
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "progan",
    stepsPerEpoch: spp, // one "epoch" of the loop = one phase of the growth schedule
    epochs: phases,
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

  // Data: consecutive passes over the dataset, each in its own (seed, pass) order — phases need
  // not align with dataset epochs, and the order depends only on the step (resume-safe).
  const perPass = Math.floor(data.n / B);
  let order: { pass: number; idx: Int32Array } = { pass: -1, idx: new Int32Array() };
  const batchAt = (step: number): Int32Array => {
    const pass = Math.floor(step / perPass), i = step % perPass;
    if (order.pass !== pass) order = { pass, idx: epochOrder(data.n, args.seed, pass) };
    return order.idx.subarray(i * B, (i + 1) * B);
  };

  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  while (loop.running) {
    const g = growthAt(loop.step, spp, cfg.resolution);
    if (cfg.resetOptimizer && loop.stepInEpoch === 0) {
      resetOptimizer(optG);
      resetOptimizer(optD);
    }
    const idx = batchAt(loop.step);
    const t0 = performance.now();
    const values = tf.tidy(() => {
      const real = realsAt(toTensor(data, idx), g);
      const critic = (x: tf.Tensor) => D.apply(x, g.stage, g.alpha);
      // D step: Wasserstein estimate + λ·GP + ε_drift·D(x)², on a batch G makes without a tape.
      const fake = G.apply(noise.randn([B, cfg.latentDim]), g.stage, g.alpha);
      const eps = noise.rand([B, 1, 1, 1]);
      let gp: tf.Scalar | null = null, wdist: tf.Scalar | null = null;
      const d = tf.variableGrads(() => {
        const dReal = critic(real), dFake = critic(fake);
        const w = criticWasserstein(dReal, dFake);
        wdist = tf.keep(tf.neg(w));
        gp = tf.keep(gradientPenalty(critic, real, fake, eps));
        return tf.add(tf.add(w, tf.mul(gp, cfg.gpLambda)), driftPenalty(dReal, cfg.epsDrift));
      }, dVars);
      optD.step(dVars, gradsInOrder(dVars, d.grads));
      // G step on fresh latents: −E[D(G(z))].
      const z = noise.randn([B, cfg.latentDim]);
      const gs = tf.variableGrads(
        () => generatorWasserstein(critic(G.apply(z, g.stage, g.alpha))),
        gVars,
      );
      optG.step(gVars, gradsInOrder(gVars, gs.grads));
      const stats = tf.stack([d.value, gs.value, gp!, wdist!]);
      tf.dispose([gp!, wdist!]); // kept tensors outlive the tidy
      return stats;
    });
    emaUpdate(Gema, G, beta);
    // One asynchronous read per step (WebGPU cannot read synchronously).
    const [dLoss, gLoss, gp, wdist] = await values.data();
    values.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const record = {
      d_loss: dLoss,
      g_loss: gLoss,
      gp,
      w_estimate: wdist,
      alpha: g.alpha,
      resolution: g.resolution,
    };
    const go = await loop.after(record, B, seconds, async (epoch) => {
      const end = growthAt(epoch * spp - 1, spp, cfg.resolution);
      // Every phase: a grid at the final size (nearest-upsampled), for the progress animation.
      await saveSamples(epochGridPath(run, epoch), Gema, fixedZ, end.stage, cfg.resolution);
      // End of a stabilization phase = end of a resolution stage: a grid at its own size.
      if (!end.fading) {
        await saveSamples(stageGridPath(run, end.resolution), Gema, fixedZ, end.stage);
      }
    });
    if (!go) return;
  }

  await writeFigures(run, G, Gema, fixedZ, cfg);
  await run.finish();
  console.error(`[progan] done: ${run.dir}`);
}

/** Path of the grid saved at the end of the stage at `resolution`. */
export function stageGridPath(run: Run, resolution: number): string {
  return run.path("stages", `res_${String(resolution).padStart(4, "0")}.png`);
}

const GRID = { nrow: 8, range: [-1, 1] as [number, number] };

/** Samples of `G` at the end of stage `stage` (α = 1), optionally nearest-upsampled to `size`. */
async function saveSamples(path: string, G: ProGenerator, z: tf.Tensor, stage: number, size = 0) {
  const imgs = tf.tidy(() => {
    let x = G.apply(z, stage, 1);
    while (x.shape[1] < size) x = upsample2x(x);
    return x;
  });
  await saveGrid(path, imgs, GRID);
  imgs.dispose();
}

async function writeFigures(
  run: Run,
  G: ProGenerator,
  Gema: ProGenerator,
  z: tf.Tensor,
  cfg: ProGanConfig,
): Promise<void> {
  const last = numStages(cfg.resolution) - 1;
  await saveSamples(run.path("samples.png"), Gema, z, last);
  await saveSamples(run.path("samples_no-ema.png"), G, z, last);
  await plotLosses(run, "losses", { "D loss": "d_loss", "G loss": "g_loss" }, {
    title: `ProGAN on ${cfg.dataset}: losses`,
    yLabel: "loss",
    smooth: 0.9,
  });
  await plotLosses(run, "w_estimate", { "E[D(x)] - E[D(G(z))]": "w_estimate" }, {
    title: "Critic's Wasserstein estimate",
    yLabel: "score gap",
    smooth: 0.9,
  });
  // The α schedule, from the same function the training loop uses: α at the first and last step
  // of every phase, and 1 where the next phase begins (a fade-in ends at α = 1).
  const spp = stepsPerPhase(cfg), phases = numPhases(cfg.resolution);
  const xs: number[] = [], alpha: number[] = [];
  for (let p = 0; p < phases; p++) {
    for (const step of [p * spp, (p + 1) * spp - 1]) {
      xs.push(step * cfg.batchSize);
      alpha.push(growthAt(step, spp, cfg.resolution).alpha);
    }
    xs.push((p + 1) * spp * cfg.batchSize);
    alpha.push(1);
  }
  const res = Array.from({ length: numStages(cfg.resolution) }, (_, s) => 4 << s).join("->");
  const scene = linePlotScene([{ name: "alpha", x: xs, y: alpha }], {
    title: `Fade-in alpha: ${res} px, ${cfg.imagesPerPhase} images per phase`,
    xLabel: "images shown",
    yLabel: "alpha",
    yRange: [0, 1.05],
    legend: false,
  });
  await savePlot(run.path("alpha_schedule.svg"), scene);
  await savePlot(run.path("alpha_schedule.png"), scene);
  // Stage ends = ends of the stabilization phases: 1, 3, 5, … (1-based).
  const stageEnds = Array.from({ length: numStages(cfg.resolution) }, (_, s) => 2 * s + 1);
  await progressFigures(run, phases, stageEnds);
}

/**
 * n samples from a run's averaged generator, for `deno task eval`: at the growth state of its
 * checkpoint (α = 1), nearest-upsampled to the final resolution when growth had not finished.
 */
export async function sampleForEval(runDir: string, n: number): Promise<{ images: tf.Tensor4D }> {
  const manifest = await Run.readManifest(runDir);
  const cfg = manifest.config as ProGanConfig;
  const ckpt = await loadCheckpoint(join(runDir, "checkpoint"));
  const C = ckpt.tensors.get("Gema/torgb4/weight")?.shape[3];
  if (!C) throw new UserError(`${runDir}: the checkpoint holds no progan generator`);
  const G = new ProGenerator(new Rng(manifest.seed, "init-G"), cfg, C);
  loadStateDict(G, ckpt.tensors, "Gema/");
  for (const t of ckpt.tensors.values()) t.dispose();
  const spp = stepsPerPhase(cfg);
  const step = Math.min(Number(ckpt.state.step), spp * numPhases(cfg.resolution) - 1);
  const { stage } = growthAt(step, spp, cfg.resolution);
  const rng = new Rng(manifest.seed, "eval-noise");
  const parts: tf.Tensor4D[] = [];
  for (let i = 0; i < n; i += 256) {
    const z = rng.randn([Math.min(256, n - i), cfg.latentDim]);
    parts.push(tf.tidy(() => {
      let x = G.apply(z, stage, 1);
      while (x.shape[1] < cfg.resolution) x = upsample2x(x);
      return x;
    }));
    z.dispose();
  }
  G.dispose();
  const images = tf.concat(parts, 0);
  for (const p of parts) p.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
