/**
 * DCGAN — Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
 * Generative Adversarial Networks", ICLR 2016.
 *
 * Two architectures, picked with `--arch`:
 *
 * - `dcgan28` (the default, so a fresh machine needs no download): the usual 28×28 MNIST variant.
 *   G: Linear(100 → 7·7·128) BN ReLU → 7×7×128 → ConvT(128→64, k4 s2 p1) BN ReLU → 14×14×64 →
 *   ConvT(64→1, k4 s2 p1) tanh → 28×28×1. D: Conv(1→64, k4 s2 p1) LReLU(0.2) → 14×14×64 →
 *   Conv(64→128, k4 s2 p1) BN LReLU → 7×7×128 → Linear(6272 → 1) sigmoid.
 * - `dcgan64`: the paper's 64×64 architecture exactly as in the PyTorch DCGAN tutorial
 *   (https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html) for CelebA or any image
 *   folder: G is five ConvTranspose(k4) layers nz → 512 → 256 → 128 → 64 → nc (BN ReLU between,
 *   tanh at the end); D is five Conv(k4) layers nc → 64 → 128 → 256 → 512 → 1 (LeakyReLU 0.2, BN
 *   on all but the first, sigmoid at the end); no biases. MNIST resized to 64×64 also works.
 *
 * Both follow the paper's §3 guidelines (strided convolutions instead of pooling, BatchNorm in
 * both nets except G's output and D's input layers, ReLU in G with tanh output, LeakyReLU in D),
 * its §4 training details (weights N(0, 0.02), Adam lr 2e-4 with β1 = 0.5, batch 128, slope 0.2)
 * and the tutorial's update order (see {@link trainStep}).
 *
 *   deno task reproduce dcgan                                   # dcgan28 on MNIST, offline
 *   deno task reproduce dcgan --arch dcgan64 --data-dir <dir>   # CelebA, as the tutorial
 *   deno task reproduce dcgan --quick                           # about half a minute on CPU
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
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { bce } from "../lib/losses.ts";
import { epochOrder, type ImageDataset, toTensor } from "../lib/data/mod.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { Run } from "../lib/run.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { encodePng, gridOf, hstack, saveGrid } from "../lib/image.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";

/** The two architectures of this script. */
export type Arch = "dcgan28" | "dcgan64";

/** Hyperparameters. Section numbers refer to the paper; "tutorial" is the PyTorch DCGAN tutorial. */
export interface DcganConfig {
  /** Network family: 28×28 MNIST variant or the paper's 64×64 architecture (§3, Fig. 1). */
  arch: Arch;
  /**
   * Training epochs. The paper gives no epoch count (Figs. 2–3 show LSUN bedrooms after 1 and 5
   * epochs; its code, dcgan.torch, defaults to 25); the tutorial runs 5 on CelebA. See
   * {@link PAPER_CONFIG} for ours.
   */
  epochs: number;
  /** Minibatch size (§4: 128). */
  batchSize: number;
  /** Adam learning rate and betas (§4: lr 0.0002, β1 0.5; β2 is PyTorch's default 0.999). */
  lr: number;
  beta1: number;
  beta2: number;
  /** Dimension of z ~ N(0, I) (tutorial nz = 100; Fig. 1 draws a 100-d uniform z). */
  latentDim: number;
  /** Feature widths of G and D (tutorial ngf = ndf = 64; Fig. 1's G, 1024 maps at 4×4, is 128). */
  ngf: number;
  ndf: number;
  /** Image channels nc: 1 for MNIST-like data, 3 for CelebA/folders (set from the dataset). */
  channels: number;
  /** Std of the N(0, σ) weight init and of BatchNorm's γ ~ N(1, σ) (§4: 0.02). */
  initStd: number;
  /** Negative slope of D's LeakyReLU (§4: 0.2). */
  leakySlope: number;
  /** Dataset name (`mnist`, `fashion-mnist`, `cifar10`, `celeba`, `folder`) and image cap. */
  dataset: string;
  limit: number | null;
  /**
   * BatchNorm mode for sample grids. "train" uses the sampled batch's own statistics, as the
   * tutorial does (its G is never put in eval mode); "eval" uses the running statistics.
   */
  sampleBatchNorm: "train" | "eval";
  /**
   * Latent walk (§6.1, Fig. 4): "slerp" (spherical, keeps |z| near the typical norm √nz of a
   * Gaussian sample; White 2016, "Sampling Generative Networks") or "linear" (straight line,
   * whose midpoints have a smaller norm than typical samples).
   */
  interpolation: "slerp" | "linear";
  /** Rows (z pairs) and steps per row of the interpolation strip. */
  interpRows: number;
  interpSteps: number;
  /** Log every this many steps; checkpoint every this many steps (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
}

/**
 * The default: `dcgan28` on MNIST, batch 128, 5 epochs (2,345 steps). The paper gives no stopping
 * rule for MNIST; there a DCGAN draws clean digits within a few epochs (digit shapes appear after
 * ~150 steps), 5 is the tutorial's epoch count, and it takes on the order of an hour on a 2-core
 * CPU with `--backend wasm` (~80 img/s). 25 epochs, the paper code's setting, would take ~5 h.
 */
export const PAPER_CONFIG: DcganConfig = {
  arch: "dcgan28",
  epochs: 5,
  batchSize: 128,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  latentDim: 100,
  ngf: 64,
  ndf: 64,
  channels: 1,
  initStd: 0.02,
  leakySlope: 0.2,
  dataset: "mnist",
  limit: null,
  sampleBatchNorm: "train",
  interpolation: "slerp",
  interpRows: 4,
  interpSteps: 10,
  logEvery: 10,
  checkpointEvery: 500,
};

/** `--arch dcgan64`: the tutorial on CelebA (5 epochs, batch 128); the paper ran 25 on LSUN etc. */
export const DCGAN64_CONFIG: DcganConfig = {
  ...PAPER_CONFIG,
  arch: "dcgan64",
  channels: 3,
  dataset: "celeba",
  logEvery: 10,
  checkpointEvery: 500,
};

/** `--quick`: dcgan28, 1,024 MNIST images, batch 64, 2 epochs (32 steps). */
export const QUICK_CONFIG: DcganConfig = {
  ...PAPER_CONFIG,
  epochs: 2,
  batchSize: 64,
  limit: 1024,
  interpRows: 3,
  logEvery: 1,
  checkpointEvery: 16,
};

/** `--quick --arch dcgan64`: 128 MNIST digits at 64×64, batch 32, 1 epoch — a smoke test. */
export const QUICK64_CONFIG: DcganConfig = {
  ...DCGAN64_CONFIG,
  channels: 1,
  dataset: "mnist",
  epochs: 1,
  batchSize: 32,
  limit: 128,
  interpRows: 2,
  logEvery: 1,
  checkpointEvery: 4,
};

/** Side length of the images an architecture makes. */
export function imageSize(arch: Arch): number {
  return arch === "dcgan64" ? 64 : 28;
}

/** Channels each dataset is loaded with (folders are read as RGB). */
const DATASET_CHANNELS: Record<string, number> = {
  mnist: 1,
  "fashion-mnist": 1,
  cifar10: 3,
  celeba: 3,
  folder: 3,
};

/** The tutorial's weights_init: conv/linear weights N(0, 0.02), BN γ N(1, 0.02), biases 0. */
function inits(cfg: DcganConfig) {
  return {
    weight: { weightInit: normalInit(cfg.initStd), biasInit: constantInit(0) },
    bn: { gammaInit: normalInit(cfg.initStd, 1), betaInit: constantInit(0) },
  };
}

/**
 * The 64×64 generator (tutorial `Generator`): z is a 1×1 "image" with nz channels that five
 * transposed convolutions grow to 4 → 8 → 16 → 32 → 64 pixels.
 */
export class Generator64 extends Module {
  readonly convs: ConvTranspose2d[] = [];
  readonly norms: BatchNorm[] = [];

  constructor(rng: Rng, readonly cfg: DcganConfig) {
    super();
    const { weight, bn } = inits(cfg);
    const widths = [cfg.latentDim, cfg.ngf * 8, cfg.ngf * 4, cfg.ngf * 2, cfg.ngf, cfg.channels];
    for (let i = 0; i < 5; i++) {
      // The first layer maps 1×1 to 4×4 (k4 s1 p0); the others double the size (k4 s2 p1).
      const [stride, pad] = i === 0 ? [1, 0] : [2, 1];
      const conv = new ConvTranspose2d(rng, widths[i], widths[i + 1], 4, stride, pad, {
        ...weight,
        bias: false,
      });
      this.convs.push(this.child(`block${i}/convT`, conv));
      if (i < 4) this.norms.push(this.child(`block${i}/bn`, new BatchNorm(rng, widths[i + 1], bn)));
    }
  }

  /** z [B, nz] → images [B, 64, 64, nc] in [−1, 1]. */
  apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D {
    let h: tf.Tensor = tf.reshape(z, [-1, 1, 1, this.cfg.latentDim]);
    this.convs.forEach((conv, i) => {
      h = conv.apply(h);
      h = i < 4 ? tf.relu(this.norms[i].apply(h, opts)) : tf.tanh(h);
    });
    return h as tf.Tensor4D;
  }
}

/** The 64×64 discriminator (tutorial `Discriminator`): 64 → 32 → 16 → 8 → 4 → 1×1 probability. */
export class Discriminator64 extends Module {
  readonly convs: Conv2d[] = [];
  /** BatchNorm after convs 1–3 (none on the input layer, §3). */
  readonly norms: (BatchNorm | null)[] = [];

  constructor(rng: Rng, readonly cfg: DcganConfig) {
    super();
    const { weight, bn } = inits(cfg);
    const widths = [cfg.channels, cfg.ndf, cfg.ndf * 2, cfg.ndf * 4, cfg.ndf * 8, 1];
    for (let i = 0; i < 5; i++) {
      // The last layer reads the whole 4×4 map (k4 s1 p0); the others halve it (k4 s2 p1).
      const [stride, pad] = i === 4 ? [1, 0] : [2, 1];
      const conv = new Conv2d(rng, widths[i], widths[i + 1], 4, stride, pad, {
        ...weight,
        bias: false,
      });
      this.convs.push(this.child(`block${i}/conv`, conv));
      const norm = i >= 1 && i <= 3 ? new BatchNorm(rng, widths[i + 1], bn) : null;
      this.norms.push(norm && this.child(`block${i}/bn`, norm));
    }
  }

  /** images [B, 64, 64, nc] → probability of "real" [B, 1]. */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    let h: tf.Tensor = x;
    this.convs.forEach((conv, i) => {
      h = conv.apply(h);
      if (i === 4) return;
      const norm = this.norms[i];
      if (norm) h = norm.apply(h, opts);
      h = leakyRelu(h, this.cfg.leakySlope);
    });
    return tf.sigmoid(tf.reshape(h, [-1, 1])) as tf.Tensor2D;
  }
}

/**
 * The 28×28 generator: a linear projection to a 7×7×(2·ngf) map (BatchNorm1d over its 6,272
 * features, then the reshape), then two transposed convolutions 7 → 14 → 28. Layers followed by
 * BatchNorm have no bias (BN's β replaces it); the output layer keeps PyTorch's default bias.
 */
export class Generator28 extends Module {
  readonly fc: Linear;
  readonly bn0: BatchNorm;
  readonly conv1: ConvTranspose2d;
  readonly bn1: BatchNorm;
  readonly conv2: ConvTranspose2d;

  constructor(rng: Rng, readonly cfg: DcganConfig) {
    super();
    const { weight, bn } = inits(cfg);
    const w = cfg.ngf * 2;
    this.fc = this.child(
      "fc",
      new Linear(rng, cfg.latentDim, 7 * 7 * w, { ...weight, bias: false }),
    );
    this.bn0 = this.child("bn0", new BatchNorm(rng, 7 * 7 * w, bn));
    this.conv1 = this.child(
      "convT1",
      new ConvTranspose2d(rng, w, cfg.ngf, 4, 2, 1, { ...weight, bias: false }),
    );
    this.bn1 = this.child("bn1", new BatchNorm(rng, cfg.ngf, bn));
    this.conv2 = this.child(
      "convT2",
      new ConvTranspose2d(rng, cfg.ngf, cfg.channels, 4, 2, 1, weight),
    );
  }

  /** z [B, nz] → images [B, 28, 28, nc] in [−1, 1]. */
  apply(z: tf.Tensor, opts: ForwardOptions): tf.Tensor4D {
    // NHWC reshape (PyTorch's view is NCHW): only a fixed permutation of the randomly
    // initialized projection, so the model family is the same.
    let h: tf.Tensor = tf.relu(this.bn0.apply(this.fc.apply(z), opts));
    h = tf.reshape(h, [-1, 7, 7, this.cfg.ngf * 2]);
    h = tf.relu(this.bn1.apply(this.conv1.apply(h), opts));
    return tf.tanh(this.conv2.apply(h));
  }
}

/** The 28×28 discriminator: two strided convolutions 28 → 14 → 7, then a linear sigmoid unit. */
export class Discriminator28 extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm;
  readonly fc: Linear;

  constructor(rng: Rng, readonly cfg: DcganConfig) {
    super();
    const { weight, bn } = inits(cfg);
    const w = cfg.ndf * 2;
    this.conv1 = this.child("conv1", new Conv2d(rng, cfg.channels, cfg.ndf, 4, 2, 1, weight));
    this.conv2 = this.child(
      "conv2",
      new Conv2d(rng, cfg.ndf, w, 4, 2, 1, { ...weight, bias: false }),
    );
    this.bn2 = this.child("bn2", new BatchNorm(rng, w, bn));
    this.fc = this.child("fc", new Linear(rng, 7 * 7 * w, 1, weight));
  }

  /** images [B, 28, 28, nc] → probability of "real" [B, 1]. */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    const slope = this.cfg.leakySlope;
    let h = leakyRelu(this.conv1.apply(x), slope);
    h = leakyRelu(this.bn2.apply(this.conv2.apply(h), opts), slope);
    return tf.sigmoid(this.fc.apply(tf.reshape(h, [-1, 7 * 7 * this.cfg.ndf * 2])));
  }
}

/** Either generator. */
export type Generator = Generator28 | Generator64;
/** Either discriminator. */
export type Discriminator = Discriminator28 | Discriminator64;

/** The two networks and their optimizers: everything {@link trainStep} updates. */
export interface DcganModels {
  G: Generator;
  D: Discriminator;
  optG: Adam;
  optD: Adam;
}

/** Builds G and D of `cfg.arch` (weights from the seed's "init-G"/"init-D" streams) and Adams. */
export function buildModels(cfg: DcganConfig, seed: number): DcganModels {
  const gRng = new Rng(seed, "init-G"), dRng = new Rng(seed, "init-D");
  const G = cfg.arch === "dcgan64" ? new Generator64(gRng, cfg) : new Generator28(gRng, cfg);
  const D = cfg.arch === "dcgan64"
    ? new Discriminator64(dRng, cfg)
    : new Discriminator28(dRng, cfg);
  return {
    G,
    D,
    optG: new Adam(cfg.lr, cfg.beta1, cfg.beta2),
    optD: new Adam(cfg.lr, cfg.beta1, cfg.beta2),
  };
}

/** What one training step reports (the tutorial's printed statistics). */
export interface StepStats {
  /** errD = BCE(D(x), 1) + BCE(D(G(z)), 0), summed as in the tutorial. */
  dLoss: number;
  /** errG = BCE(D(G(z)), 1): the non-saturating loss (paper's −log D(G(z)) trick). */
  gLoss: number;
  /** Mean D(x) on the real batch. */
  dx: number;
  /** Mean D(G(z)) before D's update (tutorial D_G_z1) and after it (D_G_z2). */
  dgz1: number;
  dgz2: number;
}

const TRAIN: ForwardOptions = { training: true };

/**
 * One step of the PyTorch DCGAN tutorial's loop, given a real batch and its noise z [B, nz]:
 *
 * 1. D step: fake = G(z) with no gradient to G ("detach"); errD = BCE(D(real), 1) +
 *    BCE(D(fake), 0), real and fake as separate batches (separate BatchNorm statistics); Adam.
 * 2. G step: the same fake batch through the *updated* D; errG = BCE(D(fake), 1); Adam.
 *
 * The tutorial reuses fake's autograd graph for step 2. tfjs records a tape only inside the
 * gradient call, so G(z) is recomputed there, with the same weights, z and batch statistics —
 * the same tensor, and thus the same gradients — and `updateStats: false`, so G's running
 * statistics move once per step as in the tutorial. D runs in training mode all three times.
 */
export async function trainStep(
  m: DcganModels,
  real: tf.Tensor4D,
  z: tf.Tensor2D,
): Promise<StepStats> {
  const gVars = m.G.trainableVariables(), dVars = m.D.trainableVariables();
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    kept.push(tf.keep(t));
    return t;
  };
  const stats = tf.tidy(() => {
    // (1) Update D: maximize log D(x) + log(1 − D(G(z))). G runs outside any tape = detached.
    const fake = m.G.apply(z, TRAIN);
    let dReal!: tf.Tensor, dFake!: tf.Tensor;
    const d = tf.variableGrads(() => {
      dReal = keep(m.D.apply(real, TRAIN));
      dFake = keep(m.D.apply(fake, TRAIN));
      return tf.add(bce(dReal, 1), bce(dFake, 0)) as tf.Scalar;
    }, dVars);
    m.optD.step(dVars, dVars.map((v) => d.grads[v.name]));
    // (2) Update G: maximize log D(G(z)) with the D just updated.
    let dFake2!: tf.Tensor;
    const g = tf.variableGrads(() => {
      const again = m.G.apply(z, { training: true, updateStats: false });
      dFake2 = keep(m.D.apply(again, TRAIN));
      return bce(dFake2, 1);
    }, gVars);
    m.optG.step(gVars, gVars.map((v) => g.grads[v.name]));
    return tf.stack([d.value, g.value, tf.mean(dReal), tf.mean(dFake), tf.mean(dFake2)]);
  });
  const [dLoss, gLoss, dx, dgz1, dgz2] = await stats.data();
  stats.dispose();
  for (const t of kept) t.dispose();
  return { dLoss, gLoss, dx, dgz1, dgz2 };
}

/**
 * Spherical interpolation between a and b at t ∈ [0, 1]:
 * sin((1−t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b, with Ω the angle between a and b (linear when they are
 * nearly parallel, where the formula is 0/0).
 */
export function slerp(a: Float32Array, b: Float32Array, t: number): Float32Array {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
  const s = Math.sin(omega);
  const [wa, wb] = s < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / s, Math.sin(t * omega) / s];
  return a.map((v, i) => wa * v + wb * b[i]);
}

/** Straight-line interpolation (1 − t)·a + t·b. */
export function lerp(a: Float32Array, b: Float32Array, t: number): Float32Array {
  return a.map((v, i) => (1 - t) * v + t * b[i]);
}

/**
 * Latent codes of the interpolation strip: `rows` pairs (z0, z1) drawn from `rng`, each walked in
 * `steps` equal steps from z0 to z1 (both ends included). Returns [rows·steps, nz], row-major.
 */
export function interpolationCodes(
  rng: Rng,
  rows: number,
  steps: number,
  nz: number,
  mode: "slerp" | "linear",
): tf.Tensor2D {
  const out = new Float32Array(rows * steps * nz);
  const walk = mode === "slerp" ? slerp : lerp;
  for (let r = 0; r < rows; r++) {
    const z0 = rng.normalArray(nz), z1 = rng.normalArray(nz);
    for (let s = 0; s < steps; s++) {
      out.set(walk(z0, z1, steps === 1 ? 0 : s / (steps - 1)), (r * steps + s) * nz);
    }
  }
  return tf.tensor2d(out, [rows * steps, nz]);
}

const FLAGS: Record<string, ExtraFlag> = {
  arch: {
    type: "string",
    choices: ["dcgan28", "dcgan64"],
    help: "dcgan28 (default: 28×28 MNIST variant) or dcgan64 (the paper's 64×64 net; CelebA)",
  },
  interpolation: {
    type: "string",
    choices: ["slerp", "linear"],
    help: "latent walk of interpolation.png (default slerp)",
  },
  "sample-bn": {
    type: "string",
    choices: ["train", "eval"],
    help: "BatchNorm mode of the sample grids (default train, as the tutorial's grids)",
  },
};

/** How dcgan.ts plugs into the shared experiment setup (flags → config, run name, dataset). */
export const SPEC: ExperimentSpec<DcganConfig> = {
  paper: "dcgan",
  description: "DCGAN (Radford et al. 2016): convolutional G and D; dcgan28 on MNIST or dcgan64 " +
    "(64×64, CelebA or an image folder).",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    const arch = (args.extra.arch as Arch | undefined) ?? base.arch;
    if (arch !== base.arch) {
      base = arch === "dcgan64"
        ? (args.quick ? QUICK64_CONFIG : DCGAN64_CONFIG)
        : (args.quick ? QUICK_CONFIG : PAPER_CONFIG);
    }
    const dataset = args.dataset ?? base.dataset;
    return {
      ...base,
      epochs: args.epochs ?? base.epochs,
      batchSize: args.batchSize ?? base.batchSize,
      lr: args.lr ?? base.lr,
      dataset,
      channels: DATASET_CHANNELS[dataset] ?? base.channels,
      interpolation: (args.extra.interpolation as DcganConfig["interpolation"]) ??
        base.interpolation,
      sampleBatchNorm: (args.extra["sample-bn"] as DcganConfig["sampleBatchNorm"]) ??
        base.sampleBatchNorm,
    };
  },
  runIdParts: (cfg) => [cfg.arch, cfg.dataset],
  dataset: (cfg) => ({
    name: cfg.dataset,
    split: "train",
    limit: cfg.limit ?? undefined,
    size: imageSize(cfg.arch),
    channels: cfg.channels as 1 | 3,
    onProgress: (done, total) => {
      if (done % 20000 === 0 || done === total) console.error(`[dcgan] decoded ${done}/${total}`);
    },
  }),
};

/** Entry point: parses flags, trains, writes every figure into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const data = exp.data!;
  const size = imageSize(cfg.arch);
  if (data.height !== size || data.width !== size || data.channels !== cfg.channels) {
    throw new UserError(
      `${cfg.arch} expects ${size}×${size}×${cfg.channels} images; ${data.name} is ` +
        `${data.height}×${data.width}×${data.channels}`,
    );
  }

  // One seed, independent streams: weights, training noise, fixed sample noise, data order.
  const models = buildModels(cfg, args.seed);
  const { G, D, optG, optD } = models;
  console.error(
    `[dcgan] ${cfg.arch}: G ${G.parameterCount()} parameters, D ${D.parameterCount()}`,
  );
  const noise = new Rng(args.seed, "noise");
  const fixedZ = new Rng(args.seed, "fixed-noise").randn([64, cfg.latentDim]);
  const loop = TrainLoop.create(run, {
    modules: { G, D },
    optimizers: { optG, optD },
    rngs: { noise },
  }, {
    label: "dcgan",
    // DataLoader default (drop_last=False), as the tutorial: the last batch may be smaller.
    stepsPerEpoch: Math.ceil(data.n / cfg.batchSize),
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });

  let order = epochOrder(data.n, args.seed, loop.epoch), orderEpoch = loop.epoch;
  while (loop.running) {
    if (orderEpoch !== loop.epoch) {
      [order, orderEpoch] = [epochOrder(data.n, args.seed, loop.epoch), loop.epoch];
    }
    const i = loop.stepInEpoch;
    const idx = order.subarray(i * cfg.batchSize, Math.min(data.n, (i + 1) * cfg.batchSize));
    const t0 = performance.now();
    const real = toTensor(data, idx);
    const z = noise.randn([idx.length, cfg.latentDim]) as tf.Tensor2D;
    const s = await trainStep(models, real, z);
    real.dispose();
    z.dispose();
    const seconds = (performance.now() - t0) / 1000;
    const values = {
      d_loss: s.dLoss,
      g_loss: s.gLoss,
      "D(x)": s.dx,
      "D(G(z))": s.dgz1,
      "D(G(z)) after D step": s.dgz2,
    };
    const go = await loop.after(values, idx.length, seconds, async (epoch) => {
      await saveGrid(epochGridPath(run, epoch), generate(G, fixedZ, cfg.sampleBatchNorm), GRID);
    });
    if (!go) return;
  }

  await writeFigures(run, G, fixedZ, cfg, data, args.seed);
  await run.finish({ parameters: { G: G.parameterCount(), D: D.parameterCount() } });
  console.error(`[dcgan] done: ${run.dir}`);
}

/** 8×8 grids, min–max normalized, as the tutorial's vutils.make_grid(padding=2, normalize=True). */
const GRID = { nrow: 8, padding: 2, normalize: true };

/**
 * G(z) for display or evaluation, leaving BatchNorm's running statistics alone. (The tutorial's
 * train-mode sampling under no_grad does update them; nothing it shows depends on that.)
 */
function generate(G: Generator, z: tf.Tensor, mode: "train" | "eval"): tf.Tensor4D {
  return tf.tidy(() => G.apply(z, { training: mode === "train", updateStats: false }));
}

async function writeFigures(
  run: Run,
  G: Generator,
  fixedZ: tf.Tensor,
  cfg: DcganConfig,
  data: ImageDataset,
  seed: number,
): Promise<void> {
  const title = `DCGAN ${cfg.arch} on ${cfg.dataset}`;
  await plotLosses(run, "losses", { "D loss": "d_loss", "G loss": "g_loss" }, {
    title: `${title}: losses`,
    yLabel: "BCE loss",
  });
  await plotLosses(
    run,
    "d_outputs",
    { "D(x)": "D(x)", "D(G(z))": "D(G(z))", "D(G(z)) after D step": "D(G(z)) after D step" },
    { title: "Discriminator outputs", yLabel: "mean probability", yRange: [0, 1] },
  );
  // Final samples, and real vs fake side by side (the tutorial's last figure).
  const fake = generate(G, fixedZ, cfg.sampleBatchNorm);
  const fakeGrid = await gridOf(fake, GRID);
  fake.dispose();
  await writeFileAtomic(run.path("samples.png"), encodePng(fakeGrid));
  const first = epochOrder(data.n, seed, 0).subarray(0, Math.min(64, data.n));
  const real = toTensor(data, first);
  const realGrid = await gridOf(real, GRID);
  real.dispose();
  await writeFileAtomic(
    run.path("real_vs_fake.png"),
    encodePng(hstack([realGrid, fakeGrid], 8, 255)),
  );
  // Latent-space walk (§6.1): one row per z pair, G in the same BatchNorm mode as the grids.
  const codes = interpolationCodes(
    new Rng(seed, "interp-noise"),
    cfg.interpRows,
    cfg.interpSteps,
    cfg.latentDim,
    cfg.interpolation,
  );
  const walk = generate(G, codes, cfg.sampleBatchNorm);
  codes.dispose();
  await saveGrid(run.path("interpolation.png"), walk, { ...GRID, nrow: cfg.interpSteps });
  walk.dispose();
  // Per-epoch fixed-noise grids → progress.png (APNG, one frame per epoch) and epoch_series.png.
  const series = [...new Set([1, Math.ceil(cfg.epochs / 2), cfg.epochs])];
  await progressFigures(run, cfg.epochs, series, 500);
}

/**
 * Rebuilds the generator of the run in `runDir` from its manifest and checkpoint and draws `n`
 * samples from `Rng(seed, "eval-noise")`, in the run's sample BatchNorm mode (batches of the run's
 * batch size, so batch statistics match training's).
 */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D }> {
  const manifest = await Run.readManifest(runDir);
  const cfg = manifest.config as DcganConfig;
  const { G, D } = buildModels(cfg, manifest.seed);
  D.dispose();
  const ckpt = await loadCheckpoint(join(runDir, "checkpoint"));
  loadStateDict(G, ckpt.tensors, "G/");
  for (const t of ckpt.tensors.values()) t.dispose();
  const rng = new Rng(manifest.seed, "eval-noise");
  const parts: tf.Tensor4D[] = [];
  for (let done = 0; done < n; done += cfg.batchSize) {
    const z = rng.randn([Math.min(cfg.batchSize, n - done), cfg.latentDim]);
    parts.push(generate(G, z, cfg.sampleBatchNorm));
    z.dispose();
  }
  G.dispose();
  const images = tf.concat(parts) as tf.Tensor4D;
  for (const p of parts) p.dispose();
  return { images };
}

if (import.meta.main) await runMain(() => main(Deno.args));
