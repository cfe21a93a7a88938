/**
 * WGAN: the shared DCGAN networks (shapes, the twice-differentiable LeakyReLU, LayerNorm against a
 * hand computation), then `wgan --quick` end to end on wasm: outputs, clipping, determinism,
 * resume, the MLP variant and sampling for evaluation.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { decodePng } from "../lib/image.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import {
  batchesBefore,
  criticIterations,
  DcganCritic,
  DcganGenerator,
  LayerNorm,
  main,
  PAPER_CONFIG,
  sampleForEval,
  workBefore,
} from "../papers/wgan.ts";
import { etaSeconds } from "../lib/run.ts";
import { leakyRelu } from "../lib/nn.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const BACKEND = "wasm";
await tf.setBackend("cpu"); // unit tests; main() selects wasm itself

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("DCGAN 32×32 networks: shapes and parameter layout of the authors' DCGAN_G/D", () => {
  const G = new DcganGenerator(new Rng(0), 100, 3, 64);
  const D = new DcganCritic(new Rng(1), 3, 64, "batch");
  const shapes = (m: { namedVariables(): { name: string; variable: tf.Variable }[] }) =>
    Object.fromEntries(m.namedVariables().map((v) => [v.name, v.variable.shape]));
  // tfjs transposed-conv weights are [k, k, out, in].
  assert.deepEqual(shapes(G)["deconv0/weight"], [4, 4, 256, 100]);
  assert.deepEqual(shapes(G)["deconv3/weight"], [4, 4, 3, 64]);
  assert.deepEqual(shapes(D)["conv0/weight"], [4, 4, 3, 64]);
  assert.deepEqual(shapes(D)["conv2/weight"], [4, 4, 128, 256]);
  assert.deepEqual(shapes(D)["out/weight"], [4, 4, 256, 1]);
  // No biases with BatchNorm (bias=False in the authors' code); biases without normalization.
  assert.ok(!Object.keys(shapes(D)).some((k) => k.endsWith("bias")));
  assert.ok("conv0/bias" in shapes(new DcganCritic(new Rng(1), 3, 8, "none")));
  const x = tf.tidy(() => G.apply(new Rng(2).randn([2, 100]), { training: true }));
  assert.deepEqual(x.shape, [2, 32, 32, 3]);
  assert.deepEqual(D.apply(x, { training: true }).shape, [2]);
});

Deno.test("the critic's LeakyReLU equals tf.leakyRelu; LayerNorm matches a hand computation", () => {
  const x = tf.tensor1d([-3, -0.5, 0, 0.25, 2]);
  assert.deepEqual(
    Array.from(leakyRelu(x, 0.2).dataSync()),
    Array.from(tf.leakyRelu(x, 0.2).dataSync()),
  );
  // One sample [1, 1, 2, 2]: values 1, 2 (channel 0) and 3, 6 (channel 1); mean 3, var 3.5.
  const ln = new LayerNorm(new Rng(0), 2);
  ln.gamma.assign(tf.tensor1d([2, 1]));
  ln.beta.assign(tf.tensor1d([0, 0.5]));
  const y = ln.apply(tf.tensor4d([1, 3, 2, 6], [1, 1, 2, 2])).dataSync();
  const sd = Math.sqrt(3.5 + 1e-5);
  const expected = [2 * (1 - 3) / sd, (3 - 3) / sd + 0.5, 2 * (2 - 3) / sd, (6 - 3) / sd + 0.5];
  expected.forEach((e, i) => assert.ok(Math.abs(y[i] - e) < 1e-5, `y[${i}]`));
});

Deno.test("critic burn-in schedule: 100 iterations for g < 25 and g % 500 = 0, else n_critic", () => {
  const on = PAPER_CONFIG, off = { ...PAPER_CONFIG, criticBurnIn: false };
  assert.equal(on.criticBurnIn, true);
  const gs = [0, 24, 25, 499, 500, 501, 1000];
  assert.deepEqual(gs.map((g) => criticIterations(on, g)), [100, 100, 5, 5, 100, 5, 100]);
  assert.equal(criticIterations(off, 0), 5);
  // The closed form against a running sum.
  let sum = 0;
  for (let g = 0; g <= 2600; g++) {
    assert.equal(batchesBefore(on, g), sum, `g = ${g}`);
    assert.equal(batchesBefore(off, g), 5 * g);
    sum += criticIterations(on, g);
  }
});

Deno.test("ETA weighs burn-in steps: exact when a step costs its critic batches + 1", () => {
  const cfg = PAPER_CONFIG, total = 4675;
  // Simulated clock: generator iteration g takes criticIterations(g) + 1 seconds.
  const clock = [0];
  for (let g = 0; g < total; g++) clock.push(clock[g] + criticIterations(cfg, g) + 1);
  const work = (g: number) => workBefore(cfg, g);
  for (const [start, step] of [[0, 1], [0, 25], [0, 26], [25, 600], [1000, 1001], [0, 4674]]) {
    const eta = etaSeconds(clock[step] - clock[start], start, step, total, work);
    assert.ok(Math.abs(eta - (clock[total] - clock[step])) < 1e-6, `start ${start} step ${step}`);
  }
  // Unweighted, the first step (100 critic batches) predicts ~18× the true remaining time.
  const naive = etaSeconds(clock[1], 0, 1, total);
  assert.ok(naive > 15 * (clock[total] - clock[1]), `naive ETA ${naive}`);
});

const tmp = await Deno.makeTempDir({ prefix: "wgan_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b"), runC = join(tmp, "c");

Deno.test("wgan --quick writes every figure, clips the critic, logs the W estimate", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.paper, "wgan");
  assert.equal(m.status, "complete");
  assert.equal(m.config.arch, "dcgan");
  assert.equal(m.config.clip, 0.01);
  assert.equal(m.config.nCritic, 5);
  // 320 images / 16 = 20 batches; 5 per generator iteration → 4 steps per epoch, 2 epochs.
  assert.equal(m.steps, 8);
  assert.equal(m.images, 8 * 5 * 16);
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.deepEqual(losses.map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const r of losses) {
    for (const k of ["critic_loss", "W_estimate", "g_loss", "D(x)", "D(G(z))"]) {
      assert.ok(Number.isFinite(r[k]), k);
    }
    assert.equal(r.W_estimate, -r.critic_loss);
    assert.ok(Math.abs(r.W_estimate - (r["D(x)"] - r["D(G(z))"])) < 1e-6);
  }
  // Every critic parameter within [−c, c] after training; the generator is not clipped.
  const { tensors } = await loadCheckpoint(join(runA, "checkpoint"));
  let dCount = 0, gMax = 0;
  for (const [k, t] of tensors) {
    if (k.startsWith("D/") && !k.includes("running")) {
      dCount++;
      for (const v of t.dataSync()) assert.ok(Math.abs(v) <= 0.01 + 1e-9, `${k} = ${v}`);
    }
    if (k.startsWith("G/") && k.endsWith("gamma")) {
      for (const v of t.dataSync()) gMax = Math.max(gMax, Math.abs(v));
    }
  }
  assert.ok(dCount >= 6);
  assert.ok(gMax > 0.5, "G's BatchNorm γ (≈ 1) is not clipped");
  for (const f of ["real.png", "samples.png", "grids/epoch_001.png", "grids/epoch_002.png"]) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, 274, f); // 8·(32 + 2) + 2
    assert.equal(img.height, 274, f);
  }
  assert.equal(decodePng(await Deno.readFile(join(runA, "epoch_series.png"))).width, 2 * 274 + 4);
  const apng = await Deno.readFile(join(runA, "progress.png"));
  assert.ok(new TextDecoder("latin1").decode(apng.subarray(0, 200)).includes("acTL"));
  for (const f of ["wasserstein.svg", "losses.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  for await (const e of Deno.readDir(runA)) assert.ok(!e.name.includes(".tmp-"), e.name);
});

Deno.test("wgan: same seed gives identical outputs; an interrupted run resumes identically", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--max-steps", "5"]);
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--resume"]);
  for (
    const f of ["losses.jsonl", "grids/epoch_001.png", "grids/epoch_002.png", "samples.png"]
  ) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
});

Deno.test("wgan sampleForEval: the run's generator, deterministic, in [−1, 1]", async () => {
  const a = await sampleForEval(runA, 6);
  const b = await sampleForEval(runA, 6);
  assert.deepEqual(a.images.shape, [6, 32, 32, 1]);
  assert.deepEqual(a.images.dataSync(), b.images.dataSync());
  for (const v of a.images.dataSync()) assert.ok(v >= -1 && v <= 1);
});

Deno.test("wgan --critic-burn-in on: 100 critic batches per step, streaming across epochs", async () => {
  const out = join(tmp, "burn-in");
  await main([
    "--quick",
    "--critic-burn-in",
    "on",
    "--backend",
    BACKEND,
    "--out",
    out,
    "--max-steps",
    "2",
  ]);
  const m = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
  assert.equal(m.config.criticBurnIn, true);
  assert.equal(m.images, 2 * 100 * 16); // 200 batches of 16 from 320 images: 10 passes
  const losses = await readJsonl(join(out, "losses.jsonl"));
  for (const r of losses) assert.ok(Number.isFinite(r.W_estimate));
});

Deno.test("wgan --arch mlp (PyTorch-GAN wgan.py) trains on 28×28 MNIST", async () => {
  await main(["--quick", "--arch", "mlp", "--epochs", "1", "--backend", BACKEND, "--out", runC]);
  const m = JSON.parse(await Deno.readTextFile(join(runC, "manifest.json")));
  assert.equal(m.status, "complete");
  assert.equal(m.steps, 4);
  const img = decodePng(await Deno.readFile(join(runC, "samples.png")));
  assert.equal(img.width, 8 * 30 + 2);
  const { images } = await sampleForEval(runC, 3);
  assert.deepEqual(images.shape, [3, 28, 28, 1]);
});

Deno.test("wgan --dataset cifar10: the DCGAN nets take 3-channel 32×32 images", async () => {
  // A CIFAR-10 binary batch of 400 random records (label byte + 3072 planar pixel bytes).
  const dir = join(tmp, "cifar", "cifar-10-batches-bin");
  await Deno.mkdir(dir, { recursive: true });
  const rng = new Rng(3, "fake-cifar");
  const bytes = new Uint8Array(400 * 3073);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 3073 === 0 ? rng.int(10) : rng.int(256);
  await Deno.writeFile(join(dir, "data_batch_1.bin"), bytes);
  const out = join(tmp, "cifar-run");
  const argv = ["--quick", "--dataset", "cifar10", "--data-dir", join(tmp, "cifar")];
  await main([...argv, "--backend", BACKEND, "--out", out, "--max-steps", "1"]);
  const { images } = await sampleForEval(out, 2);
  assert.deepEqual(images.shape, [2, 32, 32, 3]);
  // Colour images: the grid's red and green planes differ (a gray grid repeats one plane).
  const real = decodePng(await Deno.readFile(join(out, "real.png")));
  assert.ok(real.data.some((v, i) => i % 3 === 0 && v !== real.data[i + 1]));
});

Deno.test("wgan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("wgan", runA);
});
