/**
 * The MNIST-family classifier behind our offline metrics: its 128-d penultimate layer is the
 * feature space of the Fréchet distance (the role Inception-v3's pool3 plays for FID), and its
 * class probabilities feed the Inception Score, class coverage and label accuracy.
 *
 * Architecture: an MLP 784 → 512 → 128 → 10 with ReLU, and dropout 0.2 after each hidden layer
 * in training. Why not a small conv net: with today's wasm kernels a step of the LeNet-like
 * conv 5×5·32 → pool → conv 5×5·64 → pool → fc 128 → fc 10 took ≈ 800 ms (batch 64, 2 shared
 * cores), ≈ 100× the MLP's ≈ 7.5 ms, so the conv net would need hours where the MLP needs a few
 * minutes — and the MLP already reaches the accuracy we need for a meaningful feature space
 * (see `data/classifiers/<name>/info.json`).
 *
 * Weights live in `data/classifiers/<name>/` in the checkpoint format of `lib/checkpoint.ts`,
 * written by `data/train_classifier.ts`, together with the feature mean and covariance of the
 * real test set (`real_stats/mean`, `real_stats/cov`), so evaluation needs no pass over real data.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { tf } from "./tf.ts";
import { Rng } from "./random.ts";
import { dropout, type ForwardOptions, Linear, loadStateDict, Module } from "./nn.ts";
import { hasCheckpoint, loadCheckpoint } from "./checkpoint.ts";
import { UserError } from "./fsutil.ts";

/** Datasets that have a classifier. */
export const CLASSIFIER_NAMES = ["mnist", "fashion-mnist"] as const;
/** One of {@link CLASSIFIER_NAMES}. */
export type ClassifierName = typeof CLASSIFIER_NAMES[number];

/** Input images are 28×28×1, in [-1, 1]. */
export const IMAGE_SIZE = 28;
/** Width of the feature layer. */
export const FEATURE_DIM = 128;
/** Number of classes. */
export const NUM_CLASSES = 10;
/** Architecture id, stored with the weights and checked on load. */
export const ARCH = "mlp-784-512-128-10";
/** Dropout probability after each hidden layer during training. */
export const DROPOUT = 0.2;

/** The network: fc1 (784→512), fc2 (512→128, the features), fc3 (128→10). */
export class ClassifierNet extends Module {
  /** 784 → 512. */
  readonly fc1: Linear;
  /** 512 → 128: its ReLU output is the feature vector. */
  readonly fc2: Linear;
  /** 128 → 10 class logits. */
  readonly fc3: Linear;

  /** PyTorch-default initialization drawn from `rng`. */
  constructor(rng: Rng) {
    super();
    this.fc1 = this.child("fc1", new Linear(rng, IMAGE_SIZE * IMAGE_SIZE, 512));
    this.fc2 = this.child("fc2", new Linear(rng, 512, FEATURE_DIM));
    this.fc3 = this.child("fc3", new Linear(rng, FEATURE_DIM, NUM_CLASSES));
  }

  /** Penultimate activations relu(fc2(·)) of [B, 28, 28, 1] images: [B, 128]. */
  features(x: tf.Tensor, opts: ForwardOptions = { training: false }): tf.Tensor2D {
    return tf.tidy(() => {
      const flat = tf.reshape(x, [x.shape[0], IMAGE_SIZE * IMAGE_SIZE]);
      const h = dropout(tf.relu(this.fc1.apply(flat)), DROPOUT, opts);
      return tf.relu(this.fc2.apply(h)) as tf.Tensor2D;
    });
  }

  /** Class logits [B, 10]; dropout also sits between the features and fc3 in training. */
  logits(x: tf.Tensor, opts: ForwardOptions = { training: false }): tf.Tensor2D {
    return tf.tidy(() => this.fc3.apply(dropout(this.features(x, opts), DROPOUT, opts)));
  }
}

/** Feature statistics of a real data split: the reference Gaussian of the Fréchet distance. */
export interface RealStats {
  /** Mean feature vector, length {@link FEATURE_DIM}. */
  mean: Float64Array;
  /** Unbiased covariance, row-major FEATURE_DIM × FEATURE_DIM. */
  cov: Float64Array;
}

/** Training facts saved with the weights (also written to `info.json`). */
export interface ClassifierInfo {
  /** The dataset trained on. */
  dataset: ClassifierName;
  /** {@link ARCH} at training time. */
  arch: string;
  /** Accuracy on the dataset's test split (0..1). */
  testAccuracy: number;
  /** Training epochs over the train split. */
  epochs: number;
  /** Minibatch size. */
  batchSize: number;
  /** Adam learning rate before the final decay. */
  lr: number;
  /** Seed of initialization, dropout and data order. */
  seed: number;
  /** tfjs backend used for training. */
  backend: string;
  /** tfjs version. */
  tfjs: string;
  /** ISO time of training. */
  date: string;
  /** sha256 of the train and test IDX files as read by the data loader. */
  datasetChecksum: { train: string; test: string };
  /** What `real_stats` was computed on, e.g. { split: "test", n: 10000 }. */
  realStats: { split: string; n: number };
  /** Further facts (schedule, dropout, timings). */
  [key: string]: unknown;
}

/** A trained classifier, in evaluation mode. */
export class Classifier {
  /** Wraps a network with its metadata and real-data statistics. */
  constructor(
    readonly name: ClassifierName,
    readonly net: ClassifierNet,
    readonly info: ClassifierInfo,
    readonly realStats: RealStats,
  ) {}

  /** Penultimate-layer features of [B, 28, 28, 1] images in [-1, 1]: [B, 128]. */
  features(x: tf.Tensor4D): tf.Tensor2D {
    checkInput(x);
    return this.net.features(x);
  }

  /** Class logits [B, 10]. */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    checkInput(x);
    return this.net.logits(x);
  }

  /** Predicted class per image (read back asynchronously: WebGPU under Deno has no sync read). */
  async predict(x: tf.Tensor4D): Promise<Int32Array> {
    const idx = tf.tidy(() => tf.argMax(this.logits(x), 1));
    const out = new Int32Array(await idx.data());
    idx.dispose();
    return out;
  }

  /** Frees the weights. */
  dispose(): void {
    this.net.dispose();
  }
}

function checkInput(x: tf.Tensor): void {
  const [, h, w, c] = x.shape;
  if (x.rank !== 4 || h !== IMAGE_SIZE || w !== IMAGE_SIZE || c !== 1) {
    throw new UserError(`the classifier expects [B, 28, 28, 1] images, got [${x.shape}]`);
  }
}

/** Where the weights of `name` live: `<repo>/data/classifiers/<name>` (independent of the cwd). */
export function classifierDir(name: ClassifierName): string {
  return fileURLToPath(new URL(`../data/classifiers/${name}`, import.meta.url));
}

/** The command that trains (and writes) the weights of `name`. */
export function trainCommand(name: string): string {
  return `deno run --allow-read --allow-write=data --allow-env data/train_classifier.ts ${name}`;
}

/** Checks a dataset name against {@link CLASSIFIER_NAMES}. */
export function checkClassifierName(name: string): ClassifierName {
  if (!(CLASSIFIER_NAMES as readonly string[]).includes(name)) {
    throw new UserError(
      `no classifier for dataset "${name}": metrics exist for ${CLASSIFIER_NAMES.join(", ")}`,
    );
  }
  return name as ClassifierName;
}

/**
 * Loads the classifier of `name` from `dir` (default {@link classifierDir}). Missing weights are a
 * {@link UserError} naming the command that trains them.
 */
export async function loadClassifier(
  name: ClassifierName,
  dir: string = classifierDir(checkClassifierName(name)),
): Promise<Classifier> {
  checkClassifierName(name);
  if (!(await hasCheckpoint(dir))) {
    throw new UserError(
      `no ${name} classifier weights in ${dir}; train them with: ${trainCommand(name)}`,
    );
  }
  const { tensors, state } = await loadCheckpoint(dir);
  try {
    const info = state.info as ClassifierInfo | undefined;
    if (state.format !== "ganrepro-classifier" || !info || info.arch !== ARCH) {
      throw new UserError(
        `${dir} does not hold ${ARCH} classifier weights; retrain with: ${trainCommand(name)}`,
      );
    }
    if (info.dataset !== name) {
      throw new UserError(`${dir} holds the ${info.dataset} classifier, not ${name}`);
    }
    const mean = tensors.get("real_stats/mean"), cov = tensors.get("real_stats/cov");
    if (!mean || !cov || mean.size !== FEATURE_DIM || cov.size !== FEATURE_DIM * FEATURE_DIM) {
      throw new UserError(`${dir} lacks real_stats; retrain with: ${trainCommand(name)}`);
    }
    const net = new ClassifierNet(new Rng(0, "classifier-placeholder"));
    loadStateDict(net, tensors);
    const realStats = {
      mean: Float64Array.from(await mean.data()),
      cov: Float64Array.from(await cov.data()),
    };
    return new Classifier(name, net, info, realStats);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
