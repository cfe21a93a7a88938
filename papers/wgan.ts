/**
 * WGAN — Arjovsky, Chintala & Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017.
 *
 * Algorithm 1 of the paper: the critic f_w has no sigmoid and is trained to maximize
 * E[f_w(x)] − E[f_w(g_θ(z))], the Kantorovich–Rubinstein estimate of the Wasserstein-1 distance,
 * with its weights clipped to [−c, c] after every update so that it stays K-Lipschitz; n_critic = 5
 * critic updates per generator update; RMSprop(α = 5e-5); c = 0.01; batch 64.
 *
 * Architecture. The paper's image experiments use DCGAN networks (Section 4, and the authors' code,
 * github.com/martinarjovsky/WassersteinGAN, models/dcgan.py); the PyTorch-GAN reference
 * (implementations/wgan/wgan.py) uses the MLP of gan.py on 28×28 MNIST. Both are here:
 *
 *   --arch dcgan  (default) the DCGAN generator/critic of the authors' code at 32×32: G is
 *                 z → 4×4×4ngf → 8×8×2ngf → 16×16×ngf → 32×32×C (4×4 transposed convs, BatchNorm,
 *                 ReLU, tanh), the critic mirrors it with stride-2 4×4 convs, BatchNorm and
 *                 LeakyReLU(0.2) and a final 4×4 conv to one score; no biases; N(0, 0.02) init.
 *                 MNIST/Fashion-MNIST are resized to 32×32, CIFAR-10 is native 32×32.
 *   --arch mlp    wgan.py: gan.py's MLP generator and a 784 → 512 → 256 → 1 LeakyReLU critic
 *                 (no sigmoid) on 28×28 grayscale images.
 *
 * The default dataset is MNIST (bundled, so it runs offline); `--dataset cifar10` runs the same
 * DCGAN nets on CIFAR-10 for users who have it. One training step is one generator iteration of
 * Algorithm 1 (n_critic critic updates, each on a fresh real batch, then one generator update);
 * an epoch is about one pass of the critic over the data. On top of Algorithm 1, the authors' code
 * runs 100 critic iterations for the first 25 and every 500th generator iteration; the paper's
 * Figures 3–4 come from that code, so the default does too (`--critic-burn-in off` for Algorithm 1
 * alone; `--quick` has it off).
 *
 * The logged `W_estimate` = E[D(x)] − E[D(G(z))] = −(critic loss) of the last critic update is the
 * paper's estimate of the EM distance (up to the Lipschitz constant); `wasserstein.svg` plots it
 * against generator iterations, which the paper shows falling as samples improve (Fig. 3, 4).
 *
 *   deno task reproduce wgan            # the paper's hyperparameters, DCGAN nets, MNIST at 32×32
 *   deno task reproduce wgan --quick    # tiny nets, a few hundred images: well under a minute
 *
 * @module
 */
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  BatchNorm,
  constantInit,
  Conv2d,
  ConvTranspose2d,
  type ForwardOptions,
  leakyRelu,
  Linear,
  loadStateDict,
  Module,
  normalInit,
} from "../lib/nn.ts";
import { RMSprop } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { criticWasserstein, generatorWasserstein } from "../lib/losses.ts";
import { batchIndices, epochOrder, numBatches, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import type { Manifest, Run } from "../lib/run.ts";
import { decodePng, encodeApng, encodePng, hstack, type RgbImage, saveGrid } from "../lib/image.ts";
import { linePlot } from "../lib/plot.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { Generator as MlpGenerator, PAPER_CONFIG as GAN_CONFIG } from "./gan.ts";

/** Hyperparameters; the defaults are the paper's (Algorithm 1) unless a field says otherwise. */
export interface WganConfig {
  /** Epochs = passes of the critic over the data (wgan.py `--n_epochs`; see PAPER_CONFIG). */
  epochs: number;
  /** Minibatch size m (Algorithm 1: m = 64). */
  batchSize: number;
  /** RMSprop learning rate α (Algorithm 1: 5e-5), for both networks. */
  lr: number;
  /** Clipping parameter c (Algorithm 1: 0.01). */
  clip: number;
  /** Critic iterations per generator iteration (Algorithm 1: n_critic = 5). */
  nCritic: number;
  /**
   * The authors' code's schedule on top of Algorithm 1: 100 critic iterations for each of the first
   * 25 generator iterations and every 500th, so the critic starts (and stays) near its optimum and
   * the W estimate is meaningful from the start — the runs behind the paper's Figures 3 and 4.
   */
  criticBurnIn: boolean;
  /** Dimension of z ~ N(0, I) (authors' code `--nz 100`; wgan.py `--latent_dim 100`). */
  latentDim: number;
  /** Networks: "dcgan" (the paper's, 32×32) or "mlp" (wgan.py's, 28×28 grayscale). */
  arch: "dcgan" | "mlp";
  /** DCGAN widths: generator and critic base channels (authors' code `--ngf 64 --ndf 64`). */
  ngf: number;
  ndf: number;
  /** Dataset and how many training images to use (null = all). */
  dataset: string;
  limit: number | null;
  /** Log every this many generator iterations; checkpoint every this many (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** EMA weight used to smooth the plotted Wasserstein estimate (the raw curve is drawn too). */
  smoothing: number;
  /** Epochs whose fixed-noise grids form the epoch-series figure. */
  seriesEpochs: number[];
}

/**
 * The paper's hyperparameters with the DCGAN nets on MNIST at 32×32. Epochs: 25 (the authors'
 * code's `--niter` default); on MNIST that is 25 · ⌊937 / 5⌋ = 4,675 generator iterations.
 */
export const PAPER_CONFIG: WganConfig = {
  epochs: 25,
  batchSize: 64,
  lr: 5e-5,
  clip: 0.01,
  nCritic: 5,
  criticBurnIn: true,
  latentDim: 100,
  arch: "dcgan",
  ngf: 64,
  ndf: 64,
  dataset: "mnist",
  limit: null,
  logEvery: 5,
  checkpointEvery: 500,
  smoothing: 0.9,
  seriesEpochs: [1, 5, 10, 25],
};

/**
 * `--quick`: the same algorithm with 8-channel nets, 320 images, batch 16, 2 epochs (8 steps), and
 * no critic burn-in (its 2,500 extra critic iterations would dominate a run this short).
 */
export const QUICK_CONFIG: WganConfig = {
  ...PAPER_CONFIG,
  criticBurnIn: false,
  epochs: 2,
  batchSize: 16,
  ngf: 8,
  ndf: 8,
  limit: 320,
  logEvery: 1,
  checkpointEvery: 2,
  smoothing: 0.5,
  seriesEpochs: [1, 2],
};

// ---- networks (shared with wgan_gp.ts) ---------------------------------------------------------

/** DCGAN initialization (authors' code `weights_init`): conv weights N(0, 0.02), BN γ N(1, 0.02). */
const CONV_INIT = { weightInit: normalInit(0.02), bias: false };
const BN_INIT = { gammaInit: normalInit(0.02, 1), betaInit: constantInit(0) };

/**
 * Layer normalization over (H, W, C) of each sample with a per-channel gain and bias — the
 * critic normalization WGAN-GP recommends instead of BatchNorm (Gulrajani et al. 2017, §4),
 * as its code's `layernorm` over axes [1, 2, 3]. Written with ops that differentiate twice.
 */
export class LayerNorm extends Module {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(rng: Rng, channels: number, readonly eps = 1e-5) {
    super();
    this.gamma = this.param("gamma", constantInit(1)([channels], rng));
    this.beta = this.param("beta", constantInit(0)([channels], rng));
  }

  apply(x: tf.Tensor): tf.Tensor {
    const axes = x.shape.slice(1).map((_, i) => i + 1);
    const centred = tf.sub(x, tf.mean(x, axes, true));
    const variance = tf.mean(tf.square(centred), axes, true);
    const normed = tf.div(centred, tf.sqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(normed, this.gamma), this.beta);
  }
}

/** Normalization inside the critic: BatchNorm (WGAN), LayerNorm or none (WGAN-GP). */
export type CriticNorm = "batch" | "layer" | "none";

/**
 * The DCGAN generator at 32×32 (authors' code `DCGAN_G` with isize 32): z is a 1×1 feature map,
 * 4×4 transposed convs (stride 1 then 2, 2, 2) with BatchNorm and ReLU, tanh output.
 */
export class DcganGenerator extends Module {
  readonly deconvs: ConvTranspose2d[] = [];
  readonly norms: BatchNorm[] = [];

  constructor(rng: Rng, readonly latentDim: number, channels: number, ngf: number) {
    super();
    const widths = [latentDim, 4 * ngf, 2 * ngf, ngf, channels];
    for (let i = 0; i < 4; i++) {
      const [stride, pad] = i === 0 ? [1, 0] : [2, 1];
      this.deconvs.push(this.child(
        `deconv${i}`,
        new ConvTranspose2d(rng, widths[i], widths[i + 1], 4, stride, pad, CONV_INIT),
      ));
      if (i < 3) this.norms.push(this.child(`bn${i}`, new BatchNorm(rng, widths[i + 1], BN_INIT)));
    }
  }

  /** z [B, latent] → images [B, 32, 32, C] in [−1, 1]. */
  apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D {
    let h: tf.Tensor = tf.reshape(z, [-1, 1, 1, this.latentDim]);
    this.deconvs.forEach((d, i) => {
      h = d.apply(h);
      h = i < 3 ? tf.relu(this.norms[i].apply(h, opts)) : tf.tanh(h);
    });
    return h as tf.Tensor4D;
  }
}

/**
 * The DCGAN critic at 32×32 (authors' code `DCGAN_D` with isize 32): 4×4 stride-2 convs
 * C → ndf → 2ndf → 4ndf (32 → 16 → 8 → 4) with LeakyReLU(0.2), normalization after all but the
 * first, then a 4×4 valid conv to one unbounded score per image. With BatchNorm the convs have no
 * bias (as the authors'); without normalization they do (as the WGAN-GP code's).
 */
export class DcganCritic extends Module {
  readonly convs: Conv2d[] = [];
  readonly norms: (BatchNorm | LayerNorm | null)[] = [];

  constructor(rng: Rng, channels: number, ndf: number, readonly norm: CriticNorm) {
    super();
    const init = { ...CONV_INIT, bias: norm === "none" };
    const widths = [channels, ndf, 2 * ndf, 4 * ndf];
    for (let i = 0; i < 3; i++) {
      this.convs.push(
        this.child(`conv${i}`, new Conv2d(rng, widths[i], widths[i + 1], 4, 2, 1, init)),
      );
      const w = widths[i + 1];
      this.norms.push(
        i === 0 || norm === "none" ? null : this.child(
          `norm${i}`,
          norm === "batch" ? new BatchNorm(rng, w, BN_INIT) : new LayerNorm(rng, w),
        ),
      );
    }
    this.convs.push(this.child("out", new Conv2d(rng, 4 * ndf, 1, 4, 1, 0, init)));
  }

  /** Images [B, 32, 32, C] → scores [B]. */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor1D {
    let h = x;
    for (let i = 0; i < 3; i++) {
      h = this.convs[i].apply(h);
      const n = this.norms[i];
      if (n instanceof BatchNorm) h = n.apply(h, opts);
      else if (n) h = n.apply(h);
      h = leakyRelu(h, 0.2);
    }
    return tf.reshape(this.convs[3].apply(h), [-1]) as tf.Tensor1D;
  }
}

/** wgan.py's critic: gan.py's discriminator without the sigmoid (784 → 512 → 256 → 1). */
export class MlpCritic extends Module {
  readonly layers: Linear[] = [];

  constructor(rng: Rng, readonly pixels: number, hidden: number[] = [512, 256]) {
    super();
    let inF = pixels;
    for (const [i, h] of [...hidden, 1].entries()) {
      this.layers.push(this.child(`fc${i}`, new Linear(rng, inF, h)));
      inF = h;
    }
  }

  /** Images [B, H, W, C] → scores [B]. */
  apply(x: tf.Tensor, _opts?: ForwardOptions): tf.Tensor1D {
    let h: tf.Tensor = tf.reshape(x, [-1, this.pixels]);
    this.layers.forEach((l, i) => {
      h = l.apply(h);
      if (i < this.layers.length - 1) h = leakyRelu(h, 0.2);
    });
    return tf.reshape(h, [-1]) as tf.Tensor1D;
  }
}

/** Either generator: z [B, latent] → images [B, H, W, C]. */
export type WganGenerator = DcganGenerator | MlpGenerator;
/** Either critic: images → scores [B]. */
export type WganCritic = DcganCritic | MlpCritic;

/** Builds wgan.ts's networks for images with `channels` channels. */
export function buildNetworks(
  cfg: WganConfig,
  channels: number,
  seed: number,
): { G: WganGenerator; D: WganCritic } {
  const rngG = new Rng(seed, "init-G"), rngD = new Rng(seed, "init-D");
  if (cfg.arch === "mlp") {
    return {
      G: new MlpGenerator(rngG, { ...GAN_CONFIG, latentDim: cfg.latentDim }),
      D: new MlpCritic(rngD, 28 * 28),
    };
  }
  return {
    G: new DcganGenerator(rngG, cfg.latentDim, channels, cfg.ngf),
    D: new DcganCritic(rngD, channels, cfg.ndf, "batch"),
  };
}

/** Critic iterations of generator iteration `g` (0-based): n_critic, or 100 during burn-in. */
export function criticIterations(cfg: WganConfig, g: number): number {
  return cfg.criticBurnIn && (g < 25 || g % 500 === 0) ? 100 : cfg.nCritic;
}

/**
 * Critic batches consumed before generator iteration `g`: Σ criticIterations(0..g−1), in closed
 * form so that a resumed run finds its place in the data stream without saved state.
 */
export function batchesBefore(cfg: WganConfig, g: number): number {
  if (!cfg.criticBurnIn) return g * cfg.nCritic;
  const burnIn = Math.min(g, 25) + (g > 500 ? Math.floor((g - 1) / 500) : 0);
  return g * cfg.nCritic + burnIn * (100 - cfg.nCritic);
}

/**
 * Work before generator iteration `g`, for the ETA: critic batches plus generator updates (each
 * costs about one critic batch), so the 100-iteration burn-in steps count 20 normal ones.
 */
export function workBefore(cfg: WganConfig, g: number): number {
  return batchesBefore(cfg, g) + g;
}

// ---- experiment ---------------------------------------------------------------------------------

const FLAGS: Record<string, ExtraFlag> = {
  arch: {
    type: "string",
    choices: ["dcgan", "mlp"],
    help: "networks: dcgan (the paper's, 32×32; default) or mlp (PyTorch-GAN wgan.py, 28×28 gray)",
  },
  clip: { type: "string", help: "weight-clipping bound c (default 0.01)" },
  "critic-burn-in": {
    type: "string",
    choices: ["on", "off"],
    help: "100 critic iterations for the first 25 and every 500th G iteration (authors' code; " +
      "default on, off in --quick)",
  },
  "n-critic": { type: "string", help: "critic iterations per generator iteration (default 5)" },
};

/** Parses a positive number flag, with a one-line error. */
export function positiveFlag(name: string, v: unknown, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UserError(
      `--${name} expects a positive ${integer ? "integer" : "number"}, got "${v}"`,
    );
  }
  return n;
}

/** How wgan.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<WganConfig> = {
  paper: "wgan",
  description: "WGAN (Arjovsky et al. 2017): weight-clipped critic, RMSprop, n_critic = 5; " +
    "DCGAN nets on MNIST at 32×32 by default.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => ({
    ...base,
    epochs: args.epochs ?? base.epochs,
    batchSize: args.batchSize ?? base.batchSize,
    lr: args.lr ?? base.lr,
    dataset: args.dataset ?? base.dataset,
    arch: (args.extra.arch as WganConfig["arch"]) ?? base.arch,
    clip: positiveFlag("clip", args.extra.clip, false) ?? base.clip,
    nCritic: positiveFlag("n-critic", args.extra["n-critic"], true) ?? base.nCritic,
    criticBurnIn: args.extra["critic-burn-in"] === undefined
      ? base.criticBurnIn
      : args.extra["critic-burn-in"] === "on",
  }),
  runIdParts: (cfg) => [cfg.dataset, cfg.arch],
  dataset: (cfg) => ({
    name: cfg.dataset,
    split: "train",
    limit: cfg.limit ?? undefined,
    size: cfg.arch === "dcgan" ? 32 : undefined,
  }),
};

/** Entry point: parses flags, trains (Algorithm 1), writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  if (cfg.arch === "mlp" && (data.height !== 28 || data.width !== 28 || data.channels !== 1)) {
    throw new UserError(
      `--arch mlp expects 28×28 grayscale images; ${data.name} is ` +
        `${data.height}×${data.width}×${data.channels} (use --arch dcgan)`,
    );
  }
  // Critic batches form one stream over reshuffled epochs of the data; a nominal epoch is
  // ⌊batches / n_critic⌋ generator iterations (the burn-in makes the critic see a little more).
  const nb = numBatches(data.n, cfg.batchSize);
  const stepsPerEpoch = Math.floor(nb / cfg.nCritic);
  if (stepsPerEpoch < 1) {
    throw new UserError(
      `${data.n} images make fewer than n_critic = ${cfg.nCritic} batches of ${cfg.batchSize}`,
    );
  }

  const { G, D } = buildNetworks(cfg, data.channels, args.seed);
  const optG = new RMSprop(cfg.lr), optD = new RMSprop(cfg.lr);
  const noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([64, cfg.latentDim]);
  const loop = TrainLoop.create(run, {
    modules: { G, D },
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "wgan",
    stepsPerEpoch,
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
    // A burn-in step costs 20 normal ones; counting critic batches keeps the early ETA honest.
    workBefore: (g) => workBefore(cfg, g),
  });
  if (loop.step === 0) {
    const real = toTensor(data, [...Array(64).keys()]);
    await saveGrid(run.path("real.png"), real, GRID);
    real.dispose();
  }

  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  const train = { training: true };
  let orderEpoch = -1, order: Int32Array = new Int32Array(0);
  while (loop.running) {
    const t0 = performance.now();
    // Algorithm 1, lines 2–8: n_critic critic updates, each on a fresh real batch.
    const nCritic = criticIterations(cfg, loop.step), first = batchesBefore(cfg, loop.step);
    let critic: tf.Tensor | null = null;
    for (let t = 0; t < nCritic; t++) {
      const b = first + t;
      if (Math.floor(b / nb) !== orderEpoch) {
        orderEpoch = Math.floor(b / nb);
        order = epochOrder(data.n, args.seed, orderEpoch);
      }
      const idx = batchIndices(order, cfg.batchSize, b % nb);
      critic?.dispose();
      critic = tf.tidy(() => {
        const real = toTensor(data, idx);
        const fake = G.apply(noise.randn([idx.length, cfg.latentDim]), train);
        let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
        const d = tf.variableGrads(() => {
          dReal = tf.keep(D.apply(real, train)); // kept past variableGrads' own tidy
          dFake = tf.keep(D.apply(fake, train));
          // Minimizing E[f(G(z))] − E[f(x)] is gradient ascent on the W1 estimate (line 6).
          return criticWasserstein(dReal, dFake);
        }, dVars);
        optD.step(dVars, dVars.map((v) => d.grads[v.name]));
        // Line 7: w ← clip(w, −c, c), every critic parameter (BatchNorm's γ and β included).
        for (const v of dVars) v.assign(tf.clipByValue(v, -cfg.clip, cfg.clip));
        const out = tf.stack([d.value, tf.mean(dReal!), tf.mean(dFake!)]);
        dReal!.dispose(); // tf.keep'd: the tidy does not free them
        dFake!.dispose();
        return out;
      });
    }
    // Lines 9–10: one generator update, θ ← θ − α·RMSProp(∇θ −E[f(g(z))]).
    const gLoss = tf.tidy(() => {
      const z = noise.randn([cfg.batchSize, cfg.latentDim]);
      const g = tf.variableGrads(
        () => generatorWasserstein(D.apply(G.apply(z, train), train)),
        gVars,
      );
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      return g.value;
    });
    const [cLoss, dx, dgz] = await critic!.data();
    const values = {
      critic_loss: cLoss,
      W_estimate: -cLoss,
      g_loss: (await gLoss.data())[0],
      "D(x)": dx,
      "D(G(z))": dgz,
    };
    critic!.dispose();
    gLoss.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, nCritic * cfg.batchSize, seconds, async (epoch) => {
      await saveSamples(run.path("grids", epochGridName(epoch)), G, fixedZ);
    });
    if (!go) return;
  }

  await writeWassersteinFigures(run, cfg.smoothing, `WGAN (weight clipping) on ${cfg.dataset}`);
  await saveSamples(run.path("samples.png"), G, fixedZ);
  await writeEpochFigures(run, cfg.epochs, cfg.seriesEpochs);
  await run.finish();
  console.error(`[wgan] done: ${run.dir}`);
}

// ---- figures and sampling (shared with wgan_gp.ts) ----------------------------------------------

/** 8×8 grids in the tanh range [−1, 1], as the authors' code saves 64 samples. */
export const GRID = { nrow: 8 };

/** File name of an epoch's fixed-noise grid. */
export function epochGridName(epoch: number): string {
  return `epoch_${String(epoch).padStart(3, "0")}.png`;
}

/**
 * Fixed-noise samples. BatchNorm uses the batch's own statistics (training mode, as the authors'
 * code samples) without updating the running statistics.
 */
export async function saveSamples(
  path: string,
  G: { apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D },
  z: tf.Tensor,
): Promise<void> {
  const imgs = tf.tidy(() => G.apply(z, { training: true, updateStats: false }));
  await saveGrid(path, imgs, GRID);
  imgs.dispose();
}

/**
 * `wasserstein.svg` (the W1 estimate over generator iterations, EMA-smoothed, as the paper's
 * Fig. 3/4) and `losses.svg` (critic and generator losses). The values are in losses.jsonl.
 */
export async function writeWassersteinFigures(
  run: Run,
  smoothing: number,
  title: string,
): Promise<void> {
  const losses = await run.readLosses();
  const steps = losses.map((r) => r.step);
  await writeFileAtomic(
    run.path("wasserstein.svg"),
    linePlot(
      [{ name: "E[D(x)] − E[D(G(z))]", x: steps, y: losses.map((r) => r.W_estimate) }],
      {
        title: `${title}: Wasserstein estimate`,
        xLabel: "generator iterations",
        yLabel: "W1 estimate",
        smooth: smoothing,
      },
    ),
  );
  await writeFileAtomic(
    run.path("losses.svg"),
    linePlot(
      [
        { name: "critic loss", x: steps, y: losses.map((r) => r.critic_loss) },
        { name: "generator loss", x: steps, y: losses.map((r) => r.g_loss) },
      ],
      {
        title: `${title}: losses`,
        xLabel: "generator iterations",
        yLabel: "loss",
        smooth: smoothing,
      },
    ),
  );
}

/** `epoch_series.png` (the chosen epochs side by side) and `progress.png` (an APNG of all grids). */
export async function writeEpochFigures(
  run: Run,
  epochs: number,
  seriesEpochs: number[],
): Promise<void> {
  const frames: RgbImage[] = [];
  const series: RgbImage[] = [];
  for (let e = 1; e <= epochs; e++) {
    const img = decodePng(await Deno.readFile(run.path("grids", epochGridName(e))));
    frames.push(img);
    if (seriesEpochs.includes(e)) series.push(img);
  }
  if (series.length > 0) {
    await writeFileAtomic(run.path("epoch_series.png"), encodePng(hstack(series, 4)));
  }
  await writeFileAtomic(run.path("progress.png"), encodeApng(frames, 200));
}

/**
 * Loads a finished (or checkpointed) run's generator: `build` rebuilds it from the manifest's
 * config and the checkpoint's tensors (from which e.g. the image channels can be read), then the
 * `G/` tensors are loaded into it.
 */
export async function loadGenerator<G extends Module>(
  runDir: string,
  build: (manifest: Manifest, tensors: Map<string, tf.Tensor>) => G,
): Promise<{ G: G; manifest: Manifest }> {
  const manifest = JSON.parse(await Deno.readTextFile(join(runDir, "manifest.json"))) as Manifest;
  const { tensors } = await loadCheckpoint(join(runDir, "checkpoint"));
  const G = build(manifest, tensors);
  loadStateDict(G, tensors, "G/");
  for (const t of tensors.values()) t.dispose();
  return { G, manifest };
}

/** n samples in inference mode (BatchNorm running statistics) from `Rng(seed, "eval-noise")`. */
export function generateForEval(
  G: { apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D },
  latentDim: number,
  n: number,
  seed: number,
  batch = 256,
): tf.Tensor4D {
  const rng = new Rng(seed, "eval-noise");
  const parts: tf.Tensor4D[] = [];
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    parts.push(tf.tidy(() => G.apply(rng.randn([b, latentDim]), { training: false })));
  }
  const out = tf.concat(parts, 0) as tf.Tensor4D;
  for (const p of parts) p.dispose();
  return out;
}

/** Samples for the evaluation tool: the run's generator, inference mode, `eval-noise` stream. */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D; labels?: Int32Array }> {
  const { G, manifest } = await loadGenerator(runDir, (m, tensors) => {
    const cfg = m.config as WganConfig;
    // The last transposed conv's weight is [k, k, C, ngf]; the MLP generator is always 1-channel.
    const channels = tensors.get("G/deconv3/weight")?.shape[2] ?? 1;
    return buildNetworks(cfg, channels, m.seed).G;
  });
  const cfg = manifest.config as WganConfig;
  const images = generateForEval(G, cfg.latentDim, n, manifest.seed);
  G.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
