/**
 * CGAN — Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
 *
 * Both players see the class label y (§3.2, Fig. 1): G(z | y) and D(x | y). As in the MLP
 * reference implementation we reproduce (arturml/mnist-cgan, a PyTorch notebook), y enters each
 * network through its own learned label embedding, Embedding(10, 10), concatenated to the input:
 * G: [z(100), e(y)] → 256 → 512 → 1024 → 784, LeakyReLU(0.2), tanh;
 * D: [x(784), e(y)] → 1024 → 512 → 256 → 1, LeakyReLU(0.2) then Dropout after each hidden layer,
 * sigmoid; BCE; Adam(lr 1e-4).
 *
 * Each step (Algorithm 1 of Goodfellow et al. with k = 1, conditioned): a D step on real pairs
 * (x, y) against G(z, y') with labels y' drawn uniformly from 0..9, then a G step with fresh z and
 * fresh labels, pushing D(G(z, y'), y') towards 1.
 *
 *   deno task reproduce cgan                    # the reference config (50 epochs at batch 32)
 *   deno task reproduce cgan --quick            # well under a minute on CPU
 *   deno task reproduce cgan generate --digit 8 --out RUN_DIR   # one 8 from a trained run
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { dropout, Embedding, type ForwardOptions, leakyRelu, Linear, Module } from "../lib/nn.ts";
import { loadStateDict } from "../lib/nn.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { bce } from "../lib/losses.ts";
import { epochOrder, type ImageDataset, labelsOf, toTensor } from "../lib/data/mod.ts";
import { type BackendName, BACKENDS, selectBackend } from "../lib/backend.ts";
import { runMain } from "../lib/cli.ts";
import type { Run } from "../lib/run.ts";
import { encodePng, gridOf, saveGrid } from "../lib/image.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { checkClassifierName, type Classifier, loadClassifier } from "../lib/classifier.ts";
import { exists, UserError, writeFileAtomic } from "../lib/fsutil.ts";

/** Hyperparameters; defaults follow the reference notebook where it fixes them (see each field). */
export interface CganConfig {
  /**
   * Training epochs. The paper does not say; the reference notebook trains `num_epochs = 50` at
   * batch 32, and so do we: the architecture and optimizer are the notebook's, so its schedule is
   * the one its results come from. `--epochs 200 --batch-size 64` gives PyTorch-GAN's schedule.
   */
  epochs: number;
  /** Minibatch size (paper §4.1: 100; notebook: `batch_size = 32`, see `epochs`). */
  batchSize: number;
  /** Adam learning rate (notebook: `torch.optim.Adam(…, lr=1e-4)` for both players). */
  lr: number;
  /**
   * Adam betas. The notebook passes only lr, so PyTorch's defaults (0.9, 0.999) are in force —
   * not the (0.5, 0.999) of DCGAN/PyTorch-GAN. Reproduced as the source runs.
   */
  beta1: number;
  beta2: number;
  /** Dimension of z ~ N(0, I) (notebook: 100; the paper draws 100-d uniform noise, §4.1). */
  latentDim: number;
  /** Number of classes, i.e. rows of both label embeddings (MNIST: 10). */
  numClasses: number;
  /** Width of the learned label embedding (notebook: `nn.Embedding(10, 10)` in G and in D). */
  embedDim: number;
  /** Hidden widths of G (notebook: Linear(110, 256) → 512 → 1024 → 784). */
  gHidden: number[];
  /** Hidden widths of D (notebook: Linear(794, 1024) → 512 → 256 → 1). */
  dHidden: number[];
  /**
   * Dropout after each hidden LeakyReLU of D. 0.4 as specified for this suite (PyTorch-GAN's
   * cgan.py uses 0.4 in its D; the notebook uses 0.3, the paper 0.5, §4.1).
   */
  dropout: number;
  /** Dataset (needs 28×28×1 images with `numClasses` labels) and how many images to use. */
  dataset: string;
  limit: number | null;
  /** Log losses every this many steps; checkpoint every this many steps (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** Epochs whose class grids form `epoch_series.png`. */
  seriesEpochs: number[];
  /** Generated digits per class for the label accuracy measured by the MNIST classifier. */
  labelAccuracyPerClass: number;
}

/** The reference configuration. */
export const PAPER_CONFIG: CganConfig = {
  epochs: 50,
  batchSize: 32,
  lr: 1e-4,
  beta1: 0.9,
  beta2: 0.999,
  latentDim: 100,
  numClasses: 10,
  embedDim: 10,
  gHidden: [256, 512, 1024],
  dHidden: [1024, 512, 256],
  dropout: 0.4,
  dataset: "mnist",
  limit: null,
  logEvery: 10,
  checkpointEvery: 2000,
  seriesEpochs: [1, 5, 10, 25, 50],
  labelAccuracyPerClass: 100,
};

/** `--quick`: same model, 2,048 images, 2 epochs of batch 64 (64 steps). */
export const QUICK_CONFIG: CganConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  batchSize: 64,
  limit: 2048,
  logEvery: 1,
  checkpointEvery: 16,
  seriesEpochs: [1, 2],
};

const IMAGE = { height: 28, width: 28, channels: 1 };
const PIXELS = IMAGE.height * IMAGE.width * IMAGE.channels;

/** Generator G(z | y): [z, embed(y)] → MLP with LeakyReLU(0.2) → tanh image. */
export class Generator extends Module {
  readonly labelEmbedding: Embedding;
  readonly layers: Linear[] = [];
  readonly out: Linear;
  readonly latentDim: number;
  readonly numClasses: number;

  constructor(rng: Rng, cfg: CganConfig) {
    super();
    this.latentDim = cfg.latentDim;
    this.numClasses = cfg.numClasses;
    this.labelEmbedding = this.child("label_emb", new Embedding(rng, cfg.numClasses, cfg.embedDim));
    let inF = cfg.latentDim + cfg.embedDim;
    cfg.gHidden.forEach((h, i) => {
      this.layers.push(this.child(`fc${i}`, new Linear(rng, inF, h)));
      inF = h;
    });
    this.out = this.child("out", new Linear(rng, inF, PIXELS));
  }

  /** z [B, latent] and integer labels [B] → images [B, 28, 28, 1] in [−1, 1]. */
  apply(z: tf.Tensor, labels: tf.Tensor1D): tf.Tensor4D {
    return this.fromInput(tf.concat([z, this.labelEmbedding.apply(labels)], 1));
  }

  /** The MLP after the conditioning: [z, e(y)] [B, latent + embed] → images. */
  fromInput(h: tf.Tensor): tf.Tensor4D {
    for (const l of this.layers) h = leakyRelu(l.apply(h), 0.2);
    return tf.reshape(tf.tanh(this.out.apply(h)), [-1, IMAGE.height, IMAGE.width, IMAGE.channels]);
  }
}

/** Discriminator D(x | y): [x, embed(y)] → MLP (LeakyReLU, Dropout) → probability x is real. */
export class Discriminator extends Module {
  readonly labelEmbedding: Embedding;
  readonly layers: Linear[] = [];
  readonly out: Linear;

  constructor(rng: Rng, readonly cfg: CganConfig) {
    super();
    this.labelEmbedding = this.child("label_emb", new Embedding(rng, cfg.numClasses, cfg.embedDim));
    let inF = PIXELS + cfg.embedDim;
    cfg.dHidden.forEach((h, i) => {
      this.layers.push(this.child(`fc${i}`, new Linear(rng, inF, h)));
      inF = h;
    });
    this.out = this.child("out", new Linear(rng, inF, 1));
  }

  /** Images [B, 28, 28, 1] and labels [B] → [B, 1]; dropout masks come from `opts.rng`. */
  apply(x: tf.Tensor, labels: tf.Tensor1D, opts: ForwardOptions): tf.Tensor2D {
    const h = tf.concat([tf.reshape(x, [-1, PIXELS]), this.labelEmbedding.apply(labels)], 1);
    return this.fromInput(h, opts);
  }

  /** The MLP after the conditioning: [x, e(y)] [B, 784 + embed] → probabilities [B, 1]. */
  fromInput(h: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    for (const l of this.layers) h = dropout(leakyRelu(l.apply(h), 0.2), this.cfg.dropout, opts);
    return tf.sigmoid(this.out.apply(h));
  }
}

/** n labels drawn uniformly from 0..k−1 (the notebook's `np.random.randint(0, 10, n)`). */
export function randomLabels(rng: Rng, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(k);
  return out;
}

/** How cgan.ts plugs into the shared experiment setup (flags → config, run name, dataset). */
export const SPEC: ExperimentSpec<CganConfig> = {
  paper: "cgan",
  description: "CGAN (Mirza & Osindero 2014): label-conditioned MLP G and D on MNIST.\n" +
    "Also: deno task reproduce cgan generate --help",
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => ({
    ...base,
    epochs: args.epochs ?? base.epochs,
    batchSize: args.batchSize ?? base.batchSize,
    lr: args.lr ?? base.lr,
    dataset: args.dataset ?? base.dataset,
  }),
  runIdParts: (cfg) => [cfg.dataset],
  dataset: (cfg) => ({ name: cfg.dataset, split: "train", limit: cfg.limit ?? undefined }),
};

/** Entry point: trains (default) or, with `generate` first, draws digits from a trained run. */
export async function main(argv: string[]): Promise<void> {
  if (argv[0] === "generate") return await generate(argv.slice(1));
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  checkDataset(data, cfg);

  // One seed, independent streams: weights, latent noise, fake labels, dropout masks, grid noise.
  const G = new Generator(new Rng(args.seed, "init-G"), cfg);
  const D = new Discriminator(new Rng(args.seed, "init-D"), cfg);
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const noise = new Rng(args.seed, "noise");
  const labelRng = new Rng(args.seed, "labels");
  const dropRng = new Rng(args.seed, "dropout");
  const grid = classGridInputs(new Rng(args.seed, "fixed-noise"), cfg);
  const loop = TrainLoop.create(run, {
    modules: { G, D },
    optimizers: { optG, optD },
    rngs: { noise, labels: labelRng, dropout: dropRng },
  }, {
    label: "cgan",
    stepsPerEpoch: Math.ceil(data.n / cfg.batchSize), // DataLoader default: keeps the last partial batch
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });
  if (loop.step === 0) await saveRealClassGrid(run.path("real.png"), data, cfg);

  const gVars = G.trainableVariables(), dVars = D.trainableVariables();
  const train: ForwardOptions = { training: true, rng: dropRng };
  while (loop.running) {
    const order = epochOrder(data.n, args.seed, loop.epoch);
    const i = loop.stepInEpoch;
    const idx = order.subarray(i * cfg.batchSize, Math.min(data.n, (i + 1) * cfg.batchSize));
    const b = idx.length;
    const t0 = performance.now();
    const values = tf.tidy(() => {
      const real = toTensor(data, idx);
      const y = tf.tensor1d(labelsOf(data, idx), "int32");
      // D step: real pairs (x, y) → 1, generated pairs (G(z, y'), y') → 0, losses summed as in
      // the notebook. G runs outside variableGrads, so no gradient flows back into it.
      const yFake = tf.tensor1d(randomLabels(labelRng, b, cfg.numClasses), "int32");
      const fake = G.apply(noise.randn([b, cfg.latentDim]), yFake);
      let dReal: tf.Tensor | null = null, dFake: tf.Tensor | null = null;
      const d = tf.variableGrads(() => {
        dReal = tf.keep(D.apply(real, y, train));
        dFake = tf.keep(D.apply(fake, yFake, train));
        return tf.add(bce(dReal, 1), bce(dFake, 0)) as tf.Scalar;
      }, dVars);
      optD.step(dVars, dVars.map((v) => d.grads[v.name]));
      // G step on fresh noise and fresh labels (the notebook draws both anew), D in train mode.
      const yG = tf.tensor1d(randomLabels(labelRng, b, cfg.numClasses), "int32");
      const zG = noise.randn([b, cfg.latentDim]);
      const g = tf.variableGrads(() => bce(D.apply(G.apply(zG, yG), yG, train), 1), gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      return tf.stack([d.value, g.value, tf.mean(dReal!), tf.mean(dFake!)]);
    });
    const [dLoss, gLoss, dx, dgz] = await values.data();
    values.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(
      { d_loss: dLoss, g_loss: gLoss, "D(x)": dx, "D(G(z))": dgz },
      b,
      seconds,
      (epoch) => saveClassGrid(epochGridPath(run, epoch), G, grid),
    );
    if (!go) return;
  }

  await saveClassGrid(run.path("class_grid.png"), G, grid);
  await writeFigures(run, cfg);
  const accuracy = await measureLabelAccuracy(run, G, cfg, args.seed);
  await run.finish(accuracy ? { labelAccuracy: accuracy } : {});
  grid.z.dispose();
  grid.labels.dispose();
  console.error(`[cgan] done: ${run.dir}`);
}

function checkDataset(data: ImageDataset, cfg: CganConfig): void {
  if (data.height !== 28 || data.width !== 28 || data.channels !== 1) {
    throw new UserError(
      `cgan expects 28×28 grayscale images; ${data.name} is ${data.height}×${data.width}×${data.channels}`,
    );
  }
  if (!data.labels) throw new UserError(`cgan needs class labels; ${data.name} has none`);
  const max = data.labels.reduce((a, v) => Math.max(a, v), 0);
  if (max >= cfg.numClasses) {
    throw new UserError(`cgan expects labels 0..${cfg.numClasses - 1}; ${data.name} has ${max}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

/** The class grid's inputs: row r is digit r, column c reuses noise vector c in every row. */
export interface ClassGridInputs {
  /** [k·k, latent]: entry r·k + c holds column c's noise vector. */
  z: tf.Tensor2D;
  /** [k·k]: entry r·k + c is r. */
  labels: tf.Tensor1D;
  /** Number of classes k (rows and columns). */
  k: number;
}

/** Draws the fixed noise (one vector per column) and labels (one class per row) of the grid. */
export function classGridInputs(rng: Rng, cfg: CganConfig): ClassGridInputs {
  const k = cfg.numClasses;
  const cols = rng.randn([k, cfg.latentDim]);
  const z = tf.tile(cols, [k, 1]) as tf.Tensor2D; // row-major: entry r·k + c is column c's noise
  cols.dispose();
  const labels = tf.tensor1d(
    Int32Array.from({ length: k * k }, (_, i) => Math.floor(i / k)),
    "int32",
  );
  return { z, labels, k };
}

/** Min–max normalized, as the notebook's `make_grid(images, nrow=10, normalize=True)`. */
const CLASS_GRID = { ...IMAGE, normalize: true };

/** Renders the class grid from the fixed inputs (G has no BatchNorm/dropout: no mode to pick). */
export async function saveClassGrid(
  path: string,
  G: Generator,
  grid: ClassGridInputs,
): Promise<void> {
  const imgs = tf.tidy(() => G.apply(grid.z, grid.labels));
  await saveGrid(path, imgs, { ...CLASS_GRID, nrow: grid.k });
  imgs.dispose();
}

/** The first `numClasses` training images of each class, one class per row, for comparison. */
async function saveRealClassGrid(path: string, data: ImageDataset, cfg: CganConfig) {
  const k = cfg.numClasses;
  const rows: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < data.n && rows.some((r) => r.length < k); i++) {
    const r = rows[data.labels![i]];
    if (r.length < k) r.push(i);
  }
  if (rows.some((r) => r.length < k)) return; // a tiny subset lacks some class: skip the figure
  const imgs = toTensor(data, rows.flat());
  await saveGrid(path, imgs, { ...CLASS_GRID, nrow: k });
  imgs.dispose();
}

async function writeFigures(run: Run, cfg: CganConfig): Promise<void> {
  await plotLosses(run, "losses", { "D loss": "d_loss", "G loss": "g_loss" }, {
    title: `CGAN on ${cfg.dataset}: losses`,
    yLabel: "BCE loss",
  });
  await plotLosses(run, "d_outputs", { "D(x|y)": "D(x)", "D(G(z|y')|y')": "D(G(z))" }, {
    title: "Discriminator outputs",
    yLabel: "mean probability",
    yRange: [0, 1],
  });
  await progressFigures(run, cfg.epochs, cfg.seriesEpochs);
}

// ---------------------------------------------------------------------------------------------
// Label accuracy: do generated digits show the digit they were asked for?

/** Anything that predicts a class per image of a [B, 28, 28, 1] batch (lib/classifier.ts). */
export interface LabelPredictor {
  predict(x: tf.Tensor4D): Promise<Int32Array>;
}

/** Label accuracy of generated digits, as a classifier trained on real data judges them. */
export interface LabelAccuracy {
  /** Fraction of the `perClass` samples of class k that the classifier assigns to k. */
  perClass: number[];
  /** Mean over all samples. */
  overall: number;
  /** Samples per class. */
  perClassN: number;
  /** Which classifier judged them (`loadClassifier(name)` of lib/classifier.ts). */
  classifier: string;
}

/**
 * Generates `perClass` digits of every class (noise from `Rng(seed, "label-accuracy")`) and counts
 * how often `classifier` agrees with the requested label.
 */
export async function labelAccuracy(
  G: Generator,
  classifier: LabelPredictor,
  perClass: number,
  seed: number,
  classifierName = "mnist",
): Promise<LabelAccuracy> {
  const rng = new Rng(seed, "label-accuracy");
  const k = G.numClasses, latent = G.latentDim;
  const correct: number[] = [];
  for (let c = 0; c < k; c++) {
    const imgs = tf.tidy(() =>
      G.apply(rng.randn([perClass, latent]), tf.fill([perClass], c, "int32") as tf.Tensor1D)
    );
    const pred = await classifier.predict(imgs);
    imgs.dispose();
    correct.push(pred.reduce((a, p) => a + (p === c ? 1 : 0), 0));
  }
  return {
    perClass: correct.map((n) => n / perClass),
    overall: correct.reduce((a, b) => a + b, 0) / (perClass * k),
    perClassN: perClass,
    classifier: classifierName,
  };
}

/**
 * Measures and writes `label_accuracy.json` with the dataset's classifier; skipped with a note
 * when there is none for this dataset or its weights have not been trained yet.
 */
async function measureLabelAccuracy(
  run: Run,
  G: Generator,
  cfg: CganConfig,
  seed: number,
): Promise<LabelAccuracy | null> {
  let classifier: Classifier;
  try {
    classifier = await loadClassifier(checkClassifierName(cfg.dataset));
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`[cgan] label accuracy skipped: ${e.message}`);
    return null;
  }
  const acc = await labelAccuracy(G, classifier, cfg.labelAccuracyPerClass, seed, cfg.dataset);
  classifier.dispose();
  await writeFileAtomic(run.path("label_accuracy.json"), JSON.stringify(acc, null, 2) + "\n");
  console.error(`[cgan] label accuracy ${(acc.overall * 100).toFixed(1)}%`);
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Loading a trained generator: `generate` and the evaluation tool

/** Rebuilds G from a run directory's `manifest.json` config and `checkpoint/`. */
export async function loadGenerator(
  runDir: string,
): Promise<{ G: Generator; cfg: CganConfig; seed: number }> {
  const manifestPath = join(runDir, "manifest.json");
  if (!(await exists(manifestPath))) {
    throw new UserError(`${runDir} is not a run (no manifest.json)`);
  }
  const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
  if (manifest.paper !== "cgan") {
    throw new UserError(`${runDir} is a ${manifest.paper} run, not cgan`);
  }
  if (!(await exists(join(runDir, "checkpoint", "model.json")))) {
    throw new UserError(
      `${runDir} has no checkpoint (checkpoint/model.json); train first: ` +
        `deno task reproduce cgan --out ${runDir}`,
    );
  }
  const cfg = manifest.config as CganConfig;
  const G = new Generator(new Rng(manifest.seed, "init-G"), cfg);
  const ckpt = await loadCheckpoint(join(runDir, "checkpoint"));
  loadStateDict(G, ckpt.tensors, "G/");
  for (const t of ckpt.tensors.values()) t.dispose();
  return { G, cfg, seed: manifest.seed };
}

/**
 * n samples of the run's generator, labels cycling 0, 1, …, 9, 0, … and noise from
 * `Rng(seed, "eval-noise")` — for the evaluation tool. The backend must already be selected.
 */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D; labels: Int32Array }> {
  const { G, cfg, seed } = await loadGenerator(runDir);
  const rng = new Rng(seed, "eval-noise");
  const labels = Int32Array.from({ length: n }, (_, i) => i % cfg.numClasses);
  const chunks: tf.Tensor4D[] = [];
  for (let s = 0; s < n; s += 500) {
    const m = Math.min(500, n - s);
    chunks.push(
      tf.tidy(() =>
        G.apply(rng.randn([m, cfg.latentDim]), tf.tensor1d(labels.subarray(s, s + m), "int32"))
      ),
    );
  }
  const images = tf.concat(chunks) as tf.Tensor4D;
  for (const c of chunks) c.dispose();
  G.dispose();
  return { images, labels };
}

const GENERATE_HELP = `deno task reproduce cgan generate --digit D [flags]

Draws digit D from a trained cgan run's checkpoint and writes <run>/digit_D.png
(28×28 for one sample; a padded row-major grid of 10 per row for --n > 1).

Flags:
  --digit D        the class to draw, 0..9 (required)
  --out DIR        the run directory (default: the newest results/cgan/* run with a checkpoint)
  --file PATH      where to write the PNG (default <run>/digit_D.png)
  --n N            how many samples, 1..100 (default 1)
  --seed N         noise seed (default 0)
  --backend NAME   ${BACKENDS.join("|")} (default auto)
  --help           show this help
`;

function intFlag(name: string, v: string | undefined, lo: number, hi: number, def?: number) {
  if (v === undefined) {
    if (def === undefined) throw new UserError(`generate needs --${name} (see generate --help)`);
    return def;
  }
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < lo || n > hi) {
    throw new UserError(`--${name} expects an integer in ${lo}..${hi}, got "${v}"`);
  }
  return n;
}

/** The newest run under results/cgan/ holding a checkpoint. */
async function latestRun(root = join("results", "cgan")): Promise<string> {
  let best: { dir: string; t: number } | null = null;
  try {
    for await (const e of Deno.readDir(root)) {
      const ckpt = join(root, e.name, "checkpoint", "model.json");
      const t = await Deno.stat(ckpt).then((s) => s.mtime?.getTime() ?? 0, () => null);
      if (t !== null && (!best || t > best.t)) best = { dir: join(root, e.name), t };
    }
  } catch {
    // no results/cgan yet
  }
  if (!best) {
    throw new UserError(`no trained cgan run under ${root}; train one or pass --out RUN_DIR`);
  }
  return best.dir;
}

/** `generate`: loads a run's G and writes samples of one digit. */
async function generate(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        digit: { type: "string" },
        out: { type: "string" },
        file: { type: "string" },
        n: { type: "string" },
        seed: { type: "string" },
        backend: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    const m = (e as Error).message.match(/Unknown option '([^']+)'/);
    throw new UserError(
      m
        ? `unknown flag ${m[1]} for cgan generate (see generate --help)`
        : (e as Error).message.split("\n")[0],
    );
  }
  if (values.help) {
    console.log(GENERATE_HELP);
    return;
  }
  const digit = intFlag("digit", values.digit as string | undefined, 0, 9);
  const n = intFlag("n", values.n as string | undefined, 1, 100, 1);
  const seed = intFlag("seed", values.seed as string | undefined, 0, 0xffffffff, 0);
  const backend = (values.backend as string | undefined) ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UserError(`unknown backend "${backend}" (expected one of ${BACKENDS.join(", ")})`);
  }
  const runDir = (values.out as string | undefined) ?? await latestRun();
  await selectBackend(backend as BackendName);
  const { G, cfg } = await loadGenerator(runDir);
  if (digit >= cfg.numClasses) {
    throw new UserError(`--digit expects 0..${cfg.numClasses - 1} for this run, got ${digit}`);
  }
  const imgs = tf.tidy(() =>
    G.apply(
      new Rng(seed, "generate").randn([n, cfg.latentDim]),
      tf.fill([n], digit, "int32") as tf.Tensor1D,
    )
  );
  // Fixed range [−1, 1] (tanh's): a single sample has no meaningful min–max to normalize by.
  const png = encodePng(await gridOf(imgs, { nrow: 10, padding: n === 1 ? 0 : 2, range: [-1, 1] }));
  imgs.dispose();
  G.dispose();
  const path = (values.file as string | undefined) ?? join(runDir, `digit_${digit}.png`);
  await writeFileAtomic(path, png);
  console.error(`[cgan] wrote ${path}`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
