/**
 * CycleGAN — Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
 * Cycle-Consistent Adversarial Networks", ICCV 2017.
 *
 * As in the reference implementation (github.com/junyanz/pytorch-CycleGAN-and-pix2pix,
 * models/cycle_gan_model.py, models/networks.py, util/image_pool.py), whose names we keep:
 * G_A: A → B (the paper's G), G_B: B → A (F), D_A judges domain B (D_Y), D_B judges domain A (D_X).
 *
 * - Generators: the ResNet generator of Johnson et al. (paper Appendix 7.2): reflection pad 3,
 *   7×7 conv (ngf), two stride-2 3×3 convs, residual blocks (6 at 128², 9 at 256²), two
 *   transposed convs (k3 s2 p1, output_padding 1), reflection pad 3, 7×7 conv, tanh. Instance
 *   norm without affine parameters after every conv but the last; ReLU.
 * - Discriminators: the 70×70 PatchGAN: C64 (no norm) – C128 – C256 – C512 (stride 1) – conv to
 *   one channel, all k4 p1, LeakyReLU 0.2, instance norm.
 * - Losses (§4, eq. 3): least-squares GAN (targets 1/0), cycle L1 with λ = 10 per direction, and
 *   the identity L1 of §5.2 with weight 0.5·λ; D's loss is halved. Both generators share one Adam,
 *   both discriminators another (lr 2e-4, β = (0.5, 0.999)); lr constant for 100 epochs, then
 *   linearly decayed to zero over 100 more. Batch 1.
 * - D trains on a history of 50 generated images (§4, after Shrivastava et al. 2017): see
 *   {@link ImagePool}.
 * - Data: unpaired domains, resize to 286 (1.12×), random 256 crop, random horizontal flip.
 *
 * The offline default needs no download: domain A is MNIST digits padded to 32×32, domain B is
 * *other* MNIST digits in a fixed style — strokes thickened by a 3×3 dilation and colours inverted
 * ({@link styleB}). Because that style is known, the translation can be measured: a digit classifier
 * reads G_A(a) mapped back through the style's inverse, and F(G(a)) is compared with a. The
 * generator is smaller than the paper's (ngf 32, 6 blocks at 8×8) to fit a CPU budget.
 *
 *   deno task reproduce cyclegan                                      # MNIST ↔ styled MNIST
 *   deno task reproduce cyclegan --dataset folder --data-dir horse2zebra   # the paper's 256 config
 *   deno task reproduce cyclegan --quick                              # about half a minute on CPU
 *
 * @module
 */
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { constantInit, Conv2d, ConvTranspose2d, loadStateDict, Module, normalInit } from "../lib/nn.ts";
import { Adam } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import { l1, lsgan } from "../lib/losses.ts";
import { epochOrder, type ImageDataset, loadDataset, numBatches } from "../lib/data/mod.ts";
import { resizeImage } from "../lib/data/image.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import { Run } from "../lib/run.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { join } from "node:path";
import { saveGrid } from "../lib/image.ts";
import { epochGridPath, plotLosses, progressFigures } from "../lib/figures.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";

/** Hyperparameters; "ref" is the reference implementation's option of the same meaning. */
export interface CycleGanConfig {
  /** "mnist" (A = MNIST, B = {@link styleB} of other MNIST digits) or "folder" (two domains). */
  dataset: "mnist" | "folder";
  /** Where the data is (null: MNIST from the bundled package). */
  dataDir: string | null;
  /** Training crop size (ref `--crop_size 256`). */
  imageSize: number;
  /** Images are first resized to this (ref `--load_size 286`, 1.12× the crop). */
  loadSize: number;
  /** Random horizontal flips (ref default on; `--no_flip`). */
  flip: boolean;
  /** Image channels (ref `--input_nc 3 --output_nc 3`). */
  channels: 1 | 3;
  /** Use at most this many training images per domain (null = all). */
  limit: number | null;
  /** Minibatch size (ref `--batch_size 1`, §4). */
  batchSize: number;
  /** Epochs at the initial lr, then epochs of linear decay to 0 (ref `--n_epochs 100 --n_epochs_decay 100`). */
  nEpochs: number;
  nEpochsDecay: number;
  /** Adam (§4: lr 0.0002; ref `--beta1 0.5`, β2 = 0.999). */
  lr: number;
  beta1: number;
  beta2: number;
  /** Cycle-loss weights λ for A→B→A and B→A→B (§4: λ = 10; ref `--lambda_A/--lambda_B`). */
  lambdaA: number;
  lambdaB: number;
  /** Identity loss weight relative to λ (§5.2: 0.5λ; ref `--lambda_identity 0.5`). */
  lambdaIdentity: number;
  /** Size of each history buffer of generated images (§4: 50; ref `--pool_size`). */
  poolSize: number;
  /** Generator width and residual blocks (ref `--ngf 64`, resnet_9blocks at 256², 6 at 128²). */
  ngf: number;
  nBlocks: number;
  /** PatchGAN width and strided layers (ref `--ndf 64 --n_layers_D 3`: the 70×70 PatchGAN). */
  ndf: number;
  nLayersD: number;
  /** Std of the N(0, σ) weight init; biases start at 0 (ref `--init_type normal --init_gain 0.02`). */
  initGain: number;
  /** Test images per domain for the final metrics. */
  evalImages: number;
  /** Test images per domain in the translation grids. */
  gridImages: number;
  /** Log every this many steps; checkpoint every this many steps (and every epoch). */
  logEvery: number;
  checkpointEvery: number;
  /** Epochs whose translation grids form `epoch_series.png`. */
  seriesEpochs: number[];
}

/**
 * The default: the paper's losses, optimizer, schedule shape, pool and batch size on the offline
 * MNIST ↔ styled-MNIST pair at 32×32. The networks are the paper's design scaled to the data and
 * a 2-core CPU: ngf 32 with 6 residual blocks at 8×8 (the 128² generator's depth; 32² needs no
 * more receptive field) and the 70×70 PatchGAN with ndf 32 (at 32² each of its 2×2 outputs sees
 * the whole image). 2,000 images per domain and 5 + 5 epochs; MNIST needs no flips or crops (the
 * digits are centred, and a mirrored digit is not a digit), so augmentation is off.
 */
export const PAPER_CONFIG: CycleGanConfig = {
  dataset: "mnist",
  dataDir: null,
  imageSize: 32,
  loadSize: 32,
  flip: false,
  channels: 1,
  limit: 2000,
  batchSize: 1,
  nEpochs: 5,
  nEpochsDecay: 5,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  lambdaA: 10,
  lambdaB: 10,
  lambdaIdentity: 0.5,
  poolSize: 50,
  ngf: 32,
  nBlocks: 6,
  ndf: 32,
  nLayersD: 3,
  initGain: 0.02,
  evalImages: 1000,
  gridImages: 8,
  logEvery: 10,
  checkpointEvery: 1000,
  seriesEpochs: [1, 2, 5, 10],
};

/** `--dataset folder`: the paper's 256×256 configuration (horse2zebra, monet2photo, …). */
export const FOLDER_CONFIG: CycleGanConfig = {
  ...PAPER_CONFIG,
  dataset: "folder",
  imageSize: 256,
  loadSize: 286,
  flip: true,
  channels: 3,
  limit: null,
  nEpochs: 100,
  nEpochsDecay: 100,
  ngf: 64,
  nBlocks: 9,
  ndf: 64,
  evalImages: 100,
  logEvery: 100,
  checkpointEvery: 1000,
  seriesEpochs: [1, 50, 100, 150, 200],
};

/** `--quick`: a small network on 256 images per domain, 1 + 1 epochs of batch 4. */
export const QUICK_CONFIG: CycleGanConfig = {
  ...PAPER_CONFIG,
  limit: 256,
  batchSize: 4,
  nEpochs: 1,
  nEpochsDecay: 1,
  ngf: 8,
  nBlocks: 2,
  ndf: 16,
  evalImages: 256,
  logEvery: 1,
  checkpointEvery: 32,
  seriesEpochs: [1, 2],
};

/** `--quick --dataset folder`: the same small network at 32×32 on at most 64 images per domain. */
export const QUICK_FOLDER_CONFIG: CycleGanConfig = {
  ...QUICK_CONFIG,
  dataset: "folder",
  imageSize: 32,
  loadSize: 36,
  flip: true,
  channels: 3,
  limit: 64,
  batchSize: 1,
  evalImages: 16,
  checkpointEvery: 64,
};

/** The reference's load size for a crop size: 286/256 of it, rounded (256 → 286, 128 → 143). */
export function loadSizeFor(size: number): number {
  return Math.round(size * 286 / 256);
}

// ---------------------------------------------------------------------------------------------
// Layers

/** Reflection padding of `p` pixels on each side of H and W (PyTorch's ReflectionPad2d). */
export function reflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {
  return tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], "reflect");
}

/**
 * Instance normalization without affine parameters (PyTorch's InstanceNorm2d defaults, the
 * reference's `--norm instance`): each sample and channel is normalized by its own spatial mean and
 * biased variance, in training and at test time alike.
 */
export function instanceNorm(x: tf.Tensor4D, eps = 1e-5): tf.Tensor4D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [1, 2], true);
    return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))) as tf.Tensor4D;
  });
}

/** The reference's init: weights N(0, gain), biases 0. */
function initOpts(gain: number) {
  return { weightInit: normalInit(gain), biasInit: constantInit(0) };
}

/**
 * PyTorch's ConvTranspose2d with `output_padding`: output size (in − 1)·s − 2p + k + op. A "valid"
 * transposed conv gives (in − 1)·s + k; PyTorch's `padding` removes p rows/cols at the start and
 * p − op at the end, so this is a crop of that full output (op ≤ p, as in the reference's k3 s2 p1
 * op1, which exactly doubles the size).
 */
export class ConvTranspose2dOutPad extends Module {
  readonly conv: ConvTranspose2d;

  constructor(
    rng: Rng,
    inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    readonly outputPadding: number,
    gain: number,
  ) {
    super();
    if (outputPadding > padding || outputPadding >= stride) {
      throw new Error("ConvTranspose2dOutPad needs outputPadding ≤ padding and < stride");
    }
    this.conv = this.child(
      "conv",
      new ConvTranspose2d(rng, inChannels, outChannels, kernel, stride, "valid", initOpts(gain)),
    );
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w] = x.shape;
    const { stride: s, kernel: k, padding: p, outputPadding: op } = this;
    const outH = (h - 1) * s - 2 * p + k + op, outW = (w - 1) * s - 2 * p + k + op;
    return tf.slice(this.conv.apply(x), [0, p, p, 0], [b, outH, outW, this.outChannels]);
  }
}

/** A residual block: x + IN(conv(pad(ReLU(IN(conv(pad(x))))))), reflection padding 1. */
export class ResnetBlock extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;

  constructor(rng: Rng, dim: number, gain: number) {
    super();
    this.conv1 = this.child("conv1", new Conv2d(rng, dim, dim, 3, 1, 0, initOpts(gain)));
    this.conv2 = this.child("conv2", new Conv2d(rng, dim, dim, 3, 1, 0, initOpts(gain)));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const h = tf.relu(instanceNorm(this.conv1.apply(reflectPad(x, 1))));
    return tf.add(x, instanceNorm(this.conv2.apply(reflectPad(h, 1)))) as tf.Tensor4D;
  }
}

/** The ResNet generator (ref `ResnetGenerator`, two downsamplings). */
export class ResnetGenerator extends Module {
  readonly first: Conv2d;
  readonly down: Conv2d[] = [];
  readonly blocks: ResnetBlock[] = [];
  readonly up: ConvTranspose2dOutPad[] = [];
  readonly last: Conv2d;

  constructor(rng: Rng, inChannels: number, outChannels: number, ngf: number, nBlocks: number, gain: number) {
    super();
    const init = initOpts(gain);
    this.first = this.child("first", new Conv2d(rng, inChannels, ngf, 7, 1, 0, init));
    for (let i = 0; i < 2; i++) {
      const c = ngf * 2 ** i;
      this.down.push(this.child(`down${i}`, new Conv2d(rng, c, 2 * c, 3, 2, 1, init)));
    }
    for (let i = 0; i < nBlocks; i++) {
      this.blocks.push(this.child(`block${i}`, new ResnetBlock(rng, ngf * 4, gain)));
    }
    for (let i = 0; i < 2; i++) {
      const c = ngf * 2 ** (2 - i);
      this.up.push(
        this.child(`up${i}`, new ConvTranspose2dOutPad(rng, c, c / 2, 3, 2, 1, 1, gain)),
      );
    }
    this.last = this.child("last", new Conv2d(rng, ngf, outChannels, 7, 1, 0, init));
  }

  /** [B, H, W, C] in [−1, 1] → translated images, same shape (H, W multiples of 4). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = tf.relu(instanceNorm(this.first.apply(reflectPad(x, 3)))) as tf.Tensor4D;
      for (const d of this.down) h = tf.relu(instanceNorm(d.apply(h))) as tf.Tensor4D;
      for (const b of this.blocks) h = b.apply(h);
      for (const u of this.up) h = tf.relu(instanceNorm(u.apply(h))) as tf.Tensor4D;
      return tf.tanh(this.last.apply(reflectPad(h, 3)));
    });
  }
}

/**
 * The PatchGAN discriminator (ref `NLayerDiscriminator`): k4 p1 convs, stride 2 for the first
 * `nLayers`, then a stride-1 conv and a stride-1 conv to one channel; instance norm on all but the
 * first and last; LeakyReLU 0.2. With 3 layers each output sees a 70×70 patch. Raw scores (LSGAN).
 */
export class PatchDiscriminator extends Module {
  readonly convs: Conv2d[] = [];

  constructor(rng: Rng, inChannels: number, ndf: number, nLayers: number, gain: number) {
    super();
    const init = initOpts(gain);
    let prev = inChannels;
    for (let n = 0; n <= nLayers; n++) {
      const c = ndf * Math.min(2 ** n, 8);
      this.convs.push(this.child(`conv${n}`, new Conv2d(rng, prev, c, 4, n < nLayers ? 2 : 1, 1, init)));
      prev = c;
    }
    this.convs.push(this.child(`conv${nLayers + 1}`, new Conv2d(rng, prev, 1, 4, 1, 1, init)));
  }

  /** Images → a [B, h, w, 1] map of patch scores. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      const last = this.convs.length - 1;
      this.convs.forEach((c, i) => {
        if (i === last) return;
        h = c.apply(h);
        if (i > 0) h = instanceNorm(h);
        h = tf.leakyRelu(h, 0.2);
      });
      return this.convs[last].apply(h);
    });
  }
}

/** Side of the PatchGAN's output map for an input of side `size` (k4 p1 convs). */
export function patchOutputSize(size: number, nLayers: number): number {
  let s = size;
  for (let n = 0; n < nLayers; n++) s = Math.floor(s / 2);
  return s - 2;
}

// ---------------------------------------------------------------------------------------------
// The image history (§4) and the lr schedule

/**
 * The reference's ImagePool: a history of up to `size` generated images that D trains on. For each
 * image of a batch: while the pool is filling, it is stored and returned as is; afterwards, with
 * probability 0.5 a uniformly chosen stored image is returned and replaced by the new one, else the
 * new one is returned. Draws come from the caller's Rng (the reference uses Python's `random`):
 * one `uniform()` per image once full, then `int(size)` when swapping.
 *
 * The images and the fill count are non-trainable variables, so they go into checkpoints with the
 * models (TrainLoop saves every module's variables) and a resumed run continues bit-identically.
 */
export class ImagePool extends Module {
  readonly images: tf.Variable;
  readonly count: tf.Variable;

  constructor(readonly size: number, height: number, width: number, channels: number) {
    super();
    this.images = this.param("images", tf.zeros([Math.max(size, 1), height, width, channels]), false);
    this.count = this.param("count", tf.scalar(0), false);
  }

  /** Returns the batch D sees instead of `images`; updates the history. */
  query(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    if (this.size === 0) return tf.clone(images);
    const size = this.size;
    let n = this.count.dataSync()[0];
    // Indices into concat([history, images]): what each pool slot holds after this batch, and
    // what is returned for each input image. Done on indices so one gather does all the copying.
    const slots = Array.from({ length: size }, (_, j) => j);
    const out: number[] = [];
    for (let i = 0; i < images.shape[0]; i++) {
      if (n < size) {
        slots[n++] = size + i;
        out.push(size + i);
      } else if (rng.uniform() > 0.5) {
        const j = rng.int(size);
        out.push(slots[j]);
        slots[j] = size + i;
      } else {
        out.push(size + i);
      }
    }
    return tf.tidy(() => {
      const all = tf.concat([this.images, images], 0);
      this.images.assign(tf.gather(all, slots));
      this.count.assign(tf.scalar(n));
      return tf.gather(all, out) as tf.Tensor4D;
    });
  }
}

/**
 * The reference's linear policy (`lambda_rule` in networks.py): the lr multiplier after `epoch`
 * completed epochs, 1 − max(0, epoch + epochCount − nEpochs) / (nEpochsDecay + 1), epochCount = 1.
 * {@link main} trains 0-based epoch k with multiplier λ(k) — the LambdaLR stepped once at the end of
 * each epoch — so epochs 1…nEpochs run at the full lr and the next nEpochsDecay epochs at
 * nEpochsDecay/(nEpochsDecay+1), …, 1/(nEpochsDecay+1): "linearly decay to zero" (§4). (Versions of
 * the reference that step the scheduler at the *start* of each epoch use λ(k + 1), one epoch
 * earlier, so their last epoch runs at lr 0.)
 */
export function lrLambda(epoch: number, nEpochs: number, nEpochsDecay: number, epochCount = 1): number {
  return 1 - Math.max(0, epoch + epochCount - nEpochs) / (nEpochsDecay + 1);
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * Style B of the offline pair: a 3×3 dilation (max filter, borders ignored) thickens the strokes,
 * then the colours are inverted (255 − v): thick black digits on white. On [−1, 1] images this is
 * T(x) = −maxpool₃(x), and the same formula undoes it up to a morphological closing —
 * T(T(x)) = erode(dilate(x)) — which is how the metrics read G_A's outputs (see {@link unstyleB}).
 * `pixels` holds n images of h×w×1 bytes; returns a new array.
 */
export function styleB(pixels: Uint8Array, n: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < n; i++) {
    const o = i * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let m = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx >= 0 && xx < w) m = Math.max(m, pixels[o + yy * w + xx]);
          }
        }
        out[o + y * w + x] = 255 - m;
      }
    }
  }
  return out;
}

/**
 * {@link styleB} on [−1, 1] tensors: T(x) = −maxpool₃(x) ("same" pooling ignores the border, as
 * styleB does). Applied to a style-B image it inverts and then erodes, which undoes styleB up to a
 * morphological closing: T(T(a)) = erode(dilate(a)). The metrics use it both ways: T(a) is the true
 * translation of a test digit a, and T(G_A(a)) reads G_A's output back as a plain digit.
 */
export function styleBTensor(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.neg(tf.maxPool(x, 3, 1, "same")));
}

/** MNIST's 28×28 digits padded with black to 32×32 (two downsamplings need a multiple of 4). */
function padTo32(pixels: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 32 * 32);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 28; y++) {
      out.set(pixels.subarray((i * 28 + y) * 28, (i * 28 + y + 1) * 28), i * 1024 + (y + 2) * 32 + 2);
    }
  }
  return out;
}

/** Images `indices` of `ds` as a new dataset (pixels copied, labels kept). */
function subset(ds: ImageDataset, indices: number[], name: string): ImageDataset {
  const per = ds.height * ds.width * ds.channels;
  const pixels = new Uint8Array(indices.length * per);
  indices.forEach((i, k) => pixels.set(ds.pixels.subarray(i * per, (i + 1) * per), k * per));
  return {
    ...ds,
    name,
    pixels,
    labels: ds.labels ? Int32Array.from(indices, (i) => ds.labels![i]) : undefined,
    n: indices.length,
  };
}

/** The two domains of a training or test split. */
export interface Domains {
  A: ImageDataset;
  B: ImageDataset;
  /** MNIST pair: domain B's digits before {@link styleB} (the true B → A translations). */
  plainB?: ImageDataset;
}

/**
 * The offline pair from one MNIST split: A = even-indexed digits padded to 32×32, B = odd-indexed
 * digits padded and in {@link styleB} — disjoint images, so nothing is paired. Labels are kept
 * (they are used only by the metrics). `limit` caps each domain.
 */
export function mnistDomains(ds: ImageDataset, limit?: number): Domains {
  const even: number[] = [], odd: number[] = [];
  for (let i = 0; i < ds.n; i++) (i % 2 === 0 ? even : odd).push(i);
  const cap = (a: number[]) => a.slice(0, limit ?? a.length);
  const pad = (d: ImageDataset): ImageDataset => ({
    ...d,
    pixels: padTo32(d.pixels, d.n),
    height: 32,
    width: 32,
  });
  const A = pad(subset(ds, cap(even), "mnist-A"));
  const plainB = pad(subset(ds, cap(odd), "mnist-B"));
  const B = { ...plainB, pixels: styleB(plainB.pixels, plainB.n, 32, 32) };
  return { A, B, plainB };
}

/** Splits a folder dataset loaded with labels into its domains "A" and "B". */
export function folderDomains(ds: ImageDataset, limit?: number): Domains {
  if (!ds.classNames || ds.classNames.join() !== "A,B") {
    throw new UserError(
      `cyclegan needs two domains A and B, found classes [${ds.classNames ?? []}] in ` +
        `${ds.source}; expected <data-dir>/{trainA,trainB,testA,testB}/ (as in the CycleGAN ` +
        `zips) or <data-dir>/{train,test}/{A,B}/`,
    );
  }
  const idx: number[][] = [[], []];
  for (let i = 0; i < ds.n; i++) idx[ds.labels![i]].push(i);
  if (idx[0].length === 0 || idx[1].length === 0) {
    throw new UserError(`cyclegan: domain ${idx[0].length === 0 ? "A" : "B"} is empty in ${ds.source}`);
  }
  const cap = (a: number[]) => a.slice(0, limit ?? a.length);
  return { A: subset(ds, cap(idx[0]), "A"), B: subset(ds, cap(idx[1]), "B") };
}

/**
 * The reference's training transform on a batch: a random `size` crop of each (already
 * load-size) image and, with `flip`, a horizontal flip with probability 0.5 (draws per image: top,
 * left, flip — RandomCrop then RandomHorizontalFlip). Returns [B, size, size, C] in [−1, 1].
 */
export function cropFlipBatch(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  size: number,
  flip: boolean,
  rng: Rng,
): tf.Tensor4D {
  const { height: H, width: W, channels: C } = ds;
  const out = new Float32Array(indices.length * size * size * C);
  for (let b = 0; b < indices.length; b++) {
    const top = H > size ? rng.int(H - size + 1) : 0;
    const left = W > size ? rng.int(W - size + 1) : 0;
    const mirror = flip && rng.uniform() < 0.5;
    const src = indices[b] * H * W * C;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const sx = left + (mirror ? size - 1 - x : x);
        const s = src + ((top + y) * W + sx) * C;
        const o = ((b * size + y) * size + x) * C;
        for (let c = 0; c < C; c++) out[o + c] = ds.pixels[s + c] / 127.5 - 1;
      }
    }
  }
  return tf.tensor4d(out, [indices.length, size, size, C]);
}

/** The first `n` images of a domain, unaugmented, in [−1, 1]. */
function firstImages(ds: ImageDataset, n: number): tf.Tensor4D {
  const k = Math.min(n, ds.n);
  const per = ds.height * ds.width * ds.channels;
  const out = new Float32Array(k * per);
  for (let i = 0; i < k * per; i++) out[i] = ds.pixels[i] / 127.5 - 1;
  return tf.tensor4d(out, [k, ds.height, ds.width, ds.channels]);
}

/** Loads the test domains at the crop size (the reference tests at load = crop size, no flip). */
async function loadTestDomains(cfg: CycleGanConfig, train: Domains): Promise<Domains> {
  const dataDir = cfg.dataDir ?? undefined;
  if (cfg.dataset === "mnist") {
    return mnistDomains(await loadDataset("mnist", { split: "test", dataDir }));
  }
  try {
    const test = await loadDataset("folder", {
      dataDir,
      split: "test",
      size: cfg.imageSize,
      channels: cfg.channels,
      crop: false,
      labels: true,
    });
    return folderDomains(test);
  } catch (e) {
    if (!(e instanceof UserError) || !/no test split/.test(e.message)) throw e;
    console.error(`[cyclegan] no test split under ${dataDir}; figures use training images`);
    const resized = (d: ImageDataset): ImageDataset => {
      const k = Math.min(d.n, cfg.evalImages);
      const per = d.height * d.width * d.channels, outPer = cfg.imageSize ** 2 * d.channels;
      const pixels = new Uint8Array(k * outPer);
      for (let i = 0; i < k; i++) {
        const img = d.pixels.subarray(i * per, (i + 1) * per);
        pixels.set(
          resizeImage(img, d.height, d.width, d.channels, cfg.imageSize, cfg.imageSize),
          i * outPer,
        );
      }
      return { ...d, pixels, n: k, height: cfg.imageSize, width: cfg.imageSize };
    };
    return { A: resized(train.A), B: resized(train.B) };
  }
}

// ---------------------------------------------------------------------------------------------
// Setup

const FLAGS: Record<string, ExtraFlag> = {
  size: {
    type: "string",
    help: "crop size for --dataset folder (default 256; load size 286/256 of it; 9 residual " +
      "blocks from 256 up, else 6, as the reference's resnet_9blocks/resnet_6blocks)",
  },
  limit: { type: "string", help: "use at most this many training images per domain" },
};

function intFlag(name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UserError(`--${name} expects a positive integer, got "${v}"`);
  }
  return n;
}

/** How cyclegan.ts plugs into the shared experiment setup. */
export const SPEC: ExperimentSpec<CycleGanConfig> = {
  paper: "cyclegan",
  description: "CycleGAN (Zhu et al. 2017): unpaired translation between two image domains " +
    "(default: MNIST ↔ thick inverted MNIST; --dataset folder --data-dir <root> for " +
    "horse2zebra-style {trainA,trainB,testA,testB} folders).",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => {
    const dataset = args.dataset ?? base.dataset;
    if (dataset !== "mnist" && dataset !== "folder") {
      throw new UserError(`cyclegan supports --dataset mnist or folder, got "${dataset}"`);
    }
    let cfg = dataset === base.dataset ? base : args.quick ? QUICK_FOLDER_CONFIG : FOLDER_CONFIG;
    const size = intFlag("size", args.extra.size);
    if (size !== undefined) {
      if (dataset === "mnist") throw new UserError("--size applies to --dataset folder only (MNIST is 32×32)");
      if (size % 4 !== 0 || patchOutputSize(size, cfg.nLayersD) < 1) {
        throw new UserError(`--size must be a multiple of 4 and at least 24, got ${size}`);
      }
      cfg = { ...cfg, imageSize: size, loadSize: loadSizeFor(size), nBlocks: args.quick ? cfg.nBlocks : size >= 256 ? 9 : 6 };
    }
    const epochs = args.epochs;
    return {
      ...cfg,
      dataDir: args.dataDir ?? cfg.dataDir,
      limit: intFlag("limit", args.extra.limit) ?? cfg.limit,
      batchSize: args.batchSize ?? cfg.batchSize,
      lr: args.lr ?? cfg.lr,
      // --epochs N keeps the paper's shape: half at the full lr, half decaying.
      nEpochs: epochs !== undefined ? Math.ceil(epochs / 2) : cfg.nEpochs,
      nEpochsDecay: epochs !== undefined ? Math.floor(epochs / 2) : cfg.nEpochsDecay,
    };
  },
  runIdParts: (cfg) => [cfg.dataset, `${cfg.imageSize}px`],
  dataset: (cfg) =>
    cfg.dataset === "mnist"
      ? { name: "mnist", split: "train", dataDir: cfg.dataDir ?? undefined }
      : {
        name: "folder",
        split: "train",
        dataDir: cfg.dataDir ?? undefined,
        size: cfg.loadSize,
        channels: cfg.channels,
        crop: false, // the reference squashes to load_size × load_size
        labels: true,
      },
};

/** The four networks, initialized from their own Rng streams. */
export function buildModels(cfg: CycleGanConfig, seed: number): {
  G_A: ResnetGenerator;
  G_B: ResnetGenerator;
  D_A: PatchDiscriminator;
  D_B: PatchDiscriminator;
} {
  const c = cfg.channels;
  return {
    G_A: new ResnetGenerator(new Rng(seed, "init-G_A"), c, c, cfg.ngf, cfg.nBlocks, cfg.initGain),
    G_B: new ResnetGenerator(new Rng(seed, "init-G_B"), c, c, cfg.ngf, cfg.nBlocks, cfg.initGain),
    D_A: new PatchDiscriminator(new Rng(seed, "init-D_A"), c, cfg.ndf, cfg.nLayersD, cfg.initGain),
    D_B: new PatchDiscriminator(new Rng(seed, "init-D_B"), c, cfg.ndf, cfg.nLayersD, cfg.initGain),
  };
}

/** The loss terms logged each step (the reference's `loss_names`). */
const LOSS_NAMES = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"] as const;

/** Entry point: parses flags, trains, writes every figure and the metrics into the run directory. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const train = cfg.dataset === "mnist"
    ? mnistDomains(exp.data!, cfg.limit ?? undefined)
    : folderDomains(exp.data!, cfg.limit ?? undefined);
  const test = await loadTestDomains(cfg, train);
  const { A, B } = train;
  if (A.channels !== cfg.channels) throw new Error(`expected ${cfg.channels} channels`);

  const { G_A, G_B, D_A, D_B } = buildModels(cfg, args.seed);
  const size = cfg.imageSize;
  const pool_A = new ImagePool(cfg.poolSize, size, size, cfg.channels); // history of G_B(B)
  const pool_B = new ImagePool(cfg.poolSize, size, size, cfg.channels); // history of G_A(A)
  const optG = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const optD = new Adam(cfg.lr, cfg.beta1, cfg.beta2);
  const augment = new Rng(args.seed, "augment");
  const poolRng = new Rng(args.seed, "pool");
  // The reference's epoch has max(|A|, |B|) items: A in shuffled order (wrapping), B drawn at random.
  const epochLength = Math.max(A.n, B.n);
  const loop = TrainLoop.create(run, {
    modules: { G_A, G_B, D_A, D_B, pool_A, pool_B },
    optimizers: { optG, optD },
    rngs: { augment, pool: poolRng },
  }, {
    label: "cyclegan",
    stepsPerEpoch: numBatches(epochLength, cfg.batchSize),
    epochs: cfg.nEpochs + cfg.nEpochsDecay,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });
  const gridA = firstImages(test.A, cfg.gridImages), gridB = firstImages(test.B, cfg.gridImages);
  const gVars = [...G_A.trainableVariables(), ...G_B.trainableVariables()];
  const dVars = [...D_A.trainableVariables(), ...D_B.trainableVariables()];
  const lamIdt = cfg.lambdaIdentity;
  let order = new Int32Array(0), pairB = new Int32Array(0), orderEpoch = -1;

  while (loop.running) {
    if (orderEpoch !== loop.epoch) {
      orderEpoch = loop.epoch;
      order = epochOrder(epochLength, args.seed, orderEpoch);
      // Unaligned pairing, a function of (seed, epoch) only, so resuming needs no saved state.
      const pair = new Rng(args.seed, `pair-B-${orderEpoch}`);
      pairB = Int32Array.from({ length: epochLength }, () => pair.int(B.n));
    }
    const lr = cfg.lr * lrLambda(loop.epoch, cfg.nEpochs, cfg.nEpochsDecay);
    optG.lr = optD.lr = lr;
    const i = loop.stepInEpoch, bs = cfg.batchSize;
    const idxA = Array.from(order.subarray(i * bs, (i + 1) * bs), (k) => k % A.n);
    const idxB = Array.from(order.subarray(i * bs, (i + 1) * bs), (k) => pairB[k]);
    const t0 = performance.now();
    const realA = cropFlipBatch(A, idxA, size, cfg.flip, augment);
    const realB = cropFlipBatch(B, idxB, size, cfg.flip, augment);
    const losses = tf.tidy(() => {
      // G_A and G_B together (D's gradients are not taken here).
      let fakeA: tf.Tensor4D | null = null, fakeB: tf.Tensor4D | null = null;
      const terms: tf.Scalar[] = [];
      const g = tf.variableGrads(() => {
        fakeB = tf.keep(G_A.apply(realA));
        fakeA = tf.keep(G_B.apply(realB));
        const recA = G_B.apply(fakeB), recB = G_A.apply(fakeA);
        const idtA = l1(G_A.apply(realB), realB).mul(cfg.lambdaB * lamIdt) as tf.Scalar;
        const idtB = l1(G_B.apply(realA), realA).mul(cfg.lambdaA * lamIdt) as tf.Scalar;
        const advA = lsgan(D_A.apply(fakeB), 1), advB = lsgan(D_B.apply(fakeA), 1);
        const cycA = l1(recA, realA).mul(cfg.lambdaA) as tf.Scalar;
        const cycB = l1(recB, realB).mul(cfg.lambdaB) as tf.Scalar;
        terms.push(...[advA, cycA, idtA, advB, cycB, idtB].map((t) => tf.keep(t)));
        return tf.addN([advA, advB, cycA, cycB, idtA, idtB]) as tf.Scalar;
      }, gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      // D_A on real B vs the history of G_A(A); D_B on real A vs that of G_B(B). Halved.
      const histB = pool_B.query(fakeB!, poolRng), histA = pool_A.query(fakeA!, poolRng);
      let dA: tf.Scalar | null = null, dB: tf.Scalar | null = null;
      const d = tf.variableGrads(() => {
        dA = tf.keep(tf.mul(tf.add(lsgan(D_A.apply(realB), 1), lsgan(D_A.apply(histB), 0)), 0.5));
        dB = tf.keep(tf.mul(tf.add(lsgan(D_B.apply(realA), 1), lsgan(D_B.apply(histA), 0)), 0.5));
        return tf.add(dA, dB) as tf.Scalar;
      }, dVars);
      optD.step(dVars, dVars.map((v) => d.grads[v.name]));
      const [advA, cycA, idtA, advB, cycB, idtB] = terms;
      return tf.stack([dA!, advA, cycA, idtA, dB!, advB, cycB, idtB]);
    });
    const v = losses.dataSync();
    tf.dispose([losses, realA, realB]);
    const values: Record<string, number> = { lr };
    LOSS_NAMES.forEach((k, j) => values[k] = v[j]);
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, 2 * bs, seconds, async (epoch) => {
      await saveTranslations(epochGridPath(run, epoch), G_A, G_B, gridA, gridB);
    });
    if (!go) return;
  }

  await saveTranslations(run.path("translations.png"), G_A, G_B, gridA, gridB);
  await plotLosses(run, "losses_adversarial", { G_A: "G_A", G_B: "G_B", D_A: "D_A", D_B: "D_B" }, {
    title: "CycleGAN: least-squares GAN losses",
    yLabel: "MSE",
  });
  await plotLosses(
    run,
    "losses_cycle",
    { cycle_A: "cycle_A", cycle_B: "cycle_B", idt_A: "idt_A", idt_B: "idt_B" },
    { title: "CycleGAN: cycle (λ·L1) and identity (0.5λ·L1) losses", yLabel: "weighted L1" },
  );
  await plotLosses(run, "lr", { lr: "lr" }, { title: "Learning rate", yLabel: "lr" });
  await progressFigures(run, cfg.nEpochs + cfg.nEpochsDecay, cfg.seriesEpochs);
  const metrics = await evaluate(cfg, G_A, G_B, test);
  await writeFileAtomic(run.path("metrics.json"), JSON.stringify(metrics, null, 2) + "\n");
  console.error(`[cyclegan] ${formatMetrics(metrics)}`);
  await run.finish({ metrics });
  tf.dispose([gridA, gridB]);
  for (const m of [G_A, G_B, D_A, D_B, pool_A, pool_B]) m.dispose();
  console.error(`[cyclegan] done: ${run.dir}`);
}

/**
 * Translation grid: one row per test image pair, columns real A | G_A(A) | G_B(G_A(A)) | real B |
 * G_B(B) | G_A(G_B(B)) — the reference's visuals real_A, fake_B, rec_A, real_B, fake_A, rec_B.
 */
async function saveTranslations(
  path: string,
  G_A: ResnetGenerator,
  G_B: ResnetGenerator,
  a: tf.Tensor4D,
  b: tf.Tensor4D,
): Promise<void> {
  const rows = tf.tidy(() => {
    const k = Math.min(a.shape[0], b.shape[0]);
    const ra = a.slice(0, k), rb = b.slice(0, k);
    const fb = G_A.apply(ra), fa = G_B.apply(rb);
    const cols = [ra, fb, G_B.apply(fb), rb, fa, G_A.apply(fa)];
    // Interleave: image (row r, column c) at index 6r + c.
    return tf.reshape(tf.stack(cols, 1), [k * 6, ...a.shape.slice(1)]) as tf.Tensor4D;
  });
  await saveGrid(path, rows, { nrow: 6 });
  rows.dispose();
}

// ---------------------------------------------------------------------------------------------
// Metrics

/** What {@link evaluate} measures on the test images. */
export interface CycleGanMetrics {
  /** Test images per domain used. */
  images: number;
  /** mean |G_B(G_A(a)) − a| and mean |G_A(G_B(b)) − b| on the [−1, 1] scale. */
  cycleL1A: number;
  cycleL1B: number;
  /** PSNR of the reconstructions, peak-to-peak 2 (the [−1, 1] range): 10·log10(4 / MSE). */
  cyclePsnrA: number;
  cyclePsnrB: number;
  /**
   * MNIST pair only: the known true translations exist, so mean |G_A(a) − styleB(a)| and
   * mean |G_B(styleB(a′)) − a′| measure how close the unpaired mapping came to them.
   */
  translationL1A?: number;
  translationL1B?: number;
  /**
   * MNIST pair with a classifier only: digit accuracy of the classifier on a (baseline), on
   * unstyleB(styleB(a)) (the ceiling of the read-back), on unstyleB(G_A(a)) — class preservation
   * after A→B —, on G_B(G_A(a)), and on G_B(b) for styled test digits b.
   */
  accuracy?: { real: number; ceiling: number; aToB: number; cycle: number; bToA: number };
}

interface Classifier {
  predict(x: tf.Tensor4D): Int32Array;
}

/** `lib/classifier.ts`'s MNIST classifier, or null (with a note) when that module is absent. */
async function mnistClassifier(): Promise<Classifier | null> {
  // A computed specifier: the module is optional, so type-checking must not require it.
  const path = "../lib/classifier.ts";
  try {
    const mod = await import(path);
    return await mod.loadClassifier("mnist") as Classifier;
  } catch (e) {
    console.error(`[cyclegan] no MNIST classifier (${(e as Error).message.split("\n")[0]}); ` +
      "skipping the class-preservation accuracy");
    return null;
  }
}

/** 32×32 → the classifier's 28×28 (the padding added by the MNIST pair). */
function crop28(x: tf.Tensor4D): tf.Tensor4D {
  return tf.slice(x, [0, 2, 2, 0], [x.shape[0], 28, 28, x.shape[3]]);
}

/** Cycle reconstruction (and, for MNIST, translation and class-preservation) on test images. */
export async function evaluate(
  cfg: CycleGanConfig,
  G_A: ResnetGenerator,
  G_B: ResnetGenerator,
  test: Domains,
): Promise<CycleGanMetrics> {
  const n = Math.min(cfg.evalImages, test.A.n, test.B.n);
  const mnist = cfg.dataset === "mnist";
  const clf = mnist ? await mnistClassifier() : null;
  const sums = { l1A: 0, l1B: 0, mseA: 0, mseB: 0, trA: 0, trB: 0 };
  const correct = { real: 0, ceiling: 0, aToB: 0, cycle: 0, bToA: 0 };
  const labelsA = test.A.labels, labelsB = test.B.labels;
  const per = test.A.height * test.A.width * test.A.channels;
  for (let start = 0; start < n; start += 64) {
    const k = Math.min(64, n - start);
    const idx = Array.from({ length: k }, (_, i) => start + i);
    const a = cropFlipBatch(test.A, idx, cfg.imageSize, false, new Rng(0));
    const b = cropFlipBatch(test.B, idx, cfg.imageSize, false, new Rng(0));
    const r = tf.tidy(() => {
      const fb = G_A.apply(a), fa = G_B.apply(b);
      const ra = G_B.apply(fb), rb = G_A.apply(fa);
      const sum = (t: tf.Tensor) => tf.sum(t);
      const out: Record<string, tf.Tensor> = {
        l1A: sum(tf.abs(tf.sub(ra, a))),
        l1B: sum(tf.abs(tf.sub(rb, b))),
        mseA: sum(tf.square(tf.sub(ra, a))),
        mseB: sum(tf.square(tf.sub(rb, b))),
        fb,
        fa,
        ra,
      };
      if (mnist) {
        // The true translations: b = styleB(a') for the test digits a' that B was made from.
        out.trA = sum(tf.abs(tf.sub(fb, unstyleB(tf.neg(a) as tf.Tensor4D)))); // styleB(a) = −maxpool₃(a)
        out.trB = sum(tf.abs(tf.sub(fa, unstyleOriginal(test, idx))));
      }
      return out;
    });
    for (const key of ["l1A", "l1B", "mseA", "mseB", "trA", "trB"] as const) {
      if (r[key]) sums[key] += r[key].dataSync()[0];
    }
    if (clf && labelsA && labelsB) {
      const count = (x: tf.Tensor4D, labels: Int32Array, offset: number) => {
        const p = clf.predict(x);
        let c = 0;
        for (let i = 0; i < p.length; i++) if (p[i] === labels[offset + i]) c++;
        x.dispose();
        return c;
      };
      correct.real += count(crop28(a), labelsA, start);
      correct.ceiling += count(tf.tidy(() => crop28(unstyleB(unstyleB(tf.neg(a) as tf.Tensor4D)))), labelsA, start);
      correct.aToB += count(tf.tidy(() => crop28(unstyleB(r.fb as tf.Tensor4D))), labelsA, start);
      correct.cycle += count(crop28(r.ra as tf.Tensor4D), labelsA, start);
      correct.bToA += count(crop28(r.fa as tf.Tensor4D), labelsB, start);
    }
    tf.dispose([a, b, ...Object.values(r)]);
  }
  const pixels = n * per;
  const psnr = (mse: number) => 10 * Math.log10(4 / Math.max(mse, 1e-12));
  const m: CycleGanMetrics = {
    images: n,
    cycleL1A: sums.l1A / pixels,
    cycleL1B: sums.l1B / pixels,
    cyclePsnrA: psnr(sums.mseA / pixels),
    cyclePsnrB: psnr(sums.mseB / pixels),
  };
  if (mnist) {
    m.translationL1A = sums.trA / pixels;
    m.translationL1B = sums.trB / pixels;
  }
  if (clf) {
    m.accuracy = {
      real: correct.real / n,
      ceiling: correct.ceiling / n,
      aToB: correct.aToB / n,
      cycle: correct.cycle / n,
      bToA: correct.bToA / n,
    };
  }
  return m;
}
