/**
 * CGAN: `cgan --quick` writes valid outputs and class grids, is deterministic per seed and resumes
 * bit-identically, `generate` draws one digit from a run's checkpoint and rejects bad input, and
 * the conditioning works mechanically (outputs depend on the label; both label embeddings get the
 * gradient a hand-written scatter-add of the input gradient predicts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { selectBackend } from "../lib/backend.ts";
import { decodePng } from "../lib/image.ts";
import { bce } from "../lib/losses.ts";
import { exists } from "../lib/fsutil.ts";
import { hasCheckpoint } from "../lib/checkpoint.ts";
import { classifierDir } from "../lib/classifier.ts";
import {
  type CganConfig,
  classGridInputs,
  Discriminator,
  Generator,
  labelAccuracy,
  loadGenerator,
  main,
  QUICK_CONFIG,
  sampleForEval,
  saveClassGrid,
} from "../papers/cgan.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

/**
 * The embedding's gradient is GatherV2's gradient, UnsortedSegmentSum, which tfjs-backend-wasm
 * 4.22 does not have until lib/kernels registers one: until then these tests train on cpu.
 */
async function pickBackend(): Promise<"wasm" | "cpu"> {
  await selectBackend("wasm");
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return "wasm";
  console.error("note: wasm has no UnsortedSegmentSum kernel yet; cgan tests run on cpu");
  return "cpu";
}
const BACKEND = await pickBackend();

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

async function pngSize(path: string): Promise<[number, number]> {
  const img = decodePng(await Deno.readFile(path));
  return [img.width, img.height];
}

const tmp = await Deno.makeTempDir({ prefix: "cgan_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b");
// Label accuracy is measured once data/classifiers/mnist holds trained weights.
const classifierTrained = await hasCheckpoint(classifierDir("mnist"));

Deno.test("cgan --quick writes class grids, curves, animation and a manifest", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", runA]));
  const manifest = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(manifest.paper, "cgan");
  assert.equal(manifest.status, "complete");
  assert.equal(manifest.backend.name, BACKEND);
  assert.equal(manifest.config.epochs, 2);
  assert.equal(manifest.steps, 64); // 2 epochs × 2048 / 64
  assert.equal(manifest.images, 2048 * 2);
  assert.ok(manifest.imgPerSec > 0);
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.deepEqual(losses.map((r) => r.step), Array.from({ length: 64 }, (_, i) => i + 1));
  for (const r of losses) {
    for (const k of ["d_loss", "g_loss", "D(x)", "D(G(z))"]) assert.ok(Number.isFinite(r[k]), k);
    assert.ok(r["D(x)"] > 0 && r["D(x)"] < 1 && r["D(G(z))"] > 0 && r["D(G(z))"] < 1);
    assert.ok(r.d_loss > 0 && r.g_loss > 0);
  }
  // 10×10 class grids of 28×28 with padding 2: 10·30 + 2 = 302 pixels square.
  for (const f of ["class_grid.png", "real.png", "grids/epoch_001.png", "grids/epoch_002.png"]) {
    assert.deepEqual(await pngSize(join(runA, f)), [302, 302], f);
  }
  assert.deepEqual(await pngSize(join(runA, "epoch_series.png")), [302 * 2 + 4, 302]);
  const apng = await Deno.readFile(join(runA, "progress.png"));
  assert.ok(new TextDecoder("latin1").decode(apng.subarray(0, 200)).includes("acTL"));
  for (const f of ["losses.svg", "d_outputs.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  if (classifierTrained) {
    const acc = JSON.parse(await Deno.readTextFile(join(runA, "label_accuracy.json")));
    assert.equal(acc.perClass.length, 10);
    for (const a of acc.perClass) assert.ok(a >= 0 && a <= 1);
    const mean = acc.perClass.reduce((s: number, a: number) => s + a, 0) / 10;
    assert.ok(Math.abs(acc.overall - mean) < 1e-12);
    assert.deepEqual(manifest.extra.labelAccuracy, acc);
    assert.equal(acc.perClassN, QUICK_CONFIG.labelAccuracyPerClass);
  } else {
    assert.ok(!(await exists(join(runA, "label_accuracy.json"))));
    assert.equal(manifest.extra.labelAccuracy, undefined);
  }
  for await (const e of Deno.readDir(runA)) assert.ok(!e.name.includes(".tmp-"), e.name);
});

Deno.test("same seed: an interrupted and resumed run ends byte-identical; another seed differs", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--max-steps", "21"]);
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--resume"]);
  for (
    const f of ["class_grid.png", "grids/epoch_001.png", "grids/epoch_002.png", "losses.jsonl"]
  ) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
  const other = join(tmp, "seed1");
  await main(["--quick", "--backend", BACKEND, "--seed", "1", "--epochs", "1", "--out", other]);
  assert.notDeepEqual(
    await Deno.readFile(join(other, "grids/epoch_001.png")),
    await Deno.readFile(join(runA, "grids/epoch_001.png")),
  );
});

Deno.test("the checkpoint restores the trained generator exactly (class grid re-rendered)", async () => {
  const { G, cfg, seed } = await loadGenerator(runA);
  const grid = classGridInputs(new Rng(seed, "fixed-noise"), cfg);
  const path = join(tmp, "regrid.png");
  await saveClassGrid(path, G, grid);
  assert.deepEqual(await Deno.readFile(path), await Deno.readFile(join(runA, "class_grid.png")));
  G.dispose();
  grid.z.dispose();
  grid.labels.dispose();
});

Deno.test("generate --digit 8 writes a 28×28 PNG from the checkpoint; --n 10 a 302×32 row", async () => {
  await main(["generate", "--digit", "8", "--out", runA, "--backend", BACKEND]);
  const one = decodePng(await Deno.readFile(join(runA, "digit_8.png")));
  assert.deepEqual([one.width, one.height], [28, 28]);
  // Independent of makeGrid: G(z, 8) from the checkpoint, mapped [−1, 1] → bytes by hand.
  const { G, cfg } = await loadGenerator(runA);
  const x = tf.tidy(() =>
    G.apply(new Rng(0, "generate").randn([1, cfg.latentDim]), tf.tensor1d([8], "int32"))
  );
  const v = x.dataSync();
  for (let i = 0; i < 784; i++) {
    const want = Math.floor(Math.min(255, Math.max(0, (v[i] + 1) / 2 * 255 + 0.5)));
    assert.ok(Math.abs(one.data[i * one.channels] - want) <= 1, `pixel ${i}`);
  }
  x.dispose();
  G.dispose();
  const row = join(tmp, "eights.png");
  await main([
    "generate",
    "--digit",
    "8",
    "--n",
    "10",
    "--seed",
    "3",
    "--file",
    row,
    "--out",
    runA,
    "--backend",
    BACKEND,
  ]);
  assert.deepEqual(await pngSize(row), [302, 32]);
});

Deno.test("generate: one-line errors for a bad digit and a run without checkpoint", async () => {
  const empty = join(tmp, "empty");
  await Deno.mkdir(empty);
  const cases: [string[], RegExp][] = [
    [["--digit", "12", "--out", runA], /^error: --digit expects an integer in 0\.\.9, got "12"\n$/],
    [["--digit", "-1", "--out", runA], /^error: .*--digit.*\n$/],
    [["--out", runA], /^error: generate needs --digit .*\n$/],
    [["--digit", "8", "--out", empty], /^error: .*no manifest\.json.*\n$/],
    [["--digit", "8", "--bogus"], /^error: unknown flag --bogus for cgan generate .*\n$/],
  ];
  for (const [args, re] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "papers/cgan.ts",
        "generate",
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, args.join(" ") + "\n" + stderr);
    const errors = stderr.split("\n").filter((l) => l.startsWith("error:")).join("\n") + "\n";
    assert.match(errors, re, stderr);
    assert.ok(!stderr.includes("    at "), "no stack trace: " + stderr);
  }
  // A run directory whose checkpoint is gone: names the missing checkpoint.
  const noCkpt = join(tmp, "nockpt");
  await Deno.mkdir(noCkpt);
  await Deno.copyFile(join(runA, "manifest.json"), join(noCkpt, "manifest.json"));
  await assert.rejects(
    () => main(["generate", "--digit", "8", "--out", noCkpt, "--backend", BACKEND]),
    /has no checkpoint \(checkpoint\/model\.json\)/,
  );
});

Deno.test("sampleForEval: n samples with cycling labels, deterministic", async () => {
  const a = await sampleForEval(runA, 25);
  const b = await sampleForEval(runA, 25);
  assert.deepEqual(a.images.shape, [25, 28, 28, 1]);
  assert.deepEqual([...a.labels], Array.from({ length: 25 }, (_, i) => i % 10));
  const va = a.images.dataSync();
  assert.deepEqual(va, b.images.dataSync());
  assert.ok(va.every((x) => x >= -1 && x <= 1));
  a.images.dispose();
  b.images.dispose();
});

/** A tiny config for the unit tests (same structure, small widths). */
const TINY: CganConfig = {
  ...QUICK_CONFIG,
  latentDim: 6,
  embedDim: 4,
  gHidden: [16],
  dHidden: [16],
};

Deno.test("conditioning: same z, different labels → different images; same label → same", () => {
  const G = new Generator(new Rng(5, "init-G"), QUICK_CONFIG);
  const z = tf.tile(new Rng(5, "z").randn([1, 100]), [10, 1]);
  const x = tf.tidy(() => G.apply(z, tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 8], "int32")));
  const v = x.dataSync() as Float32Array;
  const img = (i: number): Float32Array => v.subarray(i * 784, (i + 1) * 784);
  for (let a = 0; a < 9; a++) {
    for (let b = a + 1; b < 9; b++) {
      let diff = 0;
      for (let k = 0; k < 784; k++) diff += Math.abs(img(a)[k] - img(b)[k]) / 784;
      assert.ok(diff > 1e-3, `labels ${a} and ${b} gave the same image (mean |Δ| ${diff})`);
    }
  }
  assert.deepEqual(img(8), img(9));
  tf.dispose([x, z]);
  G.dispose();
});

Deno.test(`label embeddings get the scatter-added input gradient (${BACKEND})`, () => {
  const G = new Generator(new Rng(1, "init-G"), TINY);
  const D = new Discriminator(new Rng(1, "init-D"), TINY);
  const labels = [3, 1, 3, 7, 0, 3]; // classes 2, 4, 5, 6, 8, 9 unused: their rows get exactly 0
  const y = tf.tensor1d(labels, "int32");
  const z = new Rng(1, "z").randn([labels.length, TINY.latentDim]);
  const eval_ = { training: false };
  const loss = () => bce(D.apply(G.apply(z, y), y, eval_), 1);

  // Gradients of both embedding tables through tfjs (GatherV2 → UnsortedSegmentSum).
  const gEmb = G.labelEmbedding.weight, dEmb = D.labelEmbedding.weight;
  const { grads } = tf.variableGrads(loss, [gEmb, dEmb]);

  // Reference: the gradient w.r.t. each sample's embedded vector (a plain input, no gather),
  // summed per label in JavaScript.
  const reference = (inputGrad: Float32Array, width: number, offset: number, dim: number) => {
    const out = new Float64Array(10 * dim);
    labels.forEach((l, i) => {
      for (let j = 0; j < dim; j++) out[l * dim + j] += inputGrad[i * width + offset + j];
    });
    return out;
  };
  const e = TINY.embedDim;
  const gIn = tf.concat([z, tf.gather(gEmb, y)], 1);
  const dGrad = tf.grad((h: tf.Tensor) => bce(D.apply(G.fromInput(h), y, eval_), 1))(gIn);
  const wantG = reference(dGrad.dataSync() as Float32Array, TINY.latentDim + e, TINY.latentDim, e);
  const fake = G.apply(z, y);
  const dIn = tf.concat([tf.reshape(fake, [-1, 784]), tf.gather(dEmb, y)], 1);
  const dTail = (h: tf.Tensor) => bce(D.fromInput(h, eval_), 1);
  const wantD = reference(tf.grad(dTail)(dIn).dataSync() as Float32Array, 784 + e, 784, e);

  for (
    const [name, got, want] of [["G", grads[gEmb.name], wantG], [
      "D",
      grads[dEmb.name],
      wantD,
    ]] as const
  ) {
    const g = got.dataSync();
    let norm = 0;
    for (let k = 0; k < g.length; k++) {
      assert.ok(Math.abs(g[k] - want[k]) <= 1e-6 + 1e-4 * Math.abs(want[k]), `${name}[${k}]`);
      norm += g[k] * g[k];
      const row = Math.floor(k / e);
      if (!labels.includes(row)) assert.equal(g[k], 0, `${name} unused row ${row}`);
    }
    assert.ok(norm > 1e-12, `${name} embedding gradient is zero`);
  }
  tf.dispose([y, z, gIn, dGrad, fake, dIn, grads[gEmb.name], grads[dEmb.name]]);
  G.dispose();
  D.dispose();
});

Deno.test("labelAccuracy: per-class bookkeeping against a constant classifier", async () => {
  const G = new Generator(new Rng(2, "init-G"), TINY);
  const seen: number[][] = [];
  const always3 = {
    predict(x: tf.Tensor4D): Promise<Int32Array> {
      seen.push(x.shape);
      return Promise.resolve(new Int32Array(x.shape[0]).fill(3));
    },
  };
  const acc = await labelAccuracy(G, always3, 7, 0);
  assert.deepEqual(acc.perClass, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.equal(acc.overall, 0.1);
  assert.equal(acc.perClassN, 7);
  assert.equal(seen.reduce((s, sh) => s + sh[0], 0), 70);
  for (const sh of seen) assert.deepEqual(sh.slice(1), [28, 28, 1]);
  G.dispose();
});

Deno.test("cgan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("cgan", runA);
});
