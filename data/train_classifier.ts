/**
 * Trains the evaluation classifier of `lib/classifier.ts` for one dataset and writes it to
 * `data/classifiers/<name>/`: the weights (checkpoint format of `lib/checkpoint.ts`) with the
 * real test set's feature mean and covariance (`real_stats/*`), plus a readable `info.json`.
 *
 *   deno run --allow-read --allow-write=data --allow-env data/train_classifier.ts mnist
 *   deno run --allow-read --allow-write=data --allow-env data/train_classifier.ts fashion-mnist
 *
 * Deterministic: a fixed seed drives initialization, dropout masks and data order, the epoch count
 * is fixed, and the backend is recorded (wasm by default; `--backend cpu` also works, slower).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { tf, TFJS_VERSION } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { stateDict } from "../lib/nn.ts";
import { Adam, minimize } from "../lib/optim.ts";
import { saveCheckpoint } from "../lib/checkpoint.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";
import { runMain } from "../lib/cli.ts";
import { selectBackend } from "../lib/backend.ts";
import {
  batchIndices,
  epochOrder,
  type ImageDataset,
  labelsOf,
  loadDataset,
  numBatches,
  toTensor,
} from "../lib/data/mod.ts";
import {
  ARCH,
  checkClassifierName,
  classifierDir,
  type ClassifierInfo,
  type ClassifierName,
  ClassifierNet,
  DROPOUT,
  FEATURE_DIM,
  NUM_CLASSES,
} from "../lib/classifier.ts";
import { meanCov } from "../lib/metrics.ts";

/** Options of {@link trainClassifier}; the defaults are what the committed weights used. */
export interface TrainClassifierOptions {
  /** Dataset to train on. */
  name: ClassifierName;
  /** Output folder; default `data/classifiers/<name>`. */
  outDir?: string;
  /** Epochs (default {@link DEFAULTS}; the last `decayEpochs` run at lr × 0.1). */
  epochs?: number;
  /** Minibatch size. */
  batchSize?: number;
  /** Adam learning rate. */
  lr?: number;
  /** Seed of initialization, dropout masks and data order. */
  seed?: number;
  /** Use only the first `limit` training images (tests). */
  limit?: number;
  /** Use only the first `testLimit` test images (tests). */
  testLimit?: number;
  /** Directory of the dataset's IDX files (default: the loader's). */
  dataDir?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
}

/** Default hyperparameters: Adam(1e-3) for 15 epochs, then ×0.1 for the last 5, batch 128. */
export const DEFAULTS = { epochs: 20, batchSize: 128, lr: 1e-3, seed: 0, decayEpochs: 5 };

/** Runs the network in eval mode over `ds` in batches: features, and accuracy when labelled. */
export function featuresOf(
  net: ClassifierNet,
  ds: ImageDataset,
  batchSize = 500,
): { features: Float32Array; accuracy: number } {
  const features = new Float32Array(ds.n * FEATURE_DIM);
  let correct = 0;
  for (let lo = 0; lo < ds.n; lo += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, ds.n - lo) }, (_, i) => lo + i);
    const [f, pred] = tf.tidy(() => {
      const h = net.features(toTensor(ds, idx));
      return [h, tf.argMax(net.fc3.apply(h), 1)];
    });
    features.set(f.dataSync(), lo * FEATURE_DIM);
    const p = pred.dataSync(), y = labelsOf(ds, idx);
    for (let i = 0; i < idx.length; i++) if (p[i] === y[i]) correct++;
    tf.dispose([f, pred]);
  }
  return { features, accuracy: correct / ds.n };
}

/** Trains, evaluates and saves the classifier; returns what goes into `info.json`. */
export async function trainClassifier(o: TrainClassifierOptions): Promise<ClassifierInfo> {
  const name = checkClassifierName(o.name);
  const log = o.log ?? ((l: string) => console.error(l));
  const epochs = o.epochs ?? DEFAULTS.epochs;
  const batchSize = o.batchSize ?? DEFAULTS.batchSize;
  const lr = o.lr ?? DEFAULTS.lr;
  const seed = o.seed ?? DEFAULTS.seed;
  const outDir = o.outDir ?? classifierDir(name);
  const train = await loadDataset(name, { split: "train", limit: o.limit, dataDir: o.dataDir });
  const test = await loadDataset(name, { split: "test", limit: o.testLimit, dataDir: o.dataDir });
  if (train.height !== 28 || train.width !== 28 || train.channels !== 1) {
    throw new UserError(`${name} images must be 28×28×1, got ${train.height}×${train.width}`);
  }

  const net = new ClassifierNet(new Rng(seed, "classifier-init"));
  const dropRng = new Rng(seed, "classifier-dropout");
  const opt = new Adam(lr);
  const vars = net.trainableVariables();
  const steps = numBatches(train.n, batchSize);
  const t0 = performance.now();
  for (let epoch = 0; epoch < epochs; epoch++) {
    // A step decay for the last epochs settles the weights (and the feature space) without noise.
    opt.lr = epoch >= epochs - Math.min(DEFAULTS.decayEpochs, epochs - 1) ? lr * 0.1 : lr;
    const order = epochOrder(train.n, seed, epoch);
    let lossSum = 0;
    for (let step = 0; step < steps; step++) {
      const idx = batchIndices(order, batchSize, step);
      const x = toTensor(train, idx);
      const y = tf.oneHot(tf.tensor1d(labelsOf(train, idx), "int32"), NUM_CLASSES);
      lossSum += minimize(opt, vars, () =>
        tf.losses.softmaxCrossEntropy(
          y,
          net.logits(x, { training: true, rng: dropRng }),
        ) as tf.Scalar);
      tf.dispose([x, y]);
    }
    const { accuracy } = featuresOf(net, test);
    log(
      `[${name}] epoch ${epoch + 1}/${epochs}  loss ${(lossSum / steps).toFixed(4)}  ` +
        `test acc ${(100 * accuracy).toFixed(2)}%  ${
          ((performance.now() - t0) / 1000).toFixed(0)
        }s`,
    );
  }
  const trainSeconds = (performance.now() - t0) / 1000;

  const { features, accuracy } = featuresOf(net, test);
  const stats = meanCov(features, test.n, FEATURE_DIM);
  const info: ClassifierInfo = {
    dataset: name,
    arch: ARCH,
    testAccuracy: accuracy,
    epochs,
    batchSize,
    lr,
    lrSchedule: `×0.1 for the last ${Math.min(DEFAULTS.decayEpochs, epochs - 1)} epochs`,
    dropout: DROPOUT,
    optimizer: "Adam(beta1 0.9, beta2 0.999, eps 1e-8), PyTorch semantics",
    seed,
    backend: tf.getBackend(),
    tfjs: TFJS_VERSION,
    deno: Deno.version.deno,
    date: new Date().toISOString(),
    trainImages: train.n,
    testImages: test.n,
    datasetChecksum: { train: train.checksum, test: test.checksum },
    realStats: { split: "test", n: test.n },
    trainSeconds: Math.round(trainSeconds * 10) / 10,
  };
  const tensors = stateDict(net);
  tensors.set("real_stats/mean", tf.tensor1d(Float32Array.from(stats.mean)));
  tensors.set(
    "real_stats/cov",
    tf.tensor2d(Float32Array.from(stats.cov), [FEATURE_DIM, FEATURE_DIM]),
  );
  await saveCheckpoint(outDir, tensors, { format: "ganrepro-classifier", info });
  await writeFileAtomic(join(outDir, "info.json"), JSON.stringify(info, null, 2) + "\n");
  for (const t of tensors.values()) t.dispose();
  opt.dispose();
  net.dispose();
  log(`[${name}] test accuracy ${(100 * accuracy).toFixed(2)}%; wrote ${outDir}`);
  return info;
}

/** CLI: `train_classifier.ts mnist|fashion-mnist [--backend wasm|cpu] [--data-dir DIR]`. */
export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { backend: { type: "string" }, "data-dir": { type: "string" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UserError((e as Error).message.split("\n")[0]);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UserError("usage: train_classifier.ts mnist|fashion-mnist [--backend wasm|cpu]");
  }
  const backend = values.backend ?? "wasm";
  if (backend !== "wasm" && backend !== "cpu") {
    throw new UserError(
      `--backend must be wasm or cpu (recorded for reproducibility), got ${backend}`,
    );
  }
  const choice = await selectBackend(backend);
  console.error(`backend ${choice.name}${choice.kernels.length ? " with our wasm kernels" : ""}`);
  await trainClassifier({ name: checkClassifierName(positionals[0]), dataDir: values["data-dir"] });
}

if (import.meta.main) await runMain(() => main(Deno.args));
