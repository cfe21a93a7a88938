/**
 * SNGAN: the standard CNN of Table 3 (shapes), the Table 1 settings behind `--setting`, then
 * `sngan --quick` end to end on wasm: outputs, the power-iteration vectors in the checkpoint, and a
 * resumed run identical to an uninterrupted one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { parseCli } from "../lib/cli.ts";
import { decodePng } from "../lib/image.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";
import type { ParsedArgs } from "../lib/experiment.ts";
import {
  Discriminator,
  Generator,
  main,
  PAPER_CONFIG,
  QUICK_CONFIG,
  sampleForEval,
  SPEC,
} from "../papers/sngan.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const BACKEND = "wasm";
await tf.setBackend("cpu"); // unit tests; main() selects wasm itself

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

function shapes(m: { namedVariables(): { name: string; variable: tf.Variable }[] }) {
  return Object.fromEntries(m.namedVariables().map((v) => [v.name, v.variable.shape]));
}

Deno.test("Table 3 standard CNN: layer shapes, strides and output sizes", () => {
  const G = new Generator(new Rng(0), 128, 3, PAPER_CONFIG.gChannels);
  const g = shapes(G);
  assert.deepEqual(g["dense/weight"], [128, 4 * 4 * 512]);
  assert.deepEqual(g["deconv1/weight"], [4, 4, 256, 512]); // [k, k, out, in]
  assert.deepEqual(g["deconv2/weight"], [4, 4, 128, 256]);
  assert.deepEqual(g["deconv3/weight"], [4, 4, 64, 128]);
  assert.deepEqual(g["out/weight"], [3, 3, 64, 3]);
  const D = new Discriminator(new Rng(1), 3, PAPER_CONFIG.dChannels, 0.1);
  const d = shapes(D);
  // [kernel, in, out] of Table 3b; 4×4 convs have stride 2.
  const convs = [[3, 3, 64], [4, 64, 64], [3, 64, 128], [4, 128, 128], [3, 128, 256]];
  convs.push([4, 256, 256], [3, 256, 512]);
  assert.equal(D.convs.length, 7);
  D.convs.forEach((c, i) => {
    const [k, inC, outC] = convs[i];
    assert.deepEqual(c.layer.weight.shape, [k, k, inC, outC], `conv ${i}`);
    assert.equal(c.layer.stride, k === 4 ? 2 : 1, `stride ${i}`);
    assert.deepEqual(c.u.shape, [outC]);
  });
  assert.deepEqual(d["dense/layer/weight"], [4 * 4 * 512, 1]);
  // Every D weight is spectrally normalized: one ũ per weight.
  const weights = Object.keys(d).filter((k) => k.endsWith("/weight"));
  assert.equal(Object.keys(d).filter((k) => k.endsWith("/u")).length, weights.length);
  const x = tf.tidy(() => G.apply(new Rng(2).randn([2, 128]), { training: true }));
  assert.deepEqual(x.shape, [2, 32, 32, 3]);
  assert.deepEqual(D.apply(x, { training: true }).shape, [2]);
});

Deno.test("--setting selects the Table 1 optimizer settings; default C; --lr overrides", () => {
  const cfg = (argv: string[]) =>
    SPEC.configure(PAPER_CONFIG, parseCli("sngan", argv, SPEC.flags) as ParsedArgs);
  const c = cfg([]);
  assert.deepEqual([c.setting, c.lr, c.beta1, c.beta2, c.nDis], ["C", 2e-4, 0.5, 0.999, 1]);
  const a = cfg(["--setting", "A"]);
  assert.deepEqual([a.setting, a.lr, a.beta1, a.beta2, a.nDis], ["A", 1e-4, 0.5, 0.9, 5]);
  const f = cfg(["--setting", "F"]);
  assert.deepEqual([f.lr, f.beta1, f.beta2, f.nDis], [1e-3, 0.9, 0.999, 5]);
  assert.equal(cfg(["--setting", "A", "--lr", "3e-4"]).lr, 3e-4);
  assert.equal(cfg(["--loss", "standard"]).loss, "standard");
  assert.equal(PAPER_CONFIG.loss, "hinge");
  assert.equal(PAPER_CONFIG.slope, 0.1);
});

const tmp = await Deno.makeTempDir({ prefix: "sngan_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b");

Deno.test("sngan --quick writes every figure; ũ, ṽ are in the checkpoint", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", runA]));
  const m = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(m.paper, "sngan");
  assert.equal(m.status, "complete");
  assert.equal(m.config.setting, "C");
  // 256 images / 16 = 16 batches, n_dis = 1 → 16 steps per epoch, 2 epochs.
  assert.equal(m.steps, 32);
  assert.equal(m.extra.finalSigmas.length, 8);
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.equal(losses.length, 32);
  for (const r of losses) {
    for (const k of ["d_loss", "g_loss", "D(x)", "D(G(z))", "sigma_mean"]) {
      assert.ok(Number.isFinite(r[k]), k);
    }
    assert.ok(r.d_loss >= 0, "the hinge loss is non-negative");
    assert.ok(r.sigma_mean > 0);
  }
  for (const f of ["real.png", "samples.png", "grids/epoch_001.png", "grids/epoch_002.png"]) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, 274, f);
    assert.equal(img.height, 274, f);
  }
  for (const f of ["losses.svg", "d_outputs.svg"]) {
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  const { tensors } = await loadCheckpoint(join(runA, "checkpoint"));
  const fresh = new Discriminator(new Rng(0, "init-D"), 1, QUICK_CONFIG.dChannels, 0.1);
  // (The dense layer has d_out = 1, so its ũ is the constant [1]; its ṽ moves.)
  for (const name of ["conv0_0/u", "conv3_0/v", "dense/v"]) {
    const saved = tensors.get(`D/${name}`);
    assert.ok(saved, `D/${name} in the checkpoint`);
    const init = fresh.namedVariables().find((v) => v.name === name)!.variable;
    assert.deepEqual(saved.shape, init.shape);
    assert.notDeepEqual(Array.from(saved.dataSync()), Array.from(init.dataSync()), "ũ moved");
  }
  const { images } = await sampleForEval(runA, 4);
  assert.deepEqual(images.shape, [4, 32, 32, 1]);
  for (const v of images.dataSync()) assert.ok(v >= -1 && v <= 1);
});

Deno.test("sngan: an interrupted run resumed from its checkpoint (ũ, ṽ included) ends identical", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--max-steps", "13"]);
  await main(["--quick", "--backend", BACKEND, "--out", runB, "--resume"]);
  for (const f of ["losses.jsonl", "grids/epoch_001.png", "grids/epoch_002.png", "samples.png"]) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
  const a = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  const b = JSON.parse(await Deno.readTextFile(join(runB, "manifest.json")));
  assert.deepEqual(b.extra.finalSigmas, a.extra.finalSigmas);
});

Deno.test("sngan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("sngan", runA);
});
