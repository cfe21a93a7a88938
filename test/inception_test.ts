/**
 * Inception FID plumbing (lib/inception.ts) on tiny stand-in models the test writes in both tfjs
 * formats: a 1×1 conv + global average pool, whose features are Σ_c mean_c(x)·W[c, k] — computed
 * here in plain JS as the independent reference.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tfl from "@tensorflow/tfjs";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { inceptionFid, loadFeatureExtractor, preprocess } from "../lib/inception.ts";
import { loadDataset } from "../lib/data/mod.ts";
import { writeFakePaper } from "./fixtures.ts";

await tf.setBackend("cpu");
const SIZE = 8, CI = 3, K = 4;
const W = Float32Array.from({ length: CI * K }, (_, i) => Math.sin(i + 1));

/** Writes `artifacts` as tensorflowjs_converter would: model.json + one shard. */
async function writeConverterDir(
  dir: string,
  format: string,
  modelTopology: unknown,
  weights: tf.io.WeightsManifestEntry[],
  data: Uint8Array,
) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(join(dir, "group1-shard1of1.bin"), data);
  await Deno.writeTextFile(
    join(dir, "model.json"),
    JSON.stringify({
      format,
      generatedBy: "test",
      convertedBy: "test",
      modelTopology,
      weightsManifest: [{ paths: ["group1-shard1of1.bin"], weights }],
    }),
  );
}

/** A Keras-style layers model: 1×1 conv (no bias) → global average pooling. */
async function layersModelDir(dir: string) {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [SIZE, SIZE, CI],
        filters: K,
        kernelSize: 1,
        useBias: false,
        weights: [tf.tensor4d(W, [1, 1, CI, K])],
      }),
      tfl.layers.globalAveragePooling2d({}),
    ],
  });
  let saved!: tf.io.ModelArtifacts;
  await model.save(tf.io.withSaveHandler((a) => {
    saved = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  model.dispose();
  const data = new Uint8Array(saved.weightData as ArrayBuffer);
  await writeConverterDir(dir, "layers-model", saved.modelTopology, saved.weightSpecs!, data);
}

/** The same function as a TF graph (GraphDef JSON as the converter writes it). */
async function graphModelDir(dir: string) {
  const str = (s: string) => btoa(s);
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const topology = {
    node: [
      {
        name: "input",
        op: "Placeholder",
        attr: { dtype: { type: "DT_FLOAT" }, shape: { shape: dims(-1, SIZE, SIZE, CI) } },
      },
      {
        name: "w",
        op: "Const",
        attr: {
          dtype: { type: "DT_FLOAT" },
          value: { tensor: { dtype: "DT_FLOAT", tensorShape: dims(1, 1, CI, K) } },
        },
      },
      {
        name: "axes",
        op: "Const",
        attr: {
          dtype: { type: "DT_INT32" },
          value: { tensor: { dtype: "DT_INT32", tensorShape: dims(2) } },
        },
      },
      {
        name: "conv",
        op: "Conv2D",
        input: ["input", "w"],
        attr: {
          T: { type: "DT_FLOAT" },
          strides: { list: { i: ["1", "1", "1", "1"] } },
          padding: { s: str("VALID") },
          data_format: { s: str("NHWC") },
          dilations: { list: { i: ["1", "1", "1", "1"] } },
        },
      },
      {
        name: "pool",
        op: "Mean",
        input: ["conv", "axes"],
        attr: { T: { type: "DT_FLOAT" }, keep_dims: { b: false } },
      },
    ],
    versions: { producer: 1 },
  };
  const data = new Uint8Array(4 * (CI * K + 2));
  new Float32Array(data.buffer, 0, CI * K).set(W);
  new Int32Array(data.buffer, 4 * CI * K, 2).set([1, 2]);
  await writeConverterDir(dir, "graph-model", topology, [
    { name: "w", shape: [1, 1, CI, K], dtype: "float32" },
    { name: "axes", shape: [2], dtype: "int32" },
  ], data);
}

/** Σ_c mean_c(x_b)·W[c, k] for NHWC images, in float64. */
function expectedFeatures(x: Float32Array, b: number, size: number): number[][] {
  return Array.from({ length: b }, (_, i) => {
    const mean = new Array(CI).fill(0);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < CI; c++) mean[c] += x[(i * size * size + p) * CI + c] / (size * size);
    }
    return Array.from({ length: K }, (_, k) => mean.reduce((s, m, c) => s + m * W[c * K + k], 0));
  });
}

const tmp = await Deno.makeTempDir({ prefix: "inception_test_" });
const layersDir = join(tmp, "layers"), graphDir = join(tmp, "graph");
await layersModelDir(layersDir);
await graphModelDir(graphDir);

Deno.test("loadFeatureExtractor: layers and graph models give the features computed by hand", async () => {
  const rng = new Rng(1, "inception");
  const x = rng.uniformArray(2 * SIZE * SIZE * CI, -1, 1);
  const want = expectedFeatures(x, 2, SIZE);
  for (const [dir, format] of [[layersDir, "layers-model"], [graphDir, "graph-model"]]) {
    const ex = await loadFeatureExtractor(dir);
    assert.equal(ex.format, format);
    assert.equal(ex.inputSize, SIZE);
    assert.match(ex.sha256, /^[0-9a-f]{64}$/);
    const t = tf.tensor4d(x, [2, SIZE, SIZE, CI]);
    const { values, dim } = await ex.features(t);
    t.dispose();
    assert.equal(dim, K);
    want.flat().forEach((v, i) => assert.ok(Math.abs(values[i] - v) < 1e-5, `${format} ${i}`));
    ex.dispose();
  }
});

Deno.test("preprocess: resizes to the model's size and replicates gray to RGB, in range", () => {
  const rng = new Rng(2, "inception");
  const gray = tf.tensor4d(rng.uniformArray(2 * 4 * 4, -1, 1), [2, 4, 4, 1]);
  const y = preprocess(gray, SIZE);
  assert.deepEqual(y.shape, [2, SIZE, SIZE, 3]);
  const v = y.dataSync();
  for (let i = 0; i < v.length; i += 3) assert.ok(v[i] === v[i + 1] && v[i] === v[i + 2]);
  assert.ok(Math.max(...v) <= 1 && Math.min(...v) >= -1);
  const flat = preprocess(tf.fill([1, 5, 5, 1], 0.25) as tf.Tensor4D, SIZE);
  assert.ok(flat.dataSync().every((a) => Math.abs(a - 0.25) < 1e-6));
  tf.dispose([gray, y, flat]);
});

Deno.test("inceptionFid: real vs itself ≈ 0, vs noise large; real statistics are cached", async () => {
  const ex = await loadFeatureExtractor(layersDir);
  const n = 300;
  const mnist = await loadDataset("mnist", { split: "test", limit: n });
  const same = Float32Array.from(mnist.pixels, (p) => p / 127.5 - 1);
  const cacheDir = join(tmp, "cache");
  const a = await inceptionFid(ex, same, { dataset: "mnist", realN: n, cacheDir });
  assert.ok(Math.abs(a.fid) < 1e-4, `same images: ${a.fid}`);
  assert.equal(a.n, n);
  assert.equal(a.realN, n);
  assert.equal(a.model.dim, K);
  assert.equal(a.model.sha256, ex.sha256);
  const cached = [];
  for await (const e of Deno.readDir(cacheDir)) cached.push(e.name);
  assert.equal(cached.length, 1);
  const noise = new Rng(3, "inception").uniformArray(n * 28 * 28, -1, 1);
  const b = await inceptionFid(ex, noise, { dataset: "mnist", realN: n, cacheDir });
  assert.ok(b.fid > 0.01, `noise: ${b.fid}`);
  // From the cache: the same number again.
  const c = await inceptionFid(ex, noise, { dataset: "mnist", realN: n, cacheDir });
  assert.equal(c.fid, b.fid);
  ex.dispose();
});

Deno.test("loadFeatureExtractor: clear errors for a missing or broken model directory", async () => {
  await assert.rejects(
    () => loadFeatureExtractor(join(tmp, "none")),
    /no .*model\.json: --inception expects/,
  );
  const broken = join(tmp, "broken");
  await Deno.mkdir(broken);
  await Deno.writeTextFile(join(broken, "model.json"), "{not json");
  await assert.rejects(() => loadFeatureExtractor(broken), /is not JSON/);
  const short = join(tmp, "short");
  await Deno.mkdir(short);
  const json = JSON.parse(await Deno.readTextFile(join(layersDir, "model.json")));
  await Deno.writeTextFile(join(short, "model.json"), JSON.stringify(json));
  await Deno.writeFile(join(short, "group1-shard1of1.bin"), new Uint8Array(5));
  await assert.rejects(() => loadFeatureExtractor(short), /weight shards hold 5 bytes/);
});

Deno.test("evaluateRun --inception: FID next to the classifier metrics; datasets without a classifier", async () => {
  const { evaluateRun } = await import("../lib/eval.ts");
  const root = join(tmp, "results", "fake");
  const papers = join(tmp, "papers");
  // Samples: the first n MNIST test digits, i.e. the real data itself.
  await writeFakePaper(papers, false);
  const run = join(root, "run");
  await Deno.mkdir(run, { recursive: true });
  const writeManifest = (dataset: string) =>
    Deno.writeTextFile(
      join(run, "manifest.json"),
      JSON.stringify({ paper: "fake", dataset: { name: dataset } }),
    );
  await writeManifest("mnist");
  const inception = await loadFeatureExtractor(layersDir);
  const m = await evaluateRun(run, { n: 200, papersDir: papers, inception });
  assert.ok(m.fid !== undefined && m.inception !== undefined);
  assert.equal(m.inception.n, 200);
  assert.equal(m.inception.realN, 10000); // the whole real test split
  const saved = JSON.parse(await Deno.readTextFile(join(run, "metrics.json")));
  assert.equal(saved.inception.fid, m.inception.fid);
  assert.equal(saved.inception.model.format, "layers-model");
  // Cached real statistics go next to the runs, under results/.inception-cache.
  const cache = [];
  for await (const e of Deno.readDir(join(tmp, "results", ".inception-cache"))) cache.push(e.name);
  assert.equal(cache.length, 1);
  // A dataset without a classifier still gets Inception FID (here: its real data is absent).
  await writeManifest("cifar10");
  await assert.rejects(
    () => evaluateRun(run, { n: 20, papersDir: papers, inception, dataDir: join(tmp, "nocifar") }),
    /CIFAR-10/,
  );
  inception.dispose();
});
