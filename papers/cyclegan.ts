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
import {
  constantInit,
  Conv2d,
  ConvTranspose2d,
  loadStateDict,
  Module,
  normalInit,
} from "../lib/nn.ts";
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
import { type Classifier, loadClassifier } from "../lib/classifier.ts";

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
 * the whole image). 1,000 images per domain and 5 + 5 epochs = 10,000 steps of batch 1 (the
 * paper's 100 + 100 epochs over ~1,000 images per domain is 200,000 steps, days on a CPU); MNIST
 * needs no flips or crops (the digits are centred, and a mirrored digit is not a digit), so
 * augmentation is off. A few hours on a 2-core CPU (1,600 steps took 55 min on a heavily shared
 * one); already after 400 steps the translations read as the right digits.
 */
export const PAPER_CONFIG: CycleGanConfig = {
  dataset: "mnist",
  dataDir: null,
  imageSize: 32,
  loadSize: 32,
  flip: false,
  channels: 1,
  limit: 1000,
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

/**
 * `--dataset folder`: the paper's 256×256 configuration (horse2zebra, monet2photo, …): ngf 64 with
 * 9 blocks, ndf 64, 100 + 100 epochs of batch 1, load 286 → random 256 crop + flip. Images are
 * squashed to 286×286 as the reference does, but with our resampler (area/bilinear, see
 * lib/data/image.ts) instead of PIL's bicubic. Expect days per run on a CPU.
 */
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

/** `--quick`: a small network (ngf 8, 2 blocks, ndf 16) on 192 images per domain, 1 + 1 epochs of batch 4. */
export const QUICK_CONFIG: CycleGanConfig = {
  ...PAPER_CONFIG,
  limit: 192,
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

/**
 * Reflection padding of `p` pixels on each side of H and W (PyTorch's ReflectionPad2d): row −i is
 * row i, row H − 1 + i is row H − 1 − i. Built from slice, reverse and concat because the stock
 * `tf.mirrorPad` gradient in tfjs 4.22 drops the reflected borders' contributions (every padded
 * conv of the generator would get wrong gradients). lib/tf.ts now registers a corrected one, but
 * this path stays so that runs remain byte-identical to the committed references.
 */
export function reflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {
  return tf.tidy(() => {
    const padAxis = (t: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D => {
      const n = t.shape[axis];
      if (p >= n) throw new Error(`reflectPad: padding ${p} needs more than ${n} pixels`);
      const part = (start: number) => {
        const begin = [0, 0, 0, 0], size = [-1, -1, -1, -1];
        begin[axis] = start;
        size[axis] = p;
        const rows = tf.slice(t, begin, size);
        return p > 1 ? tf.reverse(rows, axis) : rows; // one row needs no reversing (wasm's is slow)
      };
      return tf.concat([part(1), t, part(n - 1 - p)], axis);
    };
    return padAxis(padAxis(x, 1), 2);
  });
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

  constructor(
    rng: Rng,
    inChannels: number,
    outChannels: number,
    ngf: number,
    nBlocks: number,
    gain: number,
  ) {
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
      this.convs.push(
        this.child(`conv${n}`, new Conv2d(rng, prev, c, 4, n < nLayers ? 2 : 1, 1, init)),
      );
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
  /**
   * `count` mirrored on the host, so a query needs no GPU read-back, with the tensor it mirrors
   * (loading a checkpoint assigns `count` a new tensor, which invalidates the mirror).
   */
  #filled: { n: number; of: object } | null = null;

  constructor(readonly size: number, height: number, width: number, channels: number) {
    super();
    this.images = this.param(
      "images",
      tf.zeros([Math.max(size, 1), height, width, channels]),
      false,
    );
    this.count = this.param("count", tf.scalar(0), false);
  }

  /**
   * Re-reads the fill count after the variables were loaded from a checkpoint. Asynchronous because
   * WebGPU under Deno cannot read a buffer back synchronously.
   */
  async sync(): Promise<void> {
    this.#filled = { n: (await this.count.data())[0], of: this.count.dataId };
  }

  /** Returns the batch D sees instead of `images`; updates the history. */
  query(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    if (this.size === 0) return tf.clone(images);
    const size = this.size;
    // After a checkpoint load the mirror is stale: read the count (synchronous reads work on
    // cpu/wasm; on webgpu call sync() first).
    if (this.#filled?.of !== this.count.dataId) {
      this.#filled = { n: this.count.dataSync()[0], of: this.count.dataId };
    }
    let n = this.#filled.n;
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
      this.#filled = { n, of: this.count.dataId };
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
export function lrLambda(
  epoch: number,
  nEpochs: number,
  nEpochsDecay: number,
  epochCount = 1,
): number {
  return 1 - Math.max(0, epoch + epochCount - nEpochs) / (nEpochsDecay + 1);
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * Style B of the offline pair: a 3×3 dilation (max filter, borders ignored) thickens the strokes,
 * then the colours are inverted (255 − v): thick black digits on white. On [−1, 1] images this is
 * T(x) = −maxpool₃(x), and the same formula undoes it up to a morphological closing —
 * T(T(x)) = erode(dilate(x)) — which is how the metrics read G_A's outputs (see {@link styleBTensor}).
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
      out.set(
        pixels.subarray((i * 28 + y) * 28, (i * 28 + y + 1) * 28),
        i * 1024 + (y + 2) * 32 + 2,
      );
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
    throw new UserError(
      `cyclegan: domain ${idx[0].length === 0 ? "A" : "B"} is empty in ${ds.source}`,
    );
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

/** Loads the test domains at the crop size (the reference tests at load = crop size, no flip). */
async function loadTestDomains(cfg: CycleGanConfig, train: Domains | null): Promise<Domains> {
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
    if (!(e instanceof UserError) || !/no test split/.test(e.message) || !train) throw e;
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
      if (dataset === "mnist") {
        throw new UserError("--size applies to --dataset folder only (MNIST is 32×32)");
      }
      if (size % 4 !== 0 || patchOutputSize(size, cfg.nLayersD) < 1) {
        throw new UserError(`--size must be a multiple of 4 and at least 24, got ${size}`);
      }
      cfg = {
        ...cfg,
        imageSize: size,
        loadSize: loadSizeFor(size),
        nBlocks: args.quick ? cfg.nBlocks : size >= 256 ? 9 : 6,
      };
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
      ? {
        name: "mnist",
        split: "train",
        dataDir: cfg.dataDir ?? undefined,
        limit: cfg.limit ? 2 * cfg.limit : undefined, // even images → A, odd → B
      }
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
  await Promise.all([pool_A.sync(), pool_B.sync()]); // fill counts, possibly from a checkpoint
  const gridIdx = Array.from({ length: Math.min(cfg.gridImages, test.A.n, test.B.n) }, (_, i) => i);
  const gridA = imagesAt(test.A, gridIdx), gridB = imagesAt(test.B, gridIdx);
  const gVars = [...G_A.trainableVariables(), ...G_B.trainableVariables()];
  const dVars = [...D_A.trainableVariables(), ...D_B.trainableVariables()];
  const lamIdt = cfg.lambdaIdentity;
  let order: Int32Array = new Int32Array(0), pairB: Int32Array = new Int32Array(0);
  let orderEpoch = -1;

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
      // Tensors needed after their gradient tape closes: the fakes (for D) and the loss terms.
      const out: Record<string, tf.Tensor> = {};
      const save = <T extends tf.Tensor>(name: string, t: T): T => {
        out[name] = tf.keep(t);
        return t;
      };
      // G_A and G_B together; only their variables get gradients.
      const g = tf.variableGrads(() => {
        const fakeB = save("fakeB", G_A.apply(realA)), fakeA = save("fakeA", G_B.apply(realB));
        const terms = [
          save("G_A", lsgan(D_A.apply(fakeB), 1)),
          save("G_B", lsgan(D_B.apply(fakeA), 1)),
          save("cycle_A", tf.mul(l1(G_B.apply(fakeB), realA), cfg.lambdaA)),
          save("cycle_B", tf.mul(l1(G_A.apply(fakeA), realB), cfg.lambdaB)),
          // G_A should leave B images unchanged, G_B A images (§5.2).
          save("idt_A", tf.mul(l1(G_A.apply(realB), realB), cfg.lambdaB * lamIdt)),
          save("idt_B", tf.mul(l1(G_B.apply(realA), realA), cfg.lambdaA * lamIdt)),
        ];
        return tf.addN(terms) as tf.Scalar;
      }, gVars);
      optG.step(gVars, gVars.map((v) => g.grads[v.name]));
      // D_A: real B vs the history of G_A(A); D_B: real A vs that of G_B(B); each loss halved.
      const histB = pool_B.query(out.fakeB as tf.Tensor4D, poolRng);
      const histA = pool_A.query(out.fakeA as tf.Tensor4D, poolRng);
      const half = (real: tf.Tensor, fake: tf.Tensor) =>
        tf.mul(tf.add(lsgan(real, 1), lsgan(fake, 0)), 0.5);
      const d = tf.variableGrads(() => {
        const dA = save("D_A", half(D_A.apply(realB), D_A.apply(histB)));
        const dB = save("D_B", half(D_B.apply(realA), D_B.apply(histA)));
        return tf.add(dA, dB) as tf.Scalar;
      }, dVars);
      optD.step(dVars, dVars.map((v) => d.grads[v.name]));
      const stacked = tf.stack(LOSS_NAMES.map((k) => out[k]));
      tf.dispose(Object.values(out));
      return stacked;
    });
    const v = await losses.data();
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
    title: `CycleGAN on ${cfg.dataset}: least-squares GAN losses`,
    yLabel: "MSE",
  });
  await plotLosses(
    run,
    "losses_cycle",
    { cycle_A: "cycle_A", cycle_B: "cycle_B", idt_A: "idt_A", idt_B: "idt_B" },
    {
      // ASCII only: the PNG renderer's font has no λ.
      title: `CycleGAN: cycle (${cfg.lambdaA} x L1) and identity ` +
        `(${cfg.lambdaA * cfg.lambdaIdentity} x L1) losses`,
      yLabel: "weighted L1",
    },
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
    const ra = tf.slice(a, 0, k), rb = tf.slice(b, 0, k);
    const fb = G_A.apply(ra), fa = G_B.apply(rb);
    const cols = [ra, fb, G_B.apply(fb), rb, fa, G_A.apply(fa)];
    // Interleave: image (row r, column c) at index 6r + c.
    const [, h, w, c] = a.shape;
    return tf.reshape(tf.stack(cols, 1), [k * 6, h, w, c]) as tf.Tensor4D;
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
  /** Cycle reconstruction: mean |G_B(G_A(a)) − a| and mean |G_A(G_B(b)) − b|, [−1, 1] scale. */
  cycleL1A: number;
  cycleL1B: number;
  /** PSNR of those reconstructions with peak-to-peak 2 (the [−1, 1] range): 10·log10(4 / MSE). */
  cyclePsnrA: number;
  cyclePsnrB: number;
  /**
   * MNIST pair only. The true translations are known, so: mean |G_A(a) − styleB(a)| and
   * mean |G_B(b) − a′| for b = styleB(a′) — how close the unpaired mapping came to them.
   */
  translationL1A?: number;
  translationL1B?: number;
  /**
   * MNIST pair with `lib/classifier.ts` present: digit accuracy of the MNIST classifier on
   * `real` a; `ceiling`: T(T(a)), the best the read-back through T = {@link styleBTensor} allows;
   * `aToB`: T(G_A(a)), class preservation after A → B; `cycle`: G_B(G_A(a)); `bToA`: G_B(b) for
   * styled test digits b.
   */
  accuracy?: { real: number; ceiling: number; aToB: number; cycle: number; bToA: number };
}

/** The MNIST classifier of `lib/classifier.ts`, or null (with a note) when its weights are missing. */
async function mnistClassifier(): Promise<Classifier | null> {
  try {
    return await loadClassifier("mnist");
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`[cyclegan] skipping the class-preservation accuracy: ${e.message}`);
    return null;
  }
}

/** 32×32 → the classifier's 28×28 (undoes the MNIST pair's padding). */
function crop28(x: tf.Tensor4D): tf.Tensor4D {
  return tf.slice(x, [0, 2, 2, 0], [x.shape[0], 28, 28, x.shape[3]]);
}

/** Images `idx` of a domain, unaugmented, in [−1, 1]. */
function imagesAt(ds: ImageDataset, idx: number[]): tf.Tensor4D {
  const per = ds.height * ds.width * ds.channels;
  const out = new Float32Array(idx.length * per);
  idx.forEach((i, k) => {
    for (let j = 0; j < per; j++) out[k * per + j] = ds.pixels[i * per + j] / 127.5 - 1;
  });
  return tf.tensor4d(out, [idx.length, ds.height, ds.width, ds.channels]);
}

/** Cycle reconstruction (and, for the MNIST pair, translation and class preservation) on test images. */
export async function evaluate(
  cfg: CycleGanConfig,
  G_A: ResnetGenerator,
  G_B: ResnetGenerator,
  test: Domains,
): Promise<CycleGanMetrics> {
  const n = Math.min(cfg.evalImages, test.A.n, test.B.n);
  const plainB = cfg.dataset === "mnist" ? test.plainB : undefined;
  const clf = plainB ? await mnistClassifier() : null;
  const sums: Record<string, number> = {};
  const add = async (key: string, t: tf.Tensor) => {
    sums[key] = (sums[key] ?? 0) + (await t.data())[0];
    t.dispose();
  };
  const correct = { real: 0, ceiling: 0, aToB: 0, cycle: 0, bToA: 0 };
  const hits = async (
    key: keyof typeof correct,
    x: tf.Tensor4D,
    labels: Int32Array,
    idx: number[],
  ) => {
    const p = await clf!.predict(x);
    x.dispose();
    idx.forEach((i, k) => correct[key] += p[k] === labels[i] ? 1 : 0);
  };
  for (let start = 0; start < n; start += 64) {
    const idx = Array.from({ length: Math.min(64, n - start) }, (_, i) => start + i);
    const a = imagesAt(test.A, idx), b = imagesAt(test.B, idx);
    const fakeB = G_A.apply(a), fakeA = G_B.apply(b);
    const recA = G_B.apply(fakeB), recB = G_A.apply(fakeA);
    await add("l1A", tf.tidy(() => tf.sum(tf.abs(tf.sub(recA, a)))));
    await add("l1B", tf.tidy(() => tf.sum(tf.abs(tf.sub(recB, b)))));
    await add("mseA", tf.tidy(() => tf.sum(tf.square(tf.sub(recA, a)))));
    await add("mseB", tf.tidy(() => tf.sum(tf.square(tf.sub(recB, b)))));
    if (plainB) {
      const a2 = imagesAt(plainB, idx);
      await add("trA", tf.tidy(() => tf.sum(tf.abs(tf.sub(fakeB, styleBTensor(a))))));
      await add("trB", tf.tidy(() => tf.sum(tf.abs(tf.sub(fakeA, a2)))));
      a2.dispose();
    }
    if (clf && test.A.labels && test.B.labels) {
      const la = test.A.labels, lb = test.B.labels;
      await hits("real", crop28(a), la, idx);
      await hits("ceiling", tf.tidy(() => crop28(styleBTensor(styleBTensor(a)))), la, idx);
      await hits("aToB", tf.tidy(() => crop28(styleBTensor(fakeB))), la, idx);
      await hits("cycle", crop28(recA), la, idx);
      await hits("bToA", crop28(fakeA), lb, idx);
    }
    tf.dispose([a, b, fakeA, fakeB, recA, recB]);
  }
  const pixels = n * test.A.height * test.A.width * test.A.channels;
  const psnr = (sse: number) => 10 * Math.log10(4 / Math.max(sse / pixels, 1e-12));
  const m: CycleGanMetrics = {
    images: n,
    cycleL1A: sums.l1A / pixels,
    cycleL1B: sums.l1B / pixels,
    cyclePsnrA: psnr(sums.mseA),
    cyclePsnrB: psnr(sums.mseB),
  };
  if (plainB) {
    m.translationL1A = sums.trA / pixels;
    m.translationL1B = sums.trB / pixels;
  }
  if (clf) {
    clf.dispose();
    const acc = (k: keyof typeof correct) => correct[k] / n;
    m.accuracy = {
      real: acc("real"),
      ceiling: acc("ceiling"),
      aToB: acc("aToB"),
      cycle: acc("cycle"),
      bToA: acc("bToA"),
    };
  }
  return m;
}

/** One line of the headline numbers. */
function formatMetrics(m: CycleGanMetrics): string {
  const f = (x: number) => x.toFixed(3);
  const parts = [
    `A→B→A L1 ${f(m.cycleL1A)} (PSNR ${m.cyclePsnrA.toFixed(1)} dB)`,
    `B→A→B L1 ${f(m.cycleL1B)} (PSNR ${m.cyclePsnrB.toFixed(1)} dB)`,
  ];
  if (m.translationL1A !== undefined) {
    parts.push(
      `L1 to the true translation A→B ${f(m.translationL1A)}, B→A ${f(m.translationL1B!)}`,
    );
  }
  if (m.accuracy) {
    const a = m.accuracy;
    parts.push(
      `digit accuracy: A→B ${f(a.aToB)} (ceiling ${f(a.ceiling)}, real ${f(a.real)}), ` +
        `A→B→A ${f(a.cycle)}, B→A ${f(a.bToA)}`,
    );
  }
  return `${m.images} test images per domain: ${parts.join("; ")}`;
}

/**
 * n translations A → B of the first n test images of domain A by the run's G_A (rebuilt from its
 * `manifest.json` config and `checkpoint/`), for the evaluation tool. For the MNIST pair the
 * images are in style B and `labels` are the source digits' classes.
 */
export async function sampleForEval(
  runDir: string,
  n: number,
): Promise<{ images: tf.Tensor4D; labels?: Int32Array }> {
  const manifest = await Run.readManifest(runDir);
  const cfg = manifest.config as CycleGanConfig;
  const { G_A, G_B, D_A, D_B } = buildModels(cfg, manifest.seed);
  for (const m of [G_B, D_A, D_B]) m.dispose();
  const ckpt = await loadCheckpoint(join(runDir, "checkpoint"));
  loadStateDict(G_A, ckpt.tensors, "G_A/");
  for (const t of ckpt.tensors.values()) t.dispose();
  const test = await loadTestDomains({ ...cfg, evalImages: n }, null);
  const k = Math.min(n, test.A.n);
  if (k < n) throw new UserError(`sampleForEval: only ${k} test images in domain A, ${n} asked`);
  const idx = Array.from({ length: k }, (_, i) => i);
  const parts: tf.Tensor4D[] = [];
  for (let s = 0; s < k; s += 64) {
    const x = imagesAt(test.A, idx.slice(s, s + 64));
    parts.push(G_A.apply(x));
    x.dispose();
  }
  G_A.dispose();
  const images = tf.concat(parts) as tf.Tensor4D;
  tf.dispose(parts);
  return { images, labels: test.A.labels?.slice(0, k) };
}

if (import.meta.main) await runMain(() => main(Deno.args));
