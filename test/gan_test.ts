/**
 * End-to-end: `gan --quick` runs, writes valid outputs, is deterministic per seed and backend,
 * resumes bit-identically, and rejects bad input with one-line errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../papers/gan.ts";
import { decodePng } from "../lib/image.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const BACKEND = "wasm";

async function readJsonl(path: string) {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

async function runCli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run=git",
      "lib/reproduce.ts",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const tmp = await Deno.makeTempDir({ prefix: "gan_test_" });
const runA = join(tmp, "a"), runB = join(tmp, "b"), runC = join(tmp, "c");

Deno.test("gan --quick writes every figure, valid PNG/JSON/SVG", async () => {
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", runA]));
  const manifest = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.equal(manifest.paper, "gan");
  assert.equal(manifest.status, "complete");
  assert.equal(manifest.seed, 0);
  assert.equal(manifest.backend.name, BACKEND);
  assert.equal(manifest.config.epochs, 2);
  assert.equal(manifest.steps, 128);
  assert.equal(manifest.images, 4096 * 2);
  assert.match(manifest.dataset.checksum, /^[0-9a-f]{64}$/);
  assert.ok(manifest.imgPerSec > 0);
  assert.equal(manifest.versions.tfjs, "4.22.0");
  const losses = await readJsonl(join(runA, "losses.jsonl"));
  assert.equal(losses.length, 128);
  assert.deepEqual(losses.map((r) => r.step), Array.from({ length: 128 }, (_, i) => i + 1));
  for (const r of losses) {
    for (const k of ["d_loss", "g_loss", "D(x)", "D(G(z))"]) assert.ok(Number.isFinite(r[k]), k);
    assert.ok(r["D(x)"] > 0 && r["D(x)"] < 1);
  }
  // 5×5 grids of 28×28 with padding 2: 5·30 + 2 = 152 pixels square.
  for (
    const f of [
      "real.png",
      "grids/epoch_001.png",
      "grids/epoch_002.png",
      "samples_bn-train.png",
      "samples_bn-eval.png",
      "batches/000000.png",
      "batches/000048.png",
    ]
  ) {
    const img = decodePng(await Deno.readFile(join(runA, f)));
    assert.equal(img.width, 152, f);
    assert.equal(img.height, 152, f);
  }
  assert.match(await Deno.readTextFile(join(runA, "index.html")), /<h2>Figures<\/h2>/);
  const series = decodePng(await Deno.readFile(join(runA, "epoch_series.png")));
  assert.equal(series.width, 152 * 2 + 4);
  const apng = await Deno.readFile(join(runA, "progress.png"));
  assert.ok(new TextDecoder("latin1").decode(apng.subarray(0, 200)).includes("acTL"));
  for (const f of ["losses.svg", "d_outputs.svg"]) {
    assert.ok((await Deno.stat(join(runA, f.replace(".svg", ".png")))).size > 0);
    const svg = await Deno.readTextFile(join(runA, f));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  }
  // No temp files left behind.
  for await (const e of Deno.readDir(runA)) assert.ok(!e.name.includes(".tmp-"), e.name);
});

Deno.test("same seed and backend give byte-identical grids and losses; another seed differs", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runB]);
  for (
    const f of ["grids/epoch_002.png", "samples_bn-eval.png", "batches/000048.png", "losses.jsonl"]
  ) {
    assert.deepEqual(await Deno.readFile(join(runB, f)), await Deno.readFile(join(runA, f)), f);
  }
  const other = join(tmp, "seed1");
  await main(["--quick", "--backend", BACKEND, "--seed", "1", "--epochs", "1", "--out", other]);
  // The flag is recorded as an override and named in the run id, so this run can never pass for
  // (or be promoted as) the quick config.
  const m = JSON.parse(await Deno.readTextFile(join(other, "manifest.json")));
  assert.deepEqual(m.overrides, { epochs: 1 });
  assert.equal(m.runId, `quick-mnist-non-saturating-epochs1-seed1-${m.backend.name}`);
  const ref = JSON.parse(await Deno.readTextFile(join(runA, "manifest.json")));
  assert.deepEqual(ref.overrides, {});
  assert.notDeepEqual(
    await Deno.readFile(join(other, "grids/epoch_001.png")),
    await Deno.readFile(join(runA, "grids/epoch_001.png")),
  );
});

Deno.test("an interrupted run resumed from its checkpoint ends identical to an uninterrupted one", async () => {
  await main(["--quick", "--backend", BACKEND, "--out", runC, "--max-steps", "21"]);
  const partial = JSON.parse(await Deno.readTextFile(join(runC, "manifest.json")));
  assert.equal(partial.status, "running");
  assert.equal(partial.steps, 21);
  // Refuses to overwrite silently.
  await assert.rejects(
    () => main(["--quick", "--backend", BACKEND, "--out", runC]),
    /already holds a run: pass --resume/,
  );
  await main(["--quick", "--backend", BACKEND, "--out", runC, "--resume"]);
  for (
    const f of [
      "grids/epoch_001.png",
      "grids/epoch_002.png",
      "samples_bn-train.png",
      "batches/000048.png",
      "losses.jsonl",
      "progress.png",
    ]
  ) {
    assert.deepEqual(await Deno.readFile(join(runC, f)), await Deno.readFile(join(runA, f)), f);
  }
  const m = JSON.parse(await Deno.readTextFile(join(runC, "manifest.json")));
  assert.equal(m.status, "complete");
  assert.equal(m.resumedAt.length, 1);
  assert.equal(m.resumes.length, 1, "each resume records the checkout and backend it ran on");
  assert.deepEqual(m.resumes[0].backend, { name: BACKEND, threads: 1 });
});

Deno.test({
  name: "SIGINT mid-run: checkpoint after the current step, exit 130; --resume ends identical",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = join(tmp, "sigint");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "--allow-env", "lib/reproduce.ts", "gan"]
        .concat(["--quick", "--backend", BACKEND, "--out", dir]),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Interrupt once training is under way (after the first progress line).
    let stderr = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk);
      if (/step \d+\/\d+/.test(stderr) && !stderr.includes("SIGINT")) {
        child.kill("SIGINT");
        stderr += "SIGINT sent\n";
      }
    }
    const status = await child.status;
    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /stopped at step (\d+) \(SIGINT\); continue with --resume/);
    const m = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
    assert.equal(m.status, "running");
    assert.ok(m.steps > 0 && m.steps < 128, `stopped mid-run, at step ${m.steps}`);
    const ckpt = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint", "model.json")));
    assert.equal(ckpt.userDefinedMetadata.step, m.steps, "the checkpoint is of the last step");
    await main(["--quick", "--backend", BACKEND, "--out", dir, "--resume"]);
    for (const f of ["grids/epoch_002.png", "losses.jsonl"]) {
      assert.deepEqual(await Deno.readFile(join(dir, f)), await Deno.readFile(join(runA, f)), f);
    }
  },
});

Deno.test("bad input: one-line errors and non-zero exit", async () => {
  const corrupt = join(tmp, "corrupt");
  await Deno.mkdir(corrupt);
  for (const f of ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]) {
    await Deno.writeFile(join(corrupt, f), new Uint8Array([0, 0, 8, 3, 0, 0, 0, 9]));
  }
  const cases: [string[], RegExp][] = [
    [["gan", "--bogus"], /^error: unknown flag --bogus for gan \(see --help\)\n$/],
    [["nosuchpaper"], /^error: unknown paper "nosuchpaper" \(expected one of .*gan.*\)\n$/],
    [[
      "gan",
      "--quick",
      "--dataset",
      "fashion-mnist",
      "--data-dir",
      join(tmp, "missing"),
      "--out",
      join(tmp, "x"),
    ], /^error: .*fashion.*\n$/i],
    [
      ["gan", "--quick", "--data-dir", corrupt, "--out", join(tmp, "y")],
      /^error: corrupt IDX file .*train-images-idx3-ubyte.*\n$/,
    ],
    [
      ["gan", "--quick", "--out", join(tmp, "nothing"), "--resume"],
      /^error: --resume: no run at .*\n$/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 1, args.join(" ") + "\n" + r.stderr);
    const lastLine = r.stderr.split("\n").filter((l) => l.startsWith("error:")).join("\n") + "\n";
    assert.match(lastLine, re, r.stderr);
    assert.ok(!r.stderr.includes("    at "), "no stack trace: " + r.stderr);
  }
});

Deno.test("sampleForEval rebuilds G from the checkpoint and samples in [-1, 1]", async () => {
  const { sampleForEval } = await import("../papers/gan.ts");
  const { images } = await sampleForEval(runA, 10);
  assert.deepEqual(images.shape, [10, 28, 28, 1]);
  const v = images.dataSync();
  assert.ok(v.every((x) => x >= -1 && x <= 1));
  const again = (await sampleForEval(runA, 10)).images.dataSync();
  assert.deepEqual(Array.from(again), Array.from(v));
});

Deno.test("wasm with 2 threads trains to the same bytes as 1 thread", async () => {
  // Threads must be chosen before the wasm backend starts, so this runs in a fresh process.
  const dir = join(tmp, "threads2");
  const r = await runCli([
    "gan",
    "--quick",
    "--backend",
    BACKEND,
    "--threads",
    "2",
    "--epochs",
    "1",
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backend wasm: requested; 2 threads/);
  assert.deepEqual(
    await Deno.readFile(join(dir, "grids/epoch_001.png")),
    await Deno.readFile(join(runA, "grids/epoch_001.png")),
  );
});

Deno.test("gan --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("gan", runA);
});
