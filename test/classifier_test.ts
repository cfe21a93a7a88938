import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { selectBackend } from "../lib/backend.ts";
import { UserError } from "../lib/fsutil.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import { FASHION_MNIST_DIR, type ImageDataset, loadDataset, toTensor } from "../lib/data/mod.ts";
import { isDir } from "../lib/data/types.ts";
import { type Classifier, FEATURE_DIM, loadClassifier } from "../lib/classifier.ts";
import { meanCov } from "../lib/metrics.ts";
import {
  evalDefaults,
  evaluateRun,
  evaluateSampleFile,
  evaluateSamples,
  findSampler,
} from "../lib/eval.ts";
import { trainClassifier } from "../data/train_classifier.ts";
import { writeFakePaper } from "./fixtures.ts";

// wasm: the real-data checks push 10,000-image sets through the classifier several times.
await selectBackend("wasm");

const HAS_FASHION = isDir(FASHION_MNIST_DIR);

/** Images `lo..lo+n` of a dataset as [-1, 1] floats. */
function imagesOf(ds: ImageDataset, lo: number, n: number): Float32Array {
  const t = toTensor(ds, Int32Array.from({ length: n }, (_, i) => lo + i));
  const out = t.dataSync() as Float32Array;
  t.dispose();
  return out;
}

Deno.test("loadClassifier: missing weights name the training command", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    () => loadClassifier("mnist", dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message.includes("data/train_classifier.ts mnist") && !e.message.includes("\n"),
  );
  await assert.rejects(() => loadClassifier("cifar10" as "mnist", dir), /no classifier for/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trainClassifier: deterministic, and saves loadable weights with real_stats", async () => {
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const opts = { name: "mnist" as const, epochs: 2, batchSize: 100, limit: 1500, testLimit: 400 };
  for (const outDir of dirs) await trainClassifier({ ...opts, outDir, log: () => {} });

  const [a, b] = await Promise.all(dirs.map((d) => loadCheckpoint(d)));
  assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort());
  for (const [k, t] of a.tensors) {
    assert.deepEqual(t.dataSync(), b.tensors.get(k)!.dataSync(), `same seed, same ${k}`);
  }

  const clf = await loadClassifier("mnist", dirs[0]);
  const info = JSON.parse(await Deno.readTextFile(join(dirs[0], "info.json")));
  assert.equal(info.testImages, 400);
  assert.equal(info.realStats.n, 400);
  assert.equal(info.backend, "wasm");
  assert.equal(clf.info.testAccuracy, info.testAccuracy);
  assert.ok(info.testAccuracy > 0.6, `30 steps should beat chance by far: ${info.testAccuracy}`);

  // Re-derive accuracy and the real-data Gaussian from the loaded weights.
  const test = await loadDataset("mnist", { split: "test", limit: 400 });
  const x = tf.tensor4d(imagesOf(test, 0, 400), [400, 28, 28, 1]);
  const preds = await clf.predict(x);
  const acc = preds.filter((p, i) => p === test.labels![i]).length / 400;
  assert.ok(Math.abs(acc - info.testAccuracy) < 1e-9, `accuracy ${acc} vs ${info.testAccuracy}`);
  const f = clf.features(x);
  assert.deepEqual(f.shape, [400, FEATURE_DIM]);
  const { mean, cov } = meanCov(f.dataSync(), 400, FEATURE_DIM);
  for (let i = 0; i < mean.length; i++) {
    assert.ok(Math.abs(mean[i] - clf.realStats.mean[i]) < 1e-5 * (1 + Math.abs(mean[i])));
  }
  for (let i = 0; i < cov.length; i++) {
    assert.ok(Math.abs(cov[i] - clf.realStats.cov[i]) < 1e-5 * (1 + Math.abs(cov[i])));
  }
  assert.throws(() => clf.features(tf.zeros([2, 32, 32, 1]) as tf.Tensor4D), UserError);
  tf.dispose([x, f]);
  clf.dispose();
  for (const t of [...a.tensors.values(), ...b.tensors.values()]) t.dispose();
  for (const d of dirs) await Deno.remove(d, { recursive: true });
});

/**
 * Real-data sanity for a committed classifier: its own test set reproduces the stored accuracy
 * and statistics, the train set lies close in feature space, the other dataset far away, and a
 * mode-collapsed "generator" is caught by IS and coverage.
 */
async function realDataSanity(name: "mnist" | "fashion-mnist", minAccuracy: number) {
  const other = name === "mnist" ? "fashion-mnist" : "mnist";
  const clf: Classifier = await loadClassifier(name);
  const test = await loadDataset(name, { split: "test" });
  const train = await loadDataset(name, { split: "train", limit: 10000 });
  const far = await loadDataset(other, { split: "test" });

  const self = await evaluateSamples(imagesOf(test, 0, 10000), {
    dataset: name,
    labels: test.labels,
    classifier: clf,
  });
  assert.equal(self.n, 10000);
  assert.ok(self.labelAccuracy! >= minAccuracy, `accuracy ${self.labelAccuracy}`);
  assert.ok(Math.abs(self.labelAccuracy! - clf.info.testAccuracy) < 1e-3, "stored accuracy");
  assert.ok(self.fid < 1e-3, `test set vs its own stored statistics: ${self.fid}`);
  assert.equal(self.coverage.classesCovered, 10);
  assert.ok(self.coverage.normalizedEntropy > 0.99);

  const near = await evaluateSamples(imagesOf(train, 0, 10000), { dataset: name, classifier: clf });
  const away = await evaluateSamples(imagesOf(far, 0, 10000), { dataset: name, classifier: clf });
  assert.ok(near.fid > self.fid, "a different sample of the same distribution is not identical");
  assert.ok(near.fid * 20 < away.fid, `train ${near.fid} vs ${other} ${away.fid}`);

  // Mode collapse: 2,000 copies of the test images of one class.
  const ones = [...test.labels!.keys()].filter((i) => test.labels![i] === 1);
  const collapsed = new Float32Array(2000 * 784);
  ones.slice(0, 200).forEach((idx, j) => {
    const img = imagesOf(test, idx, 1);
    for (let r = 0; r < 10; r++) collapsed.set(img, (j * 10 + r) * 784);
  });
  const mc = await evaluateSamples(collapsed, { dataset: name, classifier: clf });
  assert.ok(mc.is.mean < 1.5, `collapsed IS ${mc.is.mean}`);
  assert.ok(mc.coverage.normalizedEntropy < 0.2, `collapsed entropy ${mc.coverage.entropy}`);
  assert.ok(mc.fid > 10 * near.fid, `collapsed fid ${mc.fid}`);
  clf.dispose();
  return { self, near, away };
}

Deno.test("MNIST classifier: accuracy, FID sanity (train ≈ test ≠ Fashion), IS near 10", {
  ignore: !HAS_FASHION,
}, async () => {
  const { self, near, away } = await realDataSanity("mnist", 0.98);
  assert.ok(self.is.mean > 9, `IS of real MNIST test ${self.is.mean}`);
  console.log(
    `  mnist: acc ${self.labelAccuracy} IS ${self.is.mean.toFixed(3)} ± ${self.is.std.toFixed(3)}` +
      `  fid(train) ${near.fid.toFixed(4)}  fid(fashion) ${away.fid.toFixed(2)}`,
  );
});

Deno.test("Fashion-MNIST classifier: accuracy and FID sanity", {
  ignore: !HAS_FASHION,
}, async () => {
  const { self, near, away } = await realDataSanity("fashion-mnist", 0.88);
  assert.ok(self.is.mean > 7, `IS of real Fashion-MNIST test ${self.is.mean}`);
  console.log(
    `  fashion: acc ${self.labelAccuracy} IS ${self.is.mean.toFixed(3)} ± ` +
      `${self.is.std.toFixed(3)}  fid(train) ${near.fid.toFixed(4)}  fid(mnist) ${
        away.fid.toFixed(2)
      }`,
  );
});

Deno.test("evaluateSamples: 64×64 samples are compared with the test set resized alike", async () => {
  const clf = await loadClassifier("mnist");
  // What a 64×64 MNIST run trains on: the loader's 28 → 64 resize.
  const test64 = await loadDataset("mnist", { split: "test", size: 64 });
  const x = tf.tensor4d(Float32Array.from(test64.pixels, (v) => v / 127.5 - 1), [10000, 64, 64, 1]);
  const m = await evaluateSamples(x, { dataset: "mnist", classifier: clf, labels: test64.labels });
  x.dispose();
  assert.ok(m.fid < 1e-3, `the resized test set vs its own statistics: ${m.fid}`);
  assert.match(m.classifier.realStats, /28→64→28/);
  // The round trip blurs only slightly: accuracy stays within a point of the 28×28 one.
  assert.ok(Math.abs(m.labelAccuracy! - clf.info.testAccuracy) < 0.01, `${m.labelAccuracy}`);

  const small = imagesOf(test64, 0, 20).subarray(0, 20 * 784);
  await assert.rejects(
    () => evaluateSamples(new Float32Array(100), { dataset: "mnist", classifier: clf }),
    UserError,
  );
  await assert.rejects(
    () => evaluateSamples(small, { dataset: "mnist", classifier: clf, labels: new Int32Array(3) }),
    /labels/,
  );
  await assert.rejects(
    () =>
      evaluateSamples(tf.zeros([10, 28, 20, 1]) as tf.Tensor4D, {
        dataset: "mnist",
        classifier: clf,
      }),
    /square/,
  );
  clf.dispose();
});

Deno.test("evaluateRun: samples through the paper's sampleForEval and writes metrics.json", async () => {
  const root = await Deno.makeTempDir();
  const papers = join(root, "papers");
  await writeFakePaper(papers, true);
  await Deno.writeTextFile(join(papers, "nosampler.ts"), "export const x = 1;\n");
  const run = join(root, "run");
  await Deno.mkdir(run);
  const manifest = (paper: string, dataset: string) =>
    Deno.writeTextFile(
      join(run, "manifest.json"),
      JSON.stringify({ paper, dataset: { name: dataset } }),
    );

  const clf = await loadClassifier("mnist");
  await manifest("fake", "mnist");
  const m = await evaluateRun(run, { n: 1000, papersDir: papers, classifier: clf });
  const saved = JSON.parse(await Deno.readTextFile(join(run, "metrics.json")));
  assert.equal(saved.n, 1000);
  assert.equal(saved.paper, "fake");
  assert.equal(saved.fid, m.fid);
  assert.ok(saved.labelAccuracy > 0.97);
  assert.equal(saved.coverage.histogram.length, 10);

  await manifest("nosampler", "mnist");
  await assert.rejects(
    () => evaluateRun(run, { n: 100, papersDir: papers, classifier: clf }),
    /does not export sampleForEval/,
  );
  await assert.rejects(() => findSampler("../etc", papers), UserError);
  await manifest("fake", "cifar10");
  await assert.rejects(
    () => evaluateRun(run, { n: 100, papersDir: papers, classifier: clf }),
    /no classifier for dataset "cifar10"/,
  );
  await assert.rejects(() => evaluateRun(join(root, "nothing")), /manifest.json is missing/);
  clf.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("evalDefaults: the run's own backend and threads; 2,000 samples for quick runs", () => {
  assert.deepEqual(
    evalDefaults({ runId: "quick-mnist-seed0-wasm", backend: { name: "wasm" } }),
    { backend: "wasm", threads: 1, n: 2000 },
  );
  assert.deepEqual(
    evalDefaults({ runId: "paper-mnist-seed0-blas", backend: { name: "blas", threads: 2 } }),
    { backend: "blas", threads: 2, n: 10000 },
  );
});

Deno.test("eval CLI: a directory without a run fails with one clear line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      new URL("../lib/eval.ts", import.meta.url).pathname,
      "results/no-such-run",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 1);
  assert.equal(
    err,
    "error: no run at results/no-such-run: results/no-such-run/manifest.json is missing",
  );
});

Deno.test("eval CLI: --inception without a model directory fails with one clear line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=results",
      "--allow-env",
      new URL("../lib/eval.ts", import.meta.url).pathname,
      "results/x",
      "--inception",
      "/nonexistent/inception",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 1);
  assert.equal(err.split("\n").length, 1, err);
  assert.match(
    err,
    /^error: no \/nonexistent\/inception\/model.json: --inception expects a TensorFlow.js/,
  );
});

Deno.test("evaluateSampleFile: raw float32 samples and int32 labels from another implementation", async () => {
  const tmp = await Deno.makeTempDir();
  const n = 500;
  const ds = await loadDataset("mnist", { split: "test", limit: n });
  // Real digits written as the PyTorch scripts write samples: little-endian float32 in [-1, 1].
  const x = Float32Array.from(ds.pixels, (p) => p / 127.5 - 1);
  await Deno.writeFile(join(tmp, "s.f32"), new Uint8Array(x.buffer));
  await Deno.writeFile(join(tmp, "l.i32"), new Uint8Array(Int32Array.from(ds.labels!).buffer));
  const m = await evaluateSampleFile(join(tmp, "s.f32"), {
    dataset: "mnist",
    labels: join(tmp, "l.i32"),
    backend: "wasm",
  });
  assert.equal(m.n, n);
  assert.ok(m.labelAccuracy! > 0.95, `real digits, true labels: ${m.labelAccuracy}`);
  assert.equal(m.coverage.classesCovered, 10);
  const saved = JSON.parse(await Deno.readTextFile(join(tmp, "s.metrics.json")));
  assert.equal(saved.fid, m.fid);
  await Deno.writeFile(join(tmp, "bad.f32"), new Uint8Array(7));
  await assert.rejects(
    () => evaluateSampleFile(join(tmp, "bad.f32"), { dataset: "mnist", backend: "wasm" }),
    /not a multiple of 4 bytes/,
  );
  await assert.rejects(
    () => evaluateSampleFile(join(tmp, "none.f32"), { dataset: "mnist", backend: "wasm" }),
    /cannot read samples/,
  );
  await Deno.remove(tmp, { recursive: true });
});
