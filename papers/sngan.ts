/**
 * SNGAN — Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative Adversarial
 * Networks", ICLR 2018. Authors' code: github.com/pfnet-research/sngan_projection (Chainer).
 *
 * Every weight layer of the discriminator is spectrally normalized, W̄ = W / σ(W), with σ estimated
 * by one power-iteration step per discriminator update (Algorithm 1; lib/spectral_norm.ts), which
 * bounds D's Lipschitz constant by 1 without clipping or penalties. Loss: the hinge loss the paper
 * uses for its best results (eq. 16–17): D minimizes E[relu(1 − D(x))] + E[relu(1 + D(G(z)))],
 * G minimizes −E[D(G(z))]; `--loss standard` gives the non-saturating GAN loss of the paper's
 * other experiments instead.
 *
 * Networks: the paper's "standard CNN" for 32×32 images (Table 3). G: z ∈ R¹²⁸ ~ N(0, I) → dense
 * → 4×4×512 → three 4×4 stride-2 deconvs 512 → 256 → 128 → 64 with BatchNorm and ReLU → 3×3 conv
 * to the image channels, tanh. D: convs 3×3 64, 4×4 s2 64, 3×3 128, 4×4 s2 128, 3×3 256, 4×4 s2
 * 256, 3×3 512 (32 → 16 → 8 → 4), each followed by LeakyReLU(0.1), then dense → 1; all spectrally
 * normalized, no BatchNorm. Weights N(0, 0.02), biases 0 (the authors' initializer).
 *
 * Optimizer: Adam with the paper's Table 1 settings, selected with `--setting`:
 *   A α=1e-4 β=(0.5, 0.9)  n_dis=5     B α=1e-4 β=(0.5, 0.999) n_dis=1
 *   C α=2e-4 β=(0.5, 0.999) n_dis=1    D α=1e-3 β=(0.5, 0.9)  n_dis=5
 *   E α=1e-3 β=(0.5, 0.999) n_dis=5    F α=1e-3 β=(0.9, 0.999) n_dis=5
 * Default C (one D update per G update, so the cheapest per generator iteration); A is the
 * setting of WGAN-GP's experiments.
 *
 * One training step is one generator iteration in the authors' updater's order: one G update, then
 * n_dis D updates, each on a fresh real batch. Differences from the authors' code, both deliberate:
 * D sees real and fake images in one forward pass (D has no batch statistics, so this changes
 * nothing but the power-iteration count: exactly one per D update, as Algorithm 1), and the
 * G update's forward through D uses ũ without advancing it.
 *
 * Offline default: MNIST resized to 32×32 (1 channel); `--dataset cifar10` for the paper's
 * CIFAR-10 experiments (the paper's figures come from much longer runs: raise `--epochs`).
 *
 *   deno task reproduce sngan            # Table 3 nets, setting C, hinge loss, MNIST at 32×32
 *   deno task reproduce sngan --quick    # narrow nets, a few hundred images: well under a minute
 *
 * @module
 */
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
  Module,
  normalInit,
} from "../lib/nn.ts";
import { SpectralNorm } from "../lib/spectral_norm.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import {
  discriminatorHinge,
  discriminatorMinimax,
  generatorHinge,
  generatorNonSaturating,
} from "../lib/losses.ts";
import { batchIndices, epochOrder, numBatches, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import type { Run } from "../lib/run.ts";
import { saveGrid } from "../lib/image.ts";
import { linePlot } from "../lib/plot.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";
import {
  epochGridName,
  generateForEval,
  GRID,
  loadGenerator,
  saveSamples,
  writeEpochFigures,
} from "./wgan.ts";

/** The six Adam/n_dis settings of the paper's Table 1. */
export const SETTINGS = {
  A: { lr: 1e-4, beta1: 0.5, beta2: 0.9, nDis: 5 },
  B: { lr: 1e-4, beta1: 0.5, beta2: 0.999, nDis: 1 },
  C: { lr: 2e-4, beta1: 0.5, beta2: 0.999, nDis: 1 },
  D: { lr: 1e-3, beta1: 0.5, beta2: 0.9, nDis: 5 },
  E: { lr: 1e-3, beta1: 0.5, beta2: 0.999, nDis: 5 },
  F: { lr: 1e-3, beta1: 0.9, beta2: 0.999, nDis: 5 },
} as const;

/** A setting name of {@link SETTINGS}. */
export type SettingName = keyof typeof SETTINGS;

/** Hyperparameters; defaults are the paper's. */
export interface SnganConfig {
  /** Epochs = passes of D over the data (the paper counts generator updates; see the module doc). */
  epochs: number;
  /** Minibatch size (§4: 64). */
  batchSize: number;
  /** The Table 1 setting the next four fields come from ("C" by default). */
  setting: SettingName;
  /** Adam α, β1, β2 for both networks and D updates per G update (Table 1). */
  lr: number;
  beta1: number;
  beta2: number;
  nDis: number;
  /** "hinge" (eq. 16–17) or "standard" (the non-saturating GAN loss, eq. 1 + §3 of Goodfellow). */
  loss: "hinge" | "standard";
  /** Dimension of z ~ N(0, I) (Table 3: 128). */
  latentDim: number;
  /** G widths: dense output and the three deconvs (Table 3a: 512, 256, 128, 64). */
  gChannels: number[];
  /** D widths of the four conv pairs (Table 3b: 64, 128, 256, 512). */
  dChannels: number[];
  /** LeakyReLU slope in D (Table 3b: 0.1). */
  slope: number;
  /** Dataset and how many training images to use (null = all). */
  dataset: string;
  limit: number | null;
  /** Log every this many steps; checkpoint every this many (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** Epochs whose fixed-noise grids form the epoch-series figure. */
  seriesEpochs: number[];
}

/** The paper's standard CNN, hinge loss, setting C, on MNIST at 32×32; 25 epochs (23,425 steps). */
export const PAPER_CONFIG: SnganConfig = {
  epochs: 25,
  batchSize: 64,
  setting: "C",
  ...SETTINGS.C,
  loss: "hinge",
  latentDim: 128,
  gChannels: [512, 256, 128, 64],
  dChannels: [64, 128, 256, 512],
  slope: 0.1,
  dataset: "mnist",
  limit: null,
  logEvery: 10,
  checkpointEvery: 1000,
  seriesEpochs: [1, 5, 10, 25],
};

/** `--quick`: the same nets at 1/8 width, 256 images, batch 16, 2 epochs (32 steps). */
export const QUICK_CONFIG: SnganConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  batchSize: 16,
  gChannels: [64, 32, 16, 8],
  dChannels: [8, 16, 32, 64],
  limit: 256,
  logEvery: 1,
  checkpointEvery: 8,
  seriesEpochs: [1, 2],
};

/** The authors' initializer: N(0, 0.02) weights, zero biases. */
const INIT = { weightInit: normalInit(0.02), biasInit: constantInit(0) };

/** Table 3a: the standard CNN generator for 32×32 images. */
export class Generator extends Module {
  readonly dense: Linear;
  readonly deconvs: ConvTranspose2d[] = [];
  readonly norms: BatchNorm[] = [];
  readonly out: Conv2d;

  constructor(rng: Rng, readonly latentDim: number, channels: number, readonly widths: number[]) {
    super();
    this.dense = this.child("dense", new Linear(rng, latentDim, 4 * 4 * widths[0], INIT));
    this.norms.push(this.child("bn0", new BatchNorm(rng, widths[0])));
    for (let i = 1; i < widths.length; i++) {
      this.deconvs.push(this.child(
        `deconv${i}`,
        new ConvTranspose2d(rng, widths[i - 1], widths[i], 4, 2, 1, INIT),
      ));
      this.norms.push(this.child(`bn${i}`, new BatchNorm(rng, widths[i])));
    }
    this.out = this.child(
      "out",
      new Conv2d(rng, widths[widths.length - 1], channels, 3, 1, 1, INIT),
    );
  }

  /** z [B, 128] → images [B, 32, 32, C] in [−1, 1]. */
  apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D {
    let h: tf.Tensor = tf.reshape(this.dense.apply(z), [-1, 4, 4, this.widths[0]]);
    h = tf.relu(this.norms[0].apply(h, opts));
    this.deconvs.forEach((d, i) => {
      h = tf.relu(this.norms[i + 1].apply(d.apply(h), opts));
    });
    return tf.tanh(this.out.apply(h));
  }
}

/** Table 3b: the standard CNN discriminator, every layer spectrally normalized. */
export class Discriminator extends Module {
  readonly convs: SpectralNorm<Conv2d>[] = [];
  readonly dense: SpectralNorm<Linear>;

  constructor(rng: Rng, channels: number, widths: number[], readonly slope: number) {
    super();
    let inC = channels;
    widths.forEach((w, i) => {
      const pair: [number, number, number][] = i < widths.length - 1
        ? [[3, 1, 1], [4, 2, 1]] // 3×3 then 4×4 stride 2: halves the resolution
        : [[3, 1, 1]]; // the last width has only the 3×3 conv
      pair.forEach(([k, s, p], j) => {
        const conv = new Conv2d(rng, inC, w, k, s, p, INIT);
        this.convs.push(this.child(`conv${i}_${j}`, new SpectralNorm(rng, conv)));
        inC = w;
      });
    });
    this.dense = this.child("dense", new SpectralNorm(rng, new Linear(rng, 4 * 4 * inC, 1, INIT)));
  }

  /** Images [B, 32, 32, C] → scores [B] (unbounded; no sigmoid). */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor1D {
    let h = x;
    for (const c of this.convs) h = leakyRelu(c.apply(h, opts), this.slope);
    h = tf.reshape(h, [h.shape[0], -1]);
    return tf.reshape(this.dense.apply(h, opts), [-1]) as tf.Tensor1D;
  }

  /** The current σ estimates of every layer (from the stored ũ, ṽ), for the logs. */
  async sigmas(): Promise<number[]> {
    const s = tf.tidy(() => tf.stack([...this.convs, this.dense].map((l) => l.sigma())));
    const v = Array.from(await s.data());
    s.dispose();
    return v;
  }
}

const FLAGS: Record<string, ExtraFlag> = {
  setting: {
    type: "string",
    choices: Object.keys(SETTINGS),
    help: "Adam/n_dis setting of the paper's Table 1 (default C; A is WGAN-GP's)",
  },
  loss: {
    type: "string",
    choices: ["hinge", "standard"],
    help: "hinge (default, eq. 16–17) or standard (non-saturating GAN loss)",
  },
};

/** How sngan.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<SnganConfig> = {
  paper: "sngan",
  description: "SNGAN (Miyato et al. 2018): spectrally normalized standard-CNN discriminator, " +
    "hinge loss, Adam setting C; MNIST at 32×32 by default.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    const setting = (args.extra.setting as SettingName | undefined) ?? base.setting;
    return {
      ...base,
      ...(args.extra.setting ? SETTINGS[setting] : {}),
      setting,
      epochs: args.epochs ?? base.epochs,
      batchSize: args.batchSize ?? base.batchSize,
      ...(args.lr ? { lr: args.lr } : {}),
      dataset: args.dataset ?? base.dataset,
      loss: (args.extra.loss as SnganConfig["loss"]) ?? base.loss,
    };
  },
  runIdParts: (cfg) => [cfg.dataset, cfg.loss, `setting${cfg.setting}`],
  dataset: (cfg) => ({
    name: cfg.dataset,
    split: "train",
    limit: cfg.limit ?? undefined,
    size: 32,
  }),
};

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  const stepsPerEpoch = Math.floor(numBatches(data.n, cfg.batchSize) / cfg.nDis);
  if (stepsPerEpoch < 1) {
    throw new UserError(
      `${data.n} images make fewer than n_dis = ${cfg.nDis} batches of ${cfg.batchSize}`,
    );
  }

  const G = new Generator(
    new Rng(args.seed, "init-G"),
    cfg.latentDim,
    data.channels,
    cfg.gChannels,
  );
  const D = new Discriminator(
    new Rng(args.seed, "init-D"),
    data.channels,
    cfg.dChannels,
    cfg.slope,
  );
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([64, cfg.latentDim]);
  const loop = TrainLoop.create(run, {
    modules: { G, D }, // D's ũ, ṽ are non-trainable variables: checkpointed with the weights
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "sngan",
    stepsPerEpoch,
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });
  if (loop.step === 0) {
    const real = toTensor(data, [...Array(64).keys()]);
    await saveGrid(run.path("real.png"), real, GRID);
    real.dispose();
  }

  const lossD = cfg.loss === "hinge" ? discriminatorHinge : discriminatorMinimax;
  const lossG = cfg.loss === "hinge" ? generatorHinge : generatorNonSaturating;
  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  const train = { training: true };
  while (loop.running) {
    const order = epochOrder(data.n, args.seed, loop.epoch);
    const t0 = performance.now();
    // One G update through D; D's power iteration does not advance here.
    const gLoss = tf.tidy(() => {
      const z = noise.randn([cfg.batchSize, cfg.latentDim]);
      const g = tf.variableGrads(
        () => lossG(D.apply(G.apply(z, train), { training: true, updateStats: false })),
        gVars,
      );
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      return g.value;
    });
    // n_dis D updates on fresh real batches; each forward advances every layer's ũ by one step.
    let stats: tf.Tensor | null = null;
    for (let t = 0; t < cfg.nDis; t++) {
      const idx = batchIndices(order, cfg.batchSize, loop.stepInEpoch * cfg.nDis + t);
      stats?.dispose();
      stats = tf.tidy(() => {
        const real = toTensor(data, idx);
        const fake = G.apply(noise.randn([idx.length, cfg.latentDim]), train);
        const both = tf.concat([real, fake], 0);
        let scores: tf.Tensor | null = null;
        const d = tf.variableGrads(() => {
          scores = tf.keep(D.apply(both, train));
          const [sReal, sFake] = tf.split(scores, 2);
          return lossD(sReal, sFake);
        }, dVars);
        optD.step(dVars, dVars.map((v) => d.grads[v.name]));
        const [sReal, sFake] = tf.split(scores!, 2);
        const out = tf.stack([d.value, tf.mean(sReal), tf.mean(sFake)]);
        scores!.dispose(); // tf.keep'd: the tidy does not free it
        return out;
      });
    }
    const [dLoss, dx, dgz] = await stats!.data();
    stats!.dispose();
    const sig = await D.sigmas();
    const values = {
      d_loss: dLoss,
      g_loss: (await gLoss.data())[0],
      "D(x)": dx,
      "D(G(z))": dgz,
      sigma_mean: sig.reduce((a, b) => a + b, 0) / sig.length,
    };
    gLoss.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, cfg.nDis * cfg.batchSize, seconds, async (epoch) => {
      await saveSamples(run.path("grids", epochGridName(epoch)), G, fixedZ);
    });
    if (!go) return;
  }

  await writeFigures(run, cfg);
  await saveSamples(run.path("samples.png"), G, fixedZ);
  await writeEpochFigures(run, cfg.epochs, cfg.seriesEpochs);
  await run.finish({ finalSigmas: await D.sigmas() });
  console.error(`[sngan] done: ${run.dir}`);
}

async function writeFigures(run: Run, cfg: SnganConfig): Promise<void> {
  const losses = await run.readLosses();
  const steps = losses.map((r) => r.step);
  const name = cfg.loss === "hinge" ? "hinge" : "non-saturating";
  await writeFileAtomic(
    run.path("losses.svg"),
    linePlot(
      [
        { name: "D loss", x: steps, y: losses.map((r) => r.d_loss) },
        { name: "G loss", x: steps, y: losses.map((r) => r.g_loss) },
      ],
      {
        title: `SNGAN (${name} loss, setting ${cfg.setting}) on ${cfg.dataset}`,
        xLabel: "generator iterations",
        yLabel: "loss",
        smooth: 0.6,
      },
    ),
  );
  await writeFileAtomic(
    run.path("d_outputs.svg"),
    linePlot(
      [
        { name: "mean D(x)", x: steps, y: losses.map((r) => r["D(x)"]) },
        { name: "mean D(G(z))", x: steps, y: losses.map((r) => r["D(G(z))"]) },
        { name: "mean σ(W) estimate", x: steps, y: losses.map((r) => r.sigma_mean), dashed: true },
      ],
      { title: "Discriminator scores and σ(W)", xLabel: "generator iterations", yLabel: "value" },
    ),
  );
}

/** Samples for the evaluation tool: the run's generator, inference mode, `eval-noise` stream. */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D; labels?: Int32Array }> {
  const { G, manifest } = await loadGenerator(runDir, (m, tensors) => {
    const cfg = m.config as SnganConfig;
    const channels = tensors.get("G/out/weight")?.shape[3] ?? 1; // [3, 3, 64, C]
    return new Generator(new Rng(m.seed, "init-G"), cfg.latentDim, channels, cfg.gChannels);
  });
  const images = generateForEval(G, (manifest.config as SnganConfig).latentDim, n, manifest.seed);
  G.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
