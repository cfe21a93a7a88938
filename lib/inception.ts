/**
 * Standard FID (Heusel et al. 2017) with an Inception-v3 feature extractor that the user supplies
 * as a TensorFlow.js model directory — we cannot download or ship the weights. Either format works:
 *
 * - a layers model (`tensorflowjs_converter --input_format keras` of
 *   `keras.applications.InceptionV3(include_top=False, pooling="avg")`), or
 * - a graph model (`--input_format tf_saved_model` / `tf_hub`, e.g. the TF-Hub
 *   `inception_v3/feature_vector`).
 *
 * Inputs are scaled the way both expect ([-1, 1], as Keras' `preprocess_input`), resized bilinearly
 * to the model's input size (299 when the model leaves it open), gray replicated to RGB; an output
 * of rank 4 is average-pooled to the 2048-d pool3 vector. Numbers from a different Inception port
 * than the papers' TF1 graph differ slightly; the model's sha256 is recorded with every result.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { loadGraphModel, loadLayersModel } from "@tensorflow/tfjs";
import { tf } from "./tf.ts";
import { UserError, writeFileAtomic } from "./fsutil.ts";
import { loadDataset } from "./data/mod.ts";
import { frechetDistance, type MeanCov, meanCov } from "./metrics.ts";

/** Where a user gets the weights, for error messages. */
export const INCEPTION_HELP: string =
  "--inception expects a TensorFlow.js model directory (model.json + weight shards), e.g. from " +
  "`tensorflowjs_converter --input_format keras` of keras.applications.InceptionV3(" +
  'include_top=False, pooling="avg"), or the TF-Hub inception_v3/feature_vector graph model ' +
  "(https://www.tensorflow.org/js/guide/conversion)";

/** Fails fast (before any backend starts) when `dir` has no model.json. */
export async function checkModelDir(dir: string): Promise<void> {
  const path = join(dir, "model.json");
  try {
    await Deno.stat(path);
  } catch {
    throw new UserError(`no ${path}: ${INCEPTION_HELP}`);
  }
}

/** model.json as tensorflowjs_converter writes it (the parts we read). */
interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  [key: string]: unknown;
}

/** Reads a converter output directory: model.json plus every weight shard, in manifest order. */
export class ModelDirHandler implements tf.io.IOHandler {
  /** sha256 of model.json and the shards, filled by {@link load}. */
  sha256 = "";

  /** A handler for the converter output directory `dir`. */
  constructor(readonly dir: string) {}

  /**
   * Reads model.json and its shards, checking their total size, and sets
   * {@link ModelDirHandler.sha256}.
   */
  async load(): Promise<tf.io.ModelArtifacts> {
    const path = join(this.dir, "model.json");
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new UserError(`no ${path}: ${INCEPTION_HELP}`);
      throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
    }
    let json: ModelJson;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UserError(`${path} is not JSON: ${INCEPTION_HELP}`);
    }
    if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
      throw new UserError(`${path} has no modelTopology/weightsManifest: ${INCEPTION_HELP}`);
    }
    const hash = createHash("sha256").update(text);
    const parts: Uint8Array[] = [];
    const specs: tf.io.WeightsManifestEntry[] = [];
    for (const group of json.weightsManifest) {
      for (const p of group.paths) {
        try {
          const bytes = await Deno.readFile(join(this.dir, p));
          hash.update(bytes);
          parts.push(bytes);
        } catch {
          throw new UserError(`${path} lists weight shard ${p}, which cannot be read`);
        }
      }
      specs.push(...group.weights);
    }
    const total = parts.reduce((a, p) => a + p.byteLength, 0);
    const data = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.byteLength;
    }
    const expected = specs.reduce((a, s) => a + weightBytes(s), 0);
    if (expected !== total) {
      throw new UserError(
        `${this.dir}: the weight shards hold ${total} bytes, model.json describes ${expected}`,
      );
    }
    this.sha256 = hash.digest("hex");
    const { weightsManifest: _, modelTopology, format, ...rest } = json;
    return {
      ...(rest as Partial<tf.io.ModelArtifacts>),
      format,
      modelTopology: modelTopology as tf.io.ModelArtifacts["modelTopology"],
      weightSpecs: specs,
      weightData: data.buffer,
    };
  }
}

function weightBytes(s: tf.io.WeightsManifestEntry): number {
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (s.quantization) {
    const q = s.quantization.dtype;
    return n * (q === "uint8" ? 1 : q === "float16" || q === "uint16" ? 2 : 4);
  }
  return n * (s.dtype === "bool" ? 1 : 4);
}

/** A loaded feature extractor: images in [-1, 1] → feature vectors. */
export interface FeatureExtractor {
  /** The model directory. */
  dir: string;
  /** "layers-model" or "graph-model". */
  format: string;
  /** sha256 of model.json and its shards (which weights produced a number). */
  sha256: string;
  /** Square input size the images are resized to. */
  inputSize: number;
  /** Features of a batch [B, H, W, 1|3] in [-1, 1]: [B, dim], read back asynchronously. */
  features(x: tf.Tensor4D): Promise<{ values: Float32Array; dim: number }>;
  /** Frees the model. */
  dispose(): void;
}

/** Loads a tfjs model directory (layers or graph format) as a {@link FeatureExtractor}. */
export async function loadFeatureExtractor(dir: string): Promise<FeatureExtractor> {
  const handler = new ModelDirHandler(dir);
  const artifacts = await handler.load();
  const once: tf.io.IOHandler = { load: () => Promise.resolve(artifacts) };
  const topology = artifacts.modelTopology as Record<string, unknown>;
  const isGraph = artifacts.format === "graph-model" || Array.isArray(topology?.node);
  let run: (x: tf.Tensor4D) => tf.Tensor;
  let inputShape: (number | null)[] | undefined;
  let dispose: () => void;
  try {
    if (isGraph) {
      const model = await loadGraphModel(once);
      inputShape = model.inputs[0]?.shape;
      run = (x) => model.predict(x) as tf.Tensor;
      dispose = () => model.dispose();
    } else {
      const model = await loadLayersModel(once);
      inputShape = model.inputs[0]?.shape;
      run = (x) => model.predict(x) as tf.Tensor;
      dispose = () => model.dispose();
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(
      `cannot load ${dir} as a tfjs model: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const h = inputShape?.[1], w = inputShape?.[2];
  const inputSize = typeof h === "number" && h > 0 ? h : 299;
  if (typeof w === "number" && w > 0 && w !== inputSize) {
    throw new UserError(`${dir}: expected a square input, the model takes ${h}×${w}`);
  }
  return {
    dir,
    format: isGraph ? "graph-model" : "layers-model",
    sha256: handler.sha256,
    inputSize,
    async features(x) {
      const out = tf.tidy(() => {
        let y = run(preprocess(x, inputSize));
        if (y.rank === 4) y = tf.mean(y, [1, 2]); // spatial features → pool3-style vector
        if (y.rank !== 2) {
          throw new UserError(`${dir}: model output has rank ${y.rank}, not 2 or 4`);
        }
        return y;
      });
      const values = await out.data() as Float32Array;
      const dim = out.shape[1]!;
      out.dispose();
      return { values, dim };
    },
    dispose: () => dispose(),
  };
}

/** Images in [-1, 1] → the extractor's input: size×size RGB in [-1, 1] (bilinear, as TF's resize). */
export function preprocess(x: tf.Tensor4D, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    if (y.shape[1] !== size || y.shape[2] !== size) {
      y = tf.image.resizeBilinear(y, [size, size], false, true);
    }
    if (y.shape[3] === 1) y = tf.tile(y, [1, 1, 1, 3]);
    if (y.shape[3] !== 3) throw new UserError(`Inception FID needs 1- or 3-channel images`);
    return y;
  });
}

/**
 * Features of `n` images given as a batch source (`batch(lo, hi)` returns images lo..hi−1 in
 * [-1, 1]), `batchSize` at a time, with progress on stderr for long runs.
 */
export async function extractFeatures(
  extractor: FeatureExtractor,
  n: number,
  batch: (lo: number, hi: number) => tf.Tensor4D,
  batchSize = 50,
  label = "inception",
): Promise<{ values: Float32Array; dim: number }> {
  let values = new Float32Array(0), dim = 0;
  const t0 = performance.now();
  let shown = t0;
  for (let lo = 0; lo < n; lo += batchSize) {
    const hi = Math.min(n, lo + batchSize);
    const x = batch(lo, hi);
    const f = await extractor.features(x);
    x.dispose();
    if (lo === 0) {
      dim = f.dim;
      values = new Float32Array(n * dim);
    }
    values.set(f.values, lo * dim);
    const now = performance.now();
    if (hi === n || now - shown > 10_000) {
      shown = now;
      const rate = hi / ((now - t0) / 1000);
      const eta = hi === n ? "" : `, ETA ${Math.round((n - hi) / rate)} s`;
      console.error(`[${label}] ${hi}/${n} images, ${rate.toFixed(1)} img/s${eta}`);
    }
  }
  return { values, dim };
}

/** The `inception` entry of metrics.json. */
export interface InceptionFid {
  /** Fréchet Inception Distance between the samples and the real images (lower is better). */
  fid: number;
  /** Samples and real images used. */
  n: number;
  /**
   * Real images used: the test split, or its first `opts.realN` when {@link inceptionFid} was given
   * one.
   */
  realN: number;
  /** Real images: dataset, split, its checksum. */
  real: string;
  /** The extractor: directory, format, sha256, input size, feature dimension. */
  model: { dir: string; format: string; sha256: string; inputSize: number; dim: number };
}

/** Samples to score: a [N, H, W, C] tensor or N 28×28 gray images as floats, in [-1, 1]. */
export type Samples = tf.Tensor4D | Float32Array;

function sampleBatcher(
  images: Samples,
): { n: number; batch: (lo: number, hi: number) => tf.Tensor4D; size: number; channels: number } {
  if (images instanceof Float32Array) {
    const per = 28 * 28;
    return {
      n: images.length / per,
      size: 28,
      channels: 1,
      batch: (lo, hi) => tf.tensor4d(images.subarray(lo * per, hi * per), [hi - lo, 28, 28, 1]),
    };
  }
  const [n, size, , channels] = images.shape;
  return {
    n,
    size,
    channels,
    batch: (lo, hi) => tf.slice(images, [lo, 0, 0, 0], [hi - lo, -1, -1, -1]),
  };
}

/** Real-image statistics in the extractor's feature space, cached by everything they depend on. */
async function realStats(
  extractor: FeatureExtractor,
  real: { pixels: Uint8Array; n: number; size: number; channels: number; checksum: string },
  cacheDir: string | null,
): Promise<MeanCov> {
  const key = createHash("sha256")
    .update(JSON.stringify([extractor.sha256, real.checksum, real.n, real.size, real.channels]))
    .digest("hex").slice(0, 24);
  const path = cacheDir ? join(cacheDir, `${key}.f64`) : null;
  if (path) {
    try {
      const bytes = await Deno.readFile(path);
      const all = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
      const d = all[0];
      if (all.length === 1 + d + d * d) {
        return { mean: all.slice(1, 1 + d), cov: all.slice(1 + d) };
      }
    } catch {
      // no cache yet
    }
  }
  const per = real.size * real.size * real.channels;
  const f = await extractFeatures(
    extractor,
    real.n,
    (lo, hi) => {
      const x = new Float32Array((hi - lo) * per);
      for (let i = 0; i < x.length; i++) x[i] = real.pixels[lo * per + i] / 127.5 - 1;
      return tf.tensor4d(x, [hi - lo, real.size, real.size, real.channels]);
    },
    50,
    "inception real",
  );
  const stats = meanCov(f.values, real.n, f.dim);
  if (path) {
    const all = new Float64Array(1 + f.dim + f.dim * f.dim);
    all[0] = f.dim;
    all.set(stats.mean, 1);
    all.set(stats.cov, 1 + f.dim);
    await Deno.mkdir(cacheDir!, { recursive: true });
    await writeFileAtomic(path, new Uint8Array(all.buffer));
  }
  return stats;
}

/**
 * FID of `images` against the real test split of `dataset` (at the samples' size and channels),
 * in the feature space of `extractor`. Real statistics are cached in `cacheDir` (null: no cache).
 */
export async function inceptionFid(
  extractor: FeatureExtractor,
  images: Samples,
  opts: { dataset: string; dataDir?: string; realN?: number; cacheDir?: string | null },
): Promise<InceptionFid> {
  const s = sampleBatcher(images);
  if (s.n < 2) throw new UserError(`Inception FID needs at least 2 samples, got ${s.n}`);
  const ds = await loadDataset(opts.dataset, {
    split: "test",
    size: s.size,
    channels: s.channels === 1 ? 1 : 3,
    dataDir: opts.dataDir,
    limit: opts.realN,
  });
  const real = {
    pixels: ds.pixels,
    n: ds.n,
    size: s.size,
    channels: s.channels,
    checksum: ds.checksum,
  };
  const realMc = await realStats(extractor, real, opts.cacheDir ?? null);
  const fake = await extractFeatures(extractor, s.n, s.batch, 50, "inception samples");
  const fakeMc = meanCov(fake.values, s.n, fake.dim);
  if (fake.dim > 256) console.error(`[inception] matrix square root of ${fake.dim}×${fake.dim}…`);
  return {
    fid: frechetDistance(fakeMc.mean, fakeMc.cov, realMc.mean, realMc.cov),
    n: s.n,
    realN: ds.n,
    real: `${opts.dataset} test split at ${s.size}×${s.size}, sha256 ${ds.checksum.slice(0, 16)}…`,
    model: {
      dir: extractor.dir,
      format: extractor.format,
      sha256: extractor.sha256,
      inputSize: extractor.inputSize,
      dim: fake.dim,
    },
  };
}
