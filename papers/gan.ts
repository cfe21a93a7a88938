/**
 * GAN — Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
 *
 * The MLP GAN on MNIST as in the PyTorch-GAN reference implementation (implementations/gan/gan.py):
 * G: z(100) → 128 → 256 → 512 → 1024 → 784, BatchNorm + LeakyReLU(0.2), tanh;
 * D: 784 → 512 → 256 → 1, LeakyReLU(0.2), sigmoid; BCE; Adam(2e-4, 0.5, 0.999); batch 64; 200 epochs.
 *
 * Algorithm 1 of the paper with k = 1, in the reference's order: one G step, then one D step on the
 * same generated batch.
 *
 *   deno task reproduce gan            # the reference config (200 epochs)
 *   deno task reproduce gan --quick    # about a minute on CPU
 *
 * @module
 */
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import {
  BatchNorm,
  type ForwardOptions,
  leakyRelu,
  Linear,
  loadStateDict,
  Module,
} from "../lib/nn.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { bce } from "../lib/losses.ts";
import { epochOrder, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { Run } from "../lib/run.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { join } from "node:path";
import { saveGrid } from "../lib/image.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { UserError } from "../lib/fsutil.ts";
import { writeReport } from "../lib/report.ts";

/** Hyperparameters; defaults are the reference implementation's argparse defaults. */
export interface GanConfig {
  /** Training epochs (gan.py `--n_epochs 200`). */
  epochs: number;
  /** Minibatch size (gan.py `--batch_size 64`). */
  batchSize: number;
  /** Adam learning rate and betas (gan.py `--lr 0.0002 --b1 0.5 --b2 0.999`). */
  lr: number;
  beta1: number;
  beta2: number;
  /** Dimension of z (gan.py `--latent_dim 100`); the paper draws z from a prior p_z, here N(0, I). */
  latentDim: number;
  /** Hidden widths of G (gan.py Generator: 128, 256, 512, 1024). */
  gHidden: number[];
  /** Hidden widths of D (gan.py Discriminator: 512, 256). */
  dHidden: number[];
  /**
   * The value gan.py passes as `nn.BatchNorm1d(out_feat, 0.8)`: PyTorch's 2nd positional argument
   * is eps, not momentum, so the reference normalizes with eps = 0.8. Reproduced as written.
   */
  bnEps: number;
  /**
   * Generator loss. "non-saturating" (−log D(G(z)), what gan.py trains and §3 of the paper
   * recommends in practice) or "minimax" (log(1 − D(G(z))), Eq. 1 as written).
   */
  gLoss: "non-saturating" | "minimax";
  /** Save a 5×5 grid of the current training batch every this many batches (gan.py 400). */
  sampleInterval: number;
  /**
   * BatchNorm mode for the fixed-noise grids. "train" uses the fixed batch's own statistics, as
   * the reference's grids do (they come from the training-mode forward pass); "eval" uses running
   * statistics. Running statistics are never updated by sampling.
   */
  sampleBatchNorm: "train" | "eval";
  /** Dataset and how many training images to use (null = all 60,000). */
  dataset: string;
  limit: number | null;
  /** Log losses every this many steps; checkpoint every this many steps (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** Epochs whose fixed-noise grids form the epoch-series figure (the source shows 1, 25, 50). */
  seriesEpochs: number[];
}

/** The reference configuration. */
export const PAPER_CONFIG: GanConfig = {
  epochs: 200,
  batchSize: 64,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  latentDim: 100,
  gHidden: [128, 256, 512, 1024],
  dHidden: [512, 256],
  bnEps: 0.8,
  gLoss: "non-saturating",
  sampleInterval: 400,
  sampleBatchNorm: "train",
  dataset: "mnist",
  limit: null,
  logEvery: 10,
  checkpointEvery: 2000,
  seriesEpochs: [1, 25, 50, 100, 200],
};

/** `--quick`: same model, 4,096 images, 2 epochs — about a minute on a CPU. */
export const QUICK_CONFIG: GanConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  limit: 4096,
  sampleInterval: 16,
  logEvery: 1,
  checkpointEvery: 16,
  seriesEpochs: [1, 2],
};

const IMAGE = { height: 28, width: 28, channels: 1 };
const PIXELS = IMAGE.height * IMAGE.width * IMAGE.channels;

/** Generator: MLP blocks Linear → BatchNorm(eps 0.8) → LeakyReLU, first block without BN. */
export class Generator extends Module {
  readonly layers: Linear[] = [];
  readonly norms: (BatchNorm | null)[] = [];
  readonly out: Linear;

  constructor(rng: Rng, cfg: GanConfig) {
    super();
    let inF = cfg.latentDim;
    cfg.gHidden.forEach((h, i) => {
      this.layers.push(this.child(`block${i}/linear`, new Linear(rng, inF, h)));
      this.norms.push(
        i === 0 ? null : this.child(`block${i}/bn`, new BatchNorm(rng, h, { eps: cfg.bnEps })),
      );
      inF = h;
    });
    this.out = this.child("out", new Linear(rng, inF, PIXELS));
  }

  /** z [B, latent] → images [B, 28, 28, 1] in [−1, 1]. */
  apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D {
    let h: tf.Tensor = z;
    this.layers.forEach((l, i) => {
      h = l.apply(h);
      const bn = this.norms[i];
      if (bn) h = bn.apply(h, opts);
      h = leakyRelu(h, 0.2);
    });
    return tf.reshape(tf.tanh(this.out.apply(h)), [-1, IMAGE.height, IMAGE.width, IMAGE.channels]);
  }
}

/** Discriminator: MLP with LeakyReLU(0.2), sigmoid output = probability the input is real. */
export class Discriminator extends Module {
  readonly layers: Linear[] = [];
  readonly out: Linear;

  constructor(rng: Rng, cfg: GanConfig) {
    super();
    let inF = PIXELS;
    cfg.dHidden.forEach((h, i) => {
      this.layers.push(this.child(`fc${i}`, new Linear(rng, inF, h)));
      inF = h;
    });
    this.out = this.child("out", new Linear(rng, inF, 1));
  }

  apply(x: tf.Tensor): tf.Tensor2D {
    let h: tf.Tensor = tf.reshape(x, [-1, PIXELS]);
    for (const l of this.layers) h = leakyRelu(l.apply(h), 0.2);
    return tf.sigmoid(this.out.apply(h));
  }
}

const FLAGS: Record<string, ExtraFlag> = {
  "g-loss": {
    type: "string",
    choices: ["non-saturating", "minimax"],
    help: "generator loss: −log D(G(z)) (default, as trained in the source) or log(1 − D(G(z)))",
  },
  "sample-bn": {
    type: "string",
    choices: ["train", "eval"],
    help: "BatchNorm mode of the fixed-noise grids (default train, as the source's grids)",
  },
};

/** How gan.ts plugs into the shared experiment setup (flags → config, run name, dataset). */
export const SPEC: ExperimentSpec<GanConfig> = {
  paper: "gan",
  description: "GAN (Goodfellow et al. 2014): MLP generator and discriminator on MNIST.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => ({
    ...base,
    epochs: args.epochs ?? base.epochs,
    batchSize: args.batchSize ?? base.batchSize,
    lr: args.lr ?? base.lr,
    dataset: args.dataset ?? base.dataset,
    gLoss: (args.extra["g-loss"] as GanConfig["gLoss"]) ?? base.gLoss,
    sampleBatchNorm: (args.extra["sample-bn"] as GanConfig["sampleBatchNorm"]) ??
      base.sampleBatchNorm,
  }),
  runIdParts: (cfg) => [cfg.dataset, cfg.gLoss],
  dataset: (cfg) => ({ name: cfg.dataset, split: "train", limit: cfg.limit ?? undefined }),
};

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  if (data.height !== 28 || data.width !== 28 || data.channels !== 1) {
    throw new UserError(
      `gan expects 28×28 grayscale images; ${data.name} is ${data.height}×${data.width}×${data.channels}`,
    );
  }

  // One seed, independent streams: weights, latent noise, fixed sample noise, data order.
  const G = new Generator(new Rng(args.seed, "init-G"), cfg);
  const D = new Discriminator(new Rng(args.seed, "init-D"), cfg);
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([25, cfg.latentDim]);
  const loop = TrainLoop.create(run, {
    modules: { G, D },
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "gan",
    stepsPerEpoch: Math.ceil(data.n / cfg.batchSize), // DataLoader default: keeps the last partial batch
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });
  if (loop.step === 0) {
    await saveGrid(run.path("real.png"), toTensor(data, [...Array(25).keys()]), GRID);
  }

  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  while (loop.running) {
    const order = epochOrder(data.n, args.seed, loop.epoch);
    const i = loop.stepInEpoch;
    const idx = order.subarray(i * cfg.batchSize, Math.min(data.n, (i + 1) * cfg.batchSize));
    const t0 = performance.now();
    const out = tf.tidy(() => {
      const real = toTensor(data, idx);
      const z = noise.randn([idx.length, cfg.latentDim]);
      // Train G. Its batch is kept and reused, detached, for D below (one G forward per step).
      let fake: tf.Tensor | null = null;
      const g = tf.variableGrads(() => {
        fake = tf.keep(G.apply(z, { training: true }));
        const dFake = D.apply(fake);
        return cfg.gLoss === "minimax" ? tf.neg(bce(dFake, 0)) : bce(dFake, 1);
      }, gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      // Train D on real vs that batch; the reference halves the summed loss.
      let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
      const d = tf.variableGrads(() => {
        dReal = tf.keep(D.apply(real));
        dFake = tf.keep(D.apply(fake!));
        return tf.div(tf.add(bce(dReal, 1), bce(dFake, 0)), 2) as tf.Scalar;
      }, dVars);
      optD.step(dVars, dVars.map((v) => d.grads[v.name]));
      const values = tf.stack([d.value, g.value, tf.mean(dReal!), tf.mean(dFake!)]);
      tf.dispose([dReal!, dFake!]); // kept out of the gradient scopes above; done with them now
      return { values, fake: fake! };
    });
    // Async read: a synchronous GPU read needs a DOM canvas, which Deno's WebGPU lacks.
    const [dLoss, gLoss, dx, dgz] = await out.values.data();
    out.values.dispose();
    // The reference saves the first 25 images of the current batch every sample_interval batches.
    if (loop.step % cfg.sampleInterval === 0) {
      const name = `${String(loop.step).padStart(6, "0")}.png`;
      await saveGrid(run.path("batches", name), tf.slice(out.fake, 0, 25) as tf.Tensor4D, GRID);
    }
    out.fake.dispose();
    const values = { d_loss: dLoss, g_loss: gLoss, "D(x)": dx, "D(G(z))": dgz };
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, idx.length, seconds, async (epoch) => {
      await saveSamples(
        epochGridPath(run, epoch),
        G,
        fixedZ,
        cfg.sampleBatchNorm,
      );
    });
    if (!go) return;
  }

  await writeFigures(run, G, fixedZ, cfg);
  await run.finish();
  await writeReport(run.dir);
  console.error(`[gan] done: ${run.dir}`);
}

/**
 * n samples from a finished (or checkpointed) run, for `deno task eval`. BatchNorm runs in
 * inference mode so each sample depends only on its own z.
 */
export async function sampleForEval(runDir: string, n: number): Promise<{ images: tf.Tensor4D }> {
  const manifest = await Run.readManifest(runDir);
  const cfg = manifest.config as GanConfig;
  const G = new Generator(new Rng(manifest.seed, "init-G"), cfg);
  loadStateDict(G, (await loadCheckpoint(join(runDir, "checkpoint"))).tensors, "G/");
  const z = new Rng(manifest.seed, "eval-noise").randn([n, cfg.latentDim]);
  const images = tf.tidy(() => G.apply(z, { training: false }));
  z.dispose();
  G.dispose();
  return { images };
}

/** 5×5 grids min–max normalized, as the reference's save_image(nrow=5, normalize=True). */
const GRID = { ...IMAGE, nrow: 5, normalize: true };

/** Samples from the fixed noise without touching BatchNorm's running statistics. */
async function saveSamples(path: string, G: Generator, z: tf.Tensor, mode: "train" | "eval") {
  const imgs = tf.tidy(() => G.apply(z, { training: mode === "train", updateStats: false }));
  await saveGrid(path, imgs, GRID);
  imgs.dispose();
}

async function writeFigures(run: Run, G: Generator, z: tf.Tensor, cfg: GanConfig): Promise<void> {
  await plotLosses(run, "losses", { "D loss": "d_loss", "G loss": "g_loss" }, {
    title: `GAN on ${cfg.dataset}: losses`,
    yLabel: "BCE loss",
  });
  await plotLosses(run, "d_outputs", { "D(x)": "D(x)", "D(G(z))": "D(G(z))" }, {
    title: "Discriminator outputs",
    yLabel: "mean probability",
    yRange: [0, 1],
  });
  // Final samples in both BatchNorm modes, so the choice is visible rather than hidden.
  for (const mode of ["train", "eval"] as const) {
    await saveSamples(run.path(`samples_bn-${mode}.png`), G, z, mode);
  }
  await progressFigures(run, cfg.epochs, cfg.seriesEpochs);
}

if (import.meta.main) await runMain(() => main(Deno.args));
