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
  stateDict,
} from "../lib/nn.ts";
import { Adam } from "../lib/optim.ts";
import { bce } from "../lib/losses.ts";
import { epochOrder, loadDataset, toTensor } from "../lib/data/mod.ts";
import { selectBackend } from "../lib/backend.ts";
import { type ExtraFlag, helpText, parseCli, runMain } from "../lib/cli.ts";
import { assertFinite, Progress, Run } from "../lib/run.ts";
import {
  decodePng,
  encodeApng,
  encodePng,
  hstack,
  type RgbImage,
  saveGrid,
} from "../lib/image.ts";
import { linePlot } from "../lib/plot.ts";
import { writeFileAtomic } from "../lib/fsutil.ts";

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

/** `--quick`: same model, 2,048 images, 2 epochs — about a minute on a CPU. */
export const QUICK_CONFIG: GanConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  limit: 2048,
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
      this.norms.push(i === 0 ? null : this.child(`block${i}/bn`, new BatchNorm(rng, h, { eps: cfg.bnEps })));
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

const DESCRIPTION = "GAN (Goodfellow et al. 2014): MLP generator and discriminator on MNIST.";

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCli("gan", argv, FLAGS);
  if (args.help) {
    console.log(helpText("gan", DESCRIPTION, FLAGS));
    return;
  }
  const base = args.quick ? QUICK_CONFIG : PAPER_CONFIG;
  const cfg: GanConfig = {
    ...base,
    epochs: args.epochs ?? base.epochs,
    batchSize: args.batchSize ?? base.batchSize,
    lr: args.lr ?? base.lr,
    dataset: args.dataset ?? base.dataset,
    gLoss: (args.extra["g-loss"] as GanConfig["gLoss"]) ?? base.gLoss,
    sampleBatchNorm: (args.extra["sample-bn"] as GanConfig["sampleBatchNorm"]) ?? base.sampleBatchNorm,
  };
  const backend = await selectBackend(args.backend);
  console.error(`[gan] backend ${backend.name}: ${backend.reason}`);

  const data = await loadDataset(cfg.dataset, {
    dataDir: args.dataDir,
    split: "train",
    limit: cfg.limit ?? undefined,
  });
  if (data.height !== 28 || data.width !== 28 || data.channels !== 1) {
    throw new Error(`gan.ts expects 28×28 grayscale images, ${data.name} is ${data.height}×${data.width}×${data.channels}`);
  }
  const runId = `${args.quick ? "quick" : "paper"}-${cfg.dataset}-${cfg.gLoss}-seed${args.seed}-${backend.name}`;
  const run = await Run.open({
    paper: "gan",
    runId,
    dir: args.out,
    config: cfg,
    seed: args.seed,
    backend,
    dataset: { name: data.name, n: data.n, checksum: data.checksum, source: data.source },
    resume: args.resume,
    fresh: args.fresh,
  });
  const resuming = run.resumeFrom !== null;
  const config: GanConfig = resuming ? run.manifest.config as GanConfig : cfg;

  // One seed, independent streams: weights, latent noise, data order.
  const G = new Generator(new Rng(args.seed, "init-G"), config);
  const D = new Discriminator(new Rng(args.seed, "init-D"), config);
  const optG = new Adam(config.lr, config.beta1, config.beta2);
  const optD = new Adam(config.lr, config.beta1, config.beta2);
  let noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([25, config.latentDim]);
  const stepsPerEpoch = Math.ceil(data.n / config.batchSize); // DataLoader default: keep the last partial batch
  const totalSteps = stepsPerEpoch * config.epochs;
  let step = 0;

  if (resuming) {
    const { tensors, state } = run.resumeFrom!;
    loadStateDict(G, tensors, "G/");
    loadStateDict(D, tensors, "D/");
    optG.loadState(prefixed(tensors, "optG/"));
    optD.loadState(prefixed(tensors, "optD/"));
    noise = Rng.fromState(state.noise as [number, number, number, number]);
    step = Number(state.step);
    console.error(`[gan] resuming ${run.dir} at step ${step}/${totalSteps}`);
  } else {
    const realIdx = Array.from({ length: 25 }, (_, i) => i);
    await saveGrid(run.path("real.png"), toTensor(data, realIdx), { ...IMAGE, nrow: 5, normalize: true });
  }

  const checkpoint = () =>
    run.checkpoint(
      new Map([
        ...stateDict(G, "G/"),
        ...stateDict(D, "D/"),
        ...prefix(optG.state(), "optG/"),
        ...prefix(optD.state(), "optD/"),
      ]),
      { step, noise: noise.state() },
    );

  const progress = new Progress("gan", totalSteps, step);
  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  while (step < totalSteps) {
    const epoch = Math.floor(step / stepsPerEpoch);
    const order = epochOrder(data.n, args.seed, epoch);
    const i = step % stepsPerEpoch;
    const idx = order.subarray(i * config.batchSize, Math.min(data.n, (i + 1) * config.batchSize));
    const t0 = performance.now();
    const stats = tf.tidy(() => {
      const real = toTensor(data, idx);
      const z = noise.randn([idx.length, config.latentDim]);
      // Train G: one forward of G in training mode; its batch is reused (detached) for D below.
      let genImgs: tf.Tensor | null = null;
      const g = tf.variableGrads(() => {
        genImgs = tf.keep(G.apply(z, { training: true }));
        const dFake = D.apply(genImgs);
        return config.gLoss === "minimax" ? tf.neg(bce(dFake, 0)) : bce(dFake, 1);
      }, gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      // Train D on real vs the same (now fixed) generated batch, loss halved as in the source.
      const fake = genImgs!;
      let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
      const d = tf.variableGrads(() => {
        dReal = tf.keep(D.apply(real));
        dFake = tf.keep(D.apply(fake));
        return tf.div(tf.add(bce(dReal, 1), bce(dFake, 0)), 2) as tf.Scalar;
      }, dVars);
      optD.step(dVars, dVars.map((v) => d.grads[v.name]));
      return { gLoss: g.value, dLoss: d.value, dx: tf.mean(dReal!), dgz: tf.mean(dFake!), fake };
    });
    const values = {
      d_loss: stats.dLoss.dataSync()[0],
      g_loss: stats.gLoss.dataSync()[0],
      "D(x)": stats.dx.dataSync()[0],
      "D(G(z))": stats.dgz.dataSync()[0],
    };
    run.manifest.trainSeconds += (performance.now() - t0) / 1000;
    run.manifest.images += idx.length;
    step++;
    run.manifest.steps = step;
    assertFinite(values, epoch + 1, step);
    if (step % config.logEvery === 0 || step === totalSteps) {
      run.logLosses({ step, epoch: epoch + 1, ...values });
    }
    // The source saves the first 25 images of the current batch every sample_interval batches.
    if ((step - 1) % config.sampleInterval === 0) {
      await saveGrid(run.path("batches", `${String(step - 1).padStart(6, "0")}.png`), stats.fake.slice(0, 25), {
        ...IMAGE,
        nrow: 5,
        normalize: true,
      });
    }
    tf.dispose([stats.gLoss, stats.dLoss, stats.dx, stats.dgz, stats.fake]);
    progress.update(step, epoch + 1, config.epochs, idx.length, values);

    const epochDone = step % stepsPerEpoch === 0;
    if (epochDone) await saveEpochGrid(run, G, fixedZ, step / stepsPerEpoch, config);
    if (epochDone || step % config.checkpointEvery === 0) await checkpoint();
    if (args.maxSteps !== undefined && step >= args.maxSteps && step < totalSteps) {
      await checkpoint();
      console.error(`[gan] stopped at step ${step} (--max-steps); continue with --resume`);
      return;
    }
  }

  await writeFigures(run, G, fixedZ, config);
  await run.finish();
  console.error(`[gan] done: ${run.dir}`);
}

function prefix(m: Map<string, tf.Tensor>, p: string): Map<string, tf.Tensor> {
  return new Map([...m].map(([k, v]) => [p + k, v]));
}

function prefixed(m: Map<string, tf.Tensor>, p: string): Map<string, tf.Tensor> {
  return new Map([...m].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}

function sample(G: Generator, z: tf.Tensor, mode: "train" | "eval"): tf.Tensor4D {
  return G.apply(z, { training: mode === "train", updateStats: false });
}

async function saveEpochGrid(run: Run, G: Generator, z: tf.Tensor, epoch: number, cfg: GanConfig) {
  const imgs = tf.tidy(() => sample(G, z, cfg.sampleBatchNorm));
  await saveGrid(run.path("grids", `epoch_${String(epoch).padStart(3, "0")}.png`), imgs, {
    ...IMAGE,
    nrow: 5,
    normalize: true,
  });
  imgs.dispose();
}

async function writeFigures(run: Run, G: Generator, z: tf.Tensor, cfg: GanConfig): Promise<void> {
  const losses = await run.readLosses();
  const steps = losses.map((r) => r.step);
  await writeFileAtomic(
    run.path("losses.svg"),
    linePlot(
      [
        { name: "D loss", x: steps, y: losses.map((r) => r.d_loss) },
        { name: "G loss", x: steps, y: losses.map((r) => r.g_loss) },
      ],
      { title: `GAN on ${cfg.dataset}: losses`, xLabel: "iteration", yLabel: "BCE loss" },
    ),
  );
  await writeFileAtomic(
    run.path("d_outputs.svg"),
    linePlot(
      [
        { name: "D(x)", x: steps, y: losses.map((r) => r["D(x)"]) },
        { name: "D(G(z))", x: steps, y: losses.map((r) => r["D(G(z))"]) },
      ],
      { title: "Discriminator outputs", xLabel: "iteration", yLabel: "mean probability", yRange: [0, 1] },
    ),
  );
  // Final samples in both BatchNorm modes, so the choice is visible rather than hidden.
  for (const mode of ["train", "eval"] as const) {
    const imgs = tf.tidy(() => sample(G, z, mode));
    await saveGrid(run.path(`samples_bn-${mode}.png`), imgs, { ...IMAGE, nrow: 5, normalize: true });
    imgs.dispose();
  }
  // Epoch series and the fixed-noise progress animation, from the per-epoch grids.
  const frames: RgbImage[] = [];
  const series: RgbImage[] = [];
  for (let e = 1; e <= cfg.epochs; e++) {
    const path = run.path("grids", `epoch_${String(e).padStart(3, "0")}.png`);
    const img = decodePng(await Deno.readFile(path));
    frames.push(img);
    if (cfg.seriesEpochs.includes(e)) series.push(img);
  }
  if (series.length > 0) await writeFileAtomic(run.path("epoch_series.png"), encodePng(hstack(series, 4)));
  await writeFileAtomic(run.path("progress.png"), encodeApng(frames, 200));
}

if (import.meta.main) await runMain(() => main(Deno.args));
