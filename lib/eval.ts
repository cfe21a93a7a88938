/**
 * Offline evaluation of a trained run: `deno task eval <run-dir> [--n N] [--backend B]`.
 *
 * By default it samples on the backend the run trained on and with as many samples as the
 * committed references (10,000; 2,000 for `--quick` runs), so that `deno task check` can compare
 * with a reference of the same setup number for number ({@link evalDefaults}).
 *
 * It reads the run's `manifest.json`, asks the run's paper script for samples through the paper's
 * exported `sampleForEval(runDir, n)`, and writes `metrics.json` into the run directory:
 *
 * - `fid`: the Fréchet distance between Gaussians fitted to the samples' and the real test set's
 *   features — the FID formula, but in the 128-d feature space of our MNIST-family classifier
 *   (`lib/classifier.ts`), not Inception-v3's, so values are comparable across runs of this suite
 *   only, not with FIDs in papers;
 * - `is`: the Inception Score formula with that classifier's class probabilities (max 10);
 * - `coverage`: how the predicted classes spread over the 10 classes (mode collapse);
 * - `labelAccuracy`: for conditional samples, how often the classifier agrees with the label asked;
 * - `inception` (with `--inception MODEL_DIR`): standard FID with a user-supplied Inception-v3
 *   tfjs model (lib/inception.ts) against the real test split — for any dataset, also those
 *   without a classifier (CIFAR-10, CelebA; `--data-dir` where their files are). Real statistics
 *   are cached in `results/.inception-cache/`.
 *
 * Samples are evaluated as 8-bit images — quantized as when saved to PNG, like the real data —
 * and other sizes (e.g. DCGAN's 64×64) are resized to 28×28 with the data loader's area filter;
 * their reference statistics then come from the real test set put through the same 28 → size → 28
 * round trip (one extra pass over it, so the dataset must be installed).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { tf } from "./tf.ts";
import { exists, UserError, writeFileAtomic } from "./fsutil.ts";
import { type BackendName, selectBackend } from "./backend.ts";
import { runMain } from "./cli.ts";
import { referenceKind } from "./compare.ts";
import { Run } from "./run.ts";
import {
  checkModelDir,
  type FeatureExtractor,
  type InceptionFid,
  inceptionFid,
  loadFeatureExtractor,
} from "./inception.ts";
import { transformImages } from "./data/image.ts";
import { loadDataset } from "./data/mod.ts";
import {
  checkClassifierName,
  type Classifier,
  CLASSIFIER_NAMES,
  type ClassifierName,
  FEATURE_DIM,
  IMAGE_SIZE,
  loadClassifier,
  NUM_CLASSES,
} from "./classifier.ts";
import {
  classCoverage,
  type Coverage,
  frechetDistance,
  inceptionScore,
  labelAccuracy,
  type MeanCov,
  meanCov,
  type MeanStd,
} from "./metrics.ts";

/** Options of {@link evaluateSamples}. */
export interface EvaluateOptions {
  /** Which classifier and real statistics to compare against. */
  dataset: ClassifierName;
  /** The class each sample was generated for (conditional models). */
  labels?: Int32Array;
  /** A loaded classifier to reuse (default: loaded from `data/classifiers/<dataset>`). */
  classifier?: Classifier;
  /** Images per forward pass (default 500). */
  batchSize?: number;
  /** Inception Score splits (default 10, as Salimans et al.). */
  splits?: number;
}

/** What `metrics.json` holds. */
export interface Metrics {
  /** Number of samples evaluated. */
  n: number;
  /** Dataset whose classifier and real statistics were used. */
  dataset: ClassifierName;
  /** Fréchet distance to the real test set in classifier feature space (lower is better). */
  fid: number;
  /** Inception Score with the classifier's probabilities (higher is better, at most 10). */
  is: MeanStd;
  /** Spread of the predicted classes. */
  coverage: Coverage;
  /** Fraction of conditional samples classified as their requested label. */
  labelAccuracy?: number;
  /** The feature space and reference statistics used. */
  classifier: { arch: string; testAccuracy: number; featureDim: number; realStats: string };
}

/**
 * Samples in [-1, 1], NHWC (a Float32Array is taken as [N, 28, 28, 1]), as 28×28 gray bytes: the
 * same 8-bit grid as the real data, resized with the data loader's filter when needed.
 */
async function toGrayBytes(
  images: Float32Array | tf.Tensor4D,
): Promise<{ bytes: Uint8Array; n: number; size: number }> {
  let data: Float32Array, n: number, h: number, w: number, c: number;
  if (images instanceof Float32Array) {
    const per = IMAGE_SIZE * IMAGE_SIZE;
    if (images.length === 0 || images.length % per !== 0) {
      throw new UserError(
        `samples as a Float32Array must hold N×28×28×1 values, got ${images.length}`,
      );
    }
    [data, n, h, w, c] = [images, images.length / per, IMAGE_SIZE, IMAGE_SIZE, 1];
  } else {
    [n, h, w, c] = images.shape;
    if (images.rank !== 4 || h !== w || ![1, 3].includes(c)) {
      throw new UserError(`samples must be square [N, H, H, 1 or 3] images, got [${images.shape}]`);
    }
    data = await images.data() as Float32Array;
  }
  const q = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round((data[i] + 1) * 127.5);
    q[i] = v < 0 ? 0 : v > 255 ? 255 : v; // NaN becomes 0
  }
  return { bytes: transformImages(q, n, h, w, c, 1, IMAGE_SIZE).pixels, n, size: h };
}

/** The classifier's features, class probabilities and predictions for n 28×28 gray images. */
async function classify(clf: Classifier, bytes: Uint8Array, n: number, batchSize: number) {
  const per = IMAGE_SIZE * IMAGE_SIZE;
  const features = new Float32Array(n * FEATURE_DIM);
  const probs = new Float32Array(n * NUM_CLASSES);
  const preds = new Int32Array(n);
  for (let lo = 0; lo < n; lo += batchSize) {
    const b = Math.min(batchSize, n - lo);
    const x = new Float32Array(b * per);
    for (let i = 0; i < x.length; i++) x[i] = bytes[lo * per + i] / 127.5 - 1;
    const [f, p, y] = tf.tidy(() => {
      const f = clf.net.features(tf.tensor4d(x, [b, IMAGE_SIZE, IMAGE_SIZE, 1]));
      const logits = clf.net.fc3.apply(f);
      return [f, tf.softmax(logits), tf.argMax(logits, 1)];
    });
    features.set(await f.data(), lo * FEATURE_DIM);
    probs.set(await p.data(), lo * NUM_CLASSES);
    preds.set(await y.data(), lo);
    tf.dispose([f, p, y]);
  }
  return { features, probs, preds };
}

/**
 * Reference statistics for samples of another size: the real test set as such a run trained on
 * it (the loader resizes 28 → size) and then brought back to 28×28 exactly like the samples. The
 * round trip blurs a little, and the stored 28×28 statistics would count that blur against the
 * generator (on MNIST it doubled the distance of 64×64 real images).
 */
async function resizedRealStats(
  clf: Classifier,
  size: number,
  batchSize: number,
): Promise<MeanCov> {
  const ds = await loadDataset(clf.name, { split: "test", size });
  const bytes = transformImages(ds.pixels, ds.n, size, size, 1, 1, IMAGE_SIZE).pixels;
  return meanCov((await classify(clf, bytes, ds.n, batchSize)).features, ds.n, FEATURE_DIM);
}

/**
 * Computes all metrics of a set of samples (values in [-1, 1]) against the real test set of
 * `opts.dataset`. Needs at least `splits` (10) samples; 10,000 is the usual count.
 */
export async function evaluateSamples(
  images: Float32Array | tf.Tensor4D,
  opts: EvaluateOptions,
): Promise<Metrics> {
  const dataset = checkClassifierName(opts.dataset);
  const { bytes, n, size } = await toGrayBytes(images);
  const splits = opts.splits ?? 10;
  if (n < splits) throw new UserError(`need at least ${splits} samples to evaluate, got ${n}`);
  if (opts.labels && opts.labels.length !== n) {
    throw new UserError(`got ${opts.labels.length} labels for ${n} samples`);
  }
  const clf = opts.classifier ?? await loadClassifier(dataset);
  if (clf.name !== dataset) {
    throw new UserError(`the ${clf.name} classifier cannot evaluate ${dataset} samples`);
  }
  try {
    const bs = opts.batchSize ?? 500;
    const { features, probs, preds } = await classify(clf, bytes, n, bs);
    const fake = meanCov(features, n, FEATURE_DIM);
    const real = size === IMAGE_SIZE ? clf.realStats : await resizedRealStats(clf, size, bs);
    const { split, n: realN } = clf.info.realStats;
    const metrics: Metrics = {
      n,
      dataset,
      fid: frechetDistance(fake.mean, fake.cov, real.mean, real.cov),
      is: inceptionScore(probs, n, NUM_CLASSES, splits),
      coverage: classCoverage(preds, NUM_CLASSES),
      classifier: {
        arch: clf.info.arch,
        testAccuracy: clf.info.testAccuracy,
        featureDim: FEATURE_DIM,
        realStats: size === IMAGE_SIZE
          ? `${dataset} ${split} set, n=${realN}`
          : `${dataset} test set resized 28→${size}→28 like the samples, n=${realN}`,
      },
    };
    if (opts.labels) metrics.labelAccuracy = labelAccuracy(preds, opts.labels);
    return metrics;
  } finally {
    if (!opts.classifier) clf.dispose();
  }
}

/** Writes `<runDir>/metrics.json` atomically. */
export async function writeMetrics(runDir: string, metrics: object): Promise<string> {
  const path = join(runDir, "metrics.json");
  try {
    await writeFileAtomic(path, JSON.stringify(metrics, null, 2) + "\n");
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      throw new UserError(
        `not allowed to write ${path}: \`deno task eval\` writes under results/ only; for a run ` +
          `elsewhere use deno run --allow-read --allow-write=<run-dir> --allow-env lib/eval.ts`,
      );
    }
    throw e;
  }
  return path;
}

/** What a paper script exports so its runs can be evaluated. */
export type SampleForEval = (
  runDir: string,
  n: number,
) => Promise<{ images: Float32Array | tf.Tensor4D; labels?: Int32Array }>;

/** The folder of the paper scripts. */
export const PAPERS_DIR: string = fileURLToPath(new URL("../papers/", import.meta.url));

/** Imports `<papersDir>/<paper>.ts` and returns its `sampleForEval`, or a clear UserError. */
export async function findSampler(
  paper: string,
  papersDir: string = PAPERS_DIR,
): Promise<SampleForEval> {
  if (!/^[a-z0-9_-]+$/.test(paper)) throw new UserError(`bad paper name "${paper}" in manifest`);
  const path = join(papersDir, `${paper}.ts`);
  if (!(await exists(path))) throw new UserError(`no paper script ${path} for paper "${paper}"`);
  const mod = await import(pathToFileURL(path).href);
  if (typeof mod.sampleForEval !== "function") {
    throw new UserError(
      `papers/${paper}.ts does not export sampleForEval(runDir, n), so ${paper} runs cannot be ` +
        "evaluated yet",
    );
  }
  return mod.sampleForEval as SampleForEval;
}

/** Options of {@link evaluateRun}. */
export interface EvaluateRunOptions {
  /** Number of samples (default 10,000, the size of the real test set). */
  n?: number;
  /** Where the paper scripts are (tests point this at fakes). */
  papersDir?: string;
  /** A loaded classifier to reuse. */
  classifier?: Classifier;
  /** Also compute standard FID with this Inception-v3 extractor (lib/inception.ts). */
  inception?: FeatureExtractor;
  /** Where the real images are (default: the dataset's usual place), for Inception FID. */
  dataDir?: string;
}

/** What {@link evaluateRun} writes: classifier metrics where the dataset has a classifier. */
export type RunMetrics = Partial<Omit<Metrics, "dataset" | "n">> & {
  paper: string;
  runDir: string;
  date: string;
  n: number;
  dataset: string;
  inception?: InceptionFid;
};

/**
 * How a run is evaluated unless told otherwise: on the backend and thread count it trained with,
 * so that a same-setup `deno task check` against a reference can demand equal numbers, and with
 * as many samples as the references use (2,000 for a `--quick` run, 10,000 otherwise).
 */
export function evalDefaults(
  m: { runId: string; backend: { name: string; threads?: number } },
): { backend: BackendName; threads: number; n: number } {
  return {
    backend: m.backend.name as BackendName,
    threads: m.backend.threads ?? 1,
    // 2,000 samples pin a smoke config's numbers and keep its check quick in CI.
    n: referenceKind(m) === "quick" ? 2000 : 10000,
  };
}

/** Samples a run through its paper's `sampleForEval`, evaluates, and writes `metrics.json`. */
export async function evaluateRun(
  runDir: string,
  opts: EvaluateRunOptions = {},
): Promise<RunMetrics> {
  const manifestPath = join(runDir, "manifest.json");
  let manifest: { paper?: string; dataset?: { name?: string } | null; config?: unknown };
  try {
    manifest = JSON.parse(await Deno.readTextFile(manifestPath));
  } catch (e) {
    throw new UserError(
      e instanceof Deno.errors.NotFound
        ? `no run at ${runDir}: ${manifestPath} is missing`
        : `cannot read ${manifestPath}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const paper = manifest.paper;
  if (typeof paper !== "string") throw new UserError(`${manifestPath} names no paper`);
  const config = manifest.config as { dataset?: unknown } | null | undefined;
  const dataset = manifest.dataset?.name ?? config?.dataset;
  if (typeof dataset !== "string") throw new UserError(`${manifestPath} names no dataset`);
  // Classifier metrics exist for the MNIST family; other datasets can still get Inception FID.
  const hasClassifier = (CLASSIFIER_NAMES as readonly string[]).includes(dataset);
  if (!opts.inception) checkClassifierName(dataset);
  const n = opts.n ?? 10000;
  const sample = await findSampler(paper, opts.papersDir);
  const { images, labels } = await sample(runDir, n);
  try {
    const metrics = hasClassifier
      ? await evaluateSamples(images, {
        dataset: dataset as ClassifierName,
        labels,
        classifier: opts.classifier,
      })
      : {};
    const inception = opts.inception
      ? await inceptionFid(opts.inception, images, {
        dataset,
        dataDir: opts.dataDir,
        cacheDir: join(dirname(dirname(runDir)), ".inception-cache"),
      })
      : undefined;
    const out: RunMetrics = {
      paper,
      runDir,
      date: new Date().toISOString(),
      n: images instanceof Float32Array
        ? images.length / (IMAGE_SIZE * IMAGE_SIZE)
        : images.shape[0],
      dataset,
      ...metrics,
      ...(inception ? { inception } : {}),
    };
    await writeMetrics(runDir, out);
    return out;
  } finally {
    if (!(images instanceof Float32Array)) images.dispose();
  }
}

const USAGE =
  "usage: deno task eval <run-dir> [--n N] [--backend auto|blas|wasm|cpu|webgpu|tensorflow] " +
  "[--inception MODEL_DIR [--data-dir DIR]] | deno task eval --samples FILE.f32 [--labels FILE.i32] " +
  "[--dataset mnist|fashion-mnist]";

/** Reads a binary file of 4-byte numbers, or a clear UserError. */
async function readBinary(path: string, what: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new UserError(`cannot read ${what} ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (bytes.byteLength % 4 !== 0) throw new UserError(`${path}: size is not a multiple of 4 bytes`);
  return bytes;
}

/** Starts the backend `name` and says which (selectBackend rejects unknown names in one line). */
async function useBackend(name: string, threads = 1): Promise<void> {
  const choice = await selectBackend(name as BackendName, threads);
  console.error(`[eval] backend ${choice.name}: ${choice.reason}`);
}

/** The run's own backend ({@link evalDefaults}), or `auto` with a note when it is not here. */
async function useRunBackend(backend: BackendName, threads: number): Promise<void> {
  try {
    await useBackend(backend, threads);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`[eval] the run's backend is not available here (${e.message}); using auto`);
    await useBackend("auto");
  }
}

/**
 * Scores samples made elsewhere (the PyTorch side-by-side scripts in papers/pytorch/): a raw
 * little-endian float32 file of N×28×28 values in [-1, 1], optionally int32 labels (one per
 * sample) for the label accuracy. Writes `<samples>.metrics.json` and prints the summary.
 */
export async function evaluateSampleFile(
  samplesPath: string,
  opts: { dataset: string; labels?: string; backend: string },
): Promise<Metrics> {
  const dataset = checkClassifierName(opts.dataset);
  const bytes = await readBinary(samplesPath, "samples");
  const images = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  let labels: Int32Array | undefined;
  if (opts.labels !== undefined) {
    const lb = await readBinary(opts.labels, "labels");
    labels = new Int32Array(lb.buffer, lb.byteOffset, lb.byteLength / 4);
  }
  await useBackend(opts.backend);
  const m = await evaluateSamples(images, { dataset, labels });
  const out = samplesPath.replace(/\.f32$/, "") + ".metrics.json";
  await writeFileAtomic(
    out,
    JSON.stringify({ samples: samplesPath, date: new Date().toISOString(), ...m }, null, 2) + "\n",
  );
  console.log(
    `${samplesPath}: fid ${m.fid.toFixed(3)}  is ${m.is.mean.toFixed(3)} ± ${
      m.is.std.toFixed(3)
    }  ` +
      `classes ${m.coverage.classesCovered}/10` +
      (m.labelAccuracy === undefined ? "" : `  label acc ${(100 * m.labelAccuracy).toFixed(2)}%`) +
      `  → ${out}`,
  );
  return m;
}

/** CLI entry: parses flags, picks a backend, evaluates, prints a one-line summary. */
export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        n: { type: "string" },
        backend: { type: "string" },
        inception: { type: "string" },
        "data-dir": { type: "string" },
        samples: { type: "string" },
        labels: { type: "string" },
        dataset: { type: "string" },
        help: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UserError(`${(e as Error).message.split("\n")[0]} (${USAGE})`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.samples !== undefined) {
    if (positionals.length) throw new UserError(`give a run dir or --samples, not both (${USAGE})`);
    await evaluateSampleFile(values.samples, {
      dataset: values.dataset ?? "mnist",
      labels: values.labels,
      backend: values.backend ?? "auto",
    });
    return;
  }
  if (positionals.length !== 1) throw new UserError(USAGE);
  const runDir = positionals[0];
  if (values.inception !== undefined) await checkModelDir(values.inception);
  if (!(await exists(join(runDir, "manifest.json")))) {
    throw new UserError(`no run at ${runDir}: ${join(runDir, "manifest.json")} is missing`);
  }
  const defaults = evalDefaults(await Run.readManifest(runDir));
  const n = values.n === undefined ? defaults.n : Number(values.n);
  if (!Number.isInteger(n) || n < 10) {
    throw new UserError(`--n expects an integer ≥ 10, got "${values.n}"`);
  }
  if (values.backend !== undefined) await useBackend(values.backend);
  else await useRunBackend(defaults.backend, defaults.threads);
  const inception = values.inception === undefined
    ? undefined
    : await loadFeatureExtractor(values.inception);
  const m = await evaluateRun(runDir, { n, inception, dataDir: values["data-dir"] });
  inception?.dispose();
  const parts = [`${m.paper} ${m.runDir}:`];
  if (m.fid !== undefined && m.is && m.coverage) {
    parts.push(
      `fid ${m.fid.toFixed(3)}  is ${m.is.mean.toFixed(3)} ± ${m.is.std.toFixed(3)}  classes ` +
        `${m.coverage.classesCovered}/10 (H/log10 ${m.coverage.normalizedEntropy.toFixed(3)})`,
    );
  }
  if (m.labelAccuracy !== undefined) parts.push(`label acc ${(100 * m.labelAccuracy).toFixed(2)}%`);
  if (m.inception) parts.push(`Inception FID ${m.inception.fid.toFixed(3)} (n ${m.inception.n})`);
  parts.push(`→ ${join(m.runDir, "metrics.json")}`);
  console.log(parts.join("  "));
}

if (import.meta.main) await runMain(() => main(Deno.args));
