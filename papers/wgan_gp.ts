/**
 * WGAN-GP — Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of Wasserstein
 * GANs", NeurIPS 2017.
 *
 * Algorithm 1 of the paper: WGAN with the weight clipping replaced by a gradient penalty. For each
 * of n_critic = 5 critic updates, with real x, z ~ p(z) and ε ~ U[0, 1] (one per sample):
 *
 *   x̃ = G(z),  x̂ = εx + (1 − ε)x̃,
 *   L = D(x̃) − D(x) + λ(‖∇_x̂ D(x̂)‖₂ − 1)²,     λ = 10,
 *
 * averaged over the batch and minimized with Adam(α = 1e-4, β1 = 0, β2 = 0.9); then one generator
 * update on −D(G(z)) with the same Adam settings.
 *
 * Networks: the DCGAN generator and critic of wgan.ts (imported from there), at 32×32, with no
 * BatchNorm in the critic — the penalty is per sample, and batch normalization would make each
 * sample's gradient depend on the others (§4, "No critic batch normalization"). The paper
 * recommends layer normalization as a drop-in replacement; its CIFAR-10 DCGAN-style code
 * (gan_cifar.py) uses no normalization at all. Default here: none, as that code; `--critic-norm
 * layer` gives the layer-normalized critic. The penalty's second-order gradient (∇_θ of a ∇_x̂
 * term) runs through tfjs's double backpropagation; the critic's LeakyReLU is written as
 * 0.2x + 0.8·relu(x) because tfjs cannot differentiate `tf.leakyRelu` twice (lib/losses.ts).
 *
 * Offline default: MNIST resized to 32×32. `--dataset cifar10` trains on CIFAR-10, the paper's
 * image benchmark; its gan_cifar.py uses wider nets (DIM = 128: `--width 128`) and Adam
 * β1 = 0.5 (`--beta1 0.5`), with a dense first generator layer and 5×5 kernels that we do not copy.
 *
 *   deno task reproduce wgan_gp            # Algorithm 1's hyperparameters, MNIST at 32×32
 *   deno task reproduce wgan_gp --quick    # tiny nets, a few hundred images: well under a minute
 *
 * @module
 */
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { criticWasserstein, generatorWasserstein, gradientPenalty } from "../lib/losses.ts";
import { batchIndices, epochOrder, numBatches, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { saveGrid } from "../lib/image.ts";
import { UserError } from "../lib/fsutil.ts";
import {
  type CriticNorm,
  DcganCritic,
  DcganGenerator,
  epochGridName,
  generateForEval,
  GRID,
  loadGenerator,
  positiveFlag,
  saveSamples,
  writeEpochFigures,
  writeWassersteinFigures,
} from "./wgan.ts";

/** Hyperparameters; the defaults are Algorithm 1's unless a field says otherwise. */
export interface WganGpConfig {
  /** Epochs = passes of the critic over the data (not in the paper; see PAPER_CONFIG). */
  epochs: number;
  /** Minibatch size m (Algorithm 1: m = 64). */
  batchSize: number;
  /** Adam α, β1, β2 for both networks (Algorithm 1: 1e-4, 0, 0.9). */
  lr: number;
  beta1: number;
  beta2: number;
  /** Gradient-penalty coefficient λ (Algorithm 1: 10). */
  lambda: number;
  /** Critic iterations per generator iteration (Algorithm 1: n_critic = 5). */
  nCritic: number;
  /** Dimension of z ~ N(0, I) (the authors' code: 128). */
  latentDim: number;
  /** Base channels of the DCGAN generator and critic (gan_mnist.py: DIM = 64). */
  width: number;
  /** Critic normalization: "none" (gan_cifar.py) or "layer" (§4's recommendation). */
  criticNorm: Exclude<CriticNorm, "batch">;
  /** Dataset and how many training images to use (null = all). */
  dataset: string;
  limit: number | null;
  /** Log every this many generator iterations; checkpoint every this many (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** EMA weight used to smooth the plotted Wasserstein estimate. */
  smoothing: number;
  /** Epochs whose fixed-noise grids form the epoch-series figure. */
  seriesEpochs: number[];
}

/**
 * Algorithm 1's hyperparameters with the DCGAN nets on MNIST at 32×32. Epochs: 25, the same
 * budget as wgan.ts (4,675 generator iterations), so the two Wasserstein curves can be compared.
 */
export const PAPER_CONFIG: WganGpConfig = {
  epochs: 25,
  batchSize: 64,
  lr: 1e-4,
  beta1: 0,
  beta2: 0.9,
  lambda: 10,
  nCritic: 5,
  latentDim: 128,
  width: 64,
  criticNorm: "none",
  dataset: "mnist",
  limit: null,
  logEvery: 5,
  checkpointEvery: 500,
  smoothing: 0.9,
  seriesEpochs: [1, 5, 10, 25],
};

/** `--quick`: the same algorithm with 8-channel nets, 320 images, batch 16, 2 epochs (8 steps). */
export const QUICK_CONFIG: WganGpConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  batchSize: 16,
  width: 8,
  limit: 320,
  logEvery: 1,
  checkpointEvery: 2,
  smoothing: 0.5,
  seriesEpochs: [1, 2],
};

const FLAGS: Record<string, ExtraFlag> = {
  "critic-norm": {
    type: "string",
    choices: ["none", "layer"],
    help: "critic normalization: none (default, as gan_cifar.py) or layer (the paper's advice)",
  },
  lambda: { type: "string", help: "gradient-penalty coefficient λ (default 10)" },
  "n-critic": { type: "string", help: "critic iterations per generator iteration (default 5)" },
  width: { type: "string", help: "base channels of G and D (default 64; gan_cifar.py: 128)" },
  beta1: { type: "string", help: "Adam β1 (default 0, Algorithm 1; gan_cifar.py: 0.5)" },
};

/** How wgan_gp.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<WganGpConfig> = {
  paper: "wgan_gp",
  description: "WGAN-GP (Gulrajani et al. 2017): gradient penalty λ = 10, Adam(1e-4, 0, 0.9), " +
    "n_critic = 5; DCGAN nets without critic BatchNorm on MNIST at 32×32 by default.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    const beta1 = args.extra.beta1 === undefined ? base.beta1 : Number(args.extra.beta1);
    if (!(beta1 >= 0 && beta1 < 1)) {
      throw new UserError(`--beta1 expects a number in [0, 1), got "${args.extra.beta1}"`);
    }
    return {
      ...base,
      epochs: args.epochs ?? base.epochs,
      batchSize: args.batchSize ?? base.batchSize,
      lr: args.lr ?? base.lr,
      beta1,
      dataset: args.dataset ?? base.dataset,
      criticNorm: (args.extra["critic-norm"] as WganGpConfig["criticNorm"]) ?? base.criticNorm,
      lambda: positiveFlag("lambda", args.extra.lambda, false) ?? base.lambda,
      nCritic: positiveFlag("n-critic", args.extra["n-critic"], true) ?? base.nCritic,
      width: positiveFlag("width", args.extra.width, true) ?? base.width,
    };
  },
  runIdParts: (cfg) => [cfg.dataset, `norm-${cfg.criticNorm}`],
  dataset: (cfg) => ({
    name: cfg.dataset,
    split: "train",
    limit: cfg.limit ?? undefined,
    size: 32,
  }),
};

/** Entry point: parses flags, trains (Algorithm 1), writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  const stepsPerEpoch = Math.floor(numBatches(data.n, cfg.batchSize) / cfg.nCritic);
  if (stepsPerEpoch < 1) {
    throw new UserError(
      `${data.n} images make fewer than n_critic = ${cfg.nCritic} batches of ${cfg.batchSize}`,
    );
  }

  const G = new DcganGenerator(
    new Rng(args.seed, "init-G"),
    cfg.latentDim,
    data.channels,
    cfg.width,
  );
  const D = new DcganCritic(new Rng(args.seed, "init-D"), data.channels, cfg.width, cfg.criticNorm);
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const noise = new Rng(args.seed, "noise");
  const interpolation = new Rng(args.seed, "interpolation"); // ε of Algorithm 1, line 4
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([64, cfg.latentDim]);
  const loop = TrainLoop.create(run, {
    modules: { G, D },
    optimizers: { optG, optD },
    rngs: { noise, interpolation },
  }, {
    label: "wgan_gp",
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

  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  const train = { training: true };
  const critic = (x: tf.Tensor) => D.apply(x, train);
  while (loop.running) {
    const order = epochOrder(data.n, args.seed, loop.epoch);
    const t0 = performance.now();
    // Algorithm 1, lines 2–9: n_critic critic updates, each on a fresh real batch.
    let stats: tf.Tensor | null = null;
    for (let t = 0; t < cfg.nCritic; t++) {
      const idx = batchIndices(order, cfg.batchSize, loop.stepInEpoch * cfg.nCritic + t);
      stats?.dispose();
      stats = tf.tidy(() => {
        const real = toTensor(data, idx);
        const fake = G.apply(noise.randn([idx.length, cfg.latentDim]), train);
        const eps = interpolation.rand([idx.length, 1, 1, 1]);
        let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
        let gp: tf.Scalar | null = null;
        const d = tf.variableGrads(() => {
          dReal = tf.keep(critic(real));
          dFake = tf.keep(critic(fake));
          // Line 7: D(x̃) − D(x) + λ(‖∇x̂ D(x̂)‖ − 1)², x̂ = εx + (1 − ε)x̃ (inside gradientPenalty).
          gp = tf.keep(gradientPenalty(critic, real, fake, eps));
          return tf.add(criticWasserstein(dReal, dFake), tf.mul(gp, cfg.lambda)) as tf.Scalar;
        }, dVars);
        optD.step(dVars, dVars.map((v) => d.grads[v.name]));
        const out = tf.stack([d.value, tf.mean(dReal!), tf.mean(dFake!), gp!]);
        for (const t of [dReal!, dFake!, gp!]) t.dispose(); // tf.keep'd: the tidy does not free them
        return out;
      });
    }
    // Lines 10–11: one generator update on −D(G(z)).
    const gLoss = tf.tidy(() => {
      const z = noise.randn([cfg.batchSize, cfg.latentDim]);
      const g = tf.variableGrads(() => generatorWasserstein(critic(G.apply(z, train))), gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      return g.value;
    });
    const [cLoss, dx, dgz, gp] = await stats!.data();
    const values = {
      critic_loss: cLoss,
      W_estimate: dx - dgz,
      gradient_penalty: gp,
      g_loss: (await gLoss.data())[0],
      "D(x)": dx,
      "D(G(z))": dgz,
    };
    stats!.dispose();
    gLoss.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, cfg.nCritic * cfg.batchSize, seconds, async (epoch) => {
      await saveSamples(run.path("grids", epochGridName(epoch)), G, fixedZ);
    });
    if (!go) return;
  }

  await writeWassersteinFigures(run, cfg.smoothing, `WGAN-GP on ${cfg.dataset}`);
  await saveSamples(run.path("samples.png"), G, fixedZ);
  await writeEpochFigures(run, cfg.epochs, cfg.seriesEpochs);
  await run.finish();
  console.error(`[wgan_gp] done: ${run.dir}`);
}

/** Samples for the evaluation tool: the run's generator, inference mode, `eval-noise` stream. */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D; labels?: Int32Array }> {
  const { G, manifest } = await loadGenerator(runDir, (m, tensors) => {
    const cfg = m.config as WganGpConfig;
    const channels = tensors.get("G/deconv3/weight")?.shape[2] ?? 1;
    return new DcganGenerator(new Rng(m.seed, "init-G"), cfg.latentDim, channels, cfg.width);
  });
  const images = generateForEval(G, (manifest.config as WganGpConfig).latentDim, n, manifest.seed);
  G.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
