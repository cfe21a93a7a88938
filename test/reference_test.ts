import assert from "node:assert/strict";
import { join } from "node:path";
import {
  hardwareLine,
  humanDuration,
  metricsSummary,
  modesSummary,
  promote,
  referenceFiles,
  resultRows,
  resultsTable,
  resumeLines,
  toysSummary,
  withResultsTable,
} from "../lib/reference.ts";
import { compareRuns, formatTable } from "../lib/compare.ts";
import { fakeManifest } from "./fixtures.ts";
import type { Manifest } from "../lib/run.ts";

async function fakeRun(dir: string, m: Partial<Manifest>, metrics: unknown) {
  await Deno.mkdir(join(dir, "grids"), { recursive: true });
  await Deno.mkdir(join(dir, "checkpoint"), { recursive: true });
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(fakeManifest(m)));
  await Deno.writeTextFile(join(dir, "metrics.json"), JSON.stringify(metrics));
  const figures = [
    "real.png",
    "losses.svg",
    "progress.png",
    "grids/epoch_001.png",
    "grids/epoch_002.png",
  ];
  for (const f of figures) {
    await Deno.writeFile(join(dir, f), new TextEncoder().encode(f));
  }
  await Deno.writeTextFile(join(dir, "checkpoint", "model.json"), "{}");
  await Deno.writeTextFile(join(dir, "losses.jsonl"), "{}\n");
  await Deno.writeTextFile(join(dir, "index.html"), "<html></html>");
}

Deno.test("promote: keeps manifest, metrics, figures and the last grid; replaces atomically", async () => {
  const tmp = await Deno.makeTempDir();
  const run = join(tmp, "run"), root = join(tmp, "results");
  const metrics = { fid: 3.5, is: { mean: 8.1, std: 0.2 }, coverage: { classesCovered: 10 } };
  await fakeRun(run, { runId: "paper-mnist-seed0-wasm" }, metrics);
  assert.deepEqual(await referenceFiles(run), [
    "grids/epoch_002.png",
    "losses.svg",
    "manifest.json",
    "metrics.json",
    "real.png",
  ]);
  const dest = await promote(run, root);
  assert.equal(dest, join(root, "gan", "reference", "paper"));
  const kept = [];
  for await (const e of Deno.readDir(dest)) kept.push(e.name);
  assert.deepEqual(kept.sort(), [
    "README.md",
    "grids",
    "losses.svg",
    "manifest.json",
    "metrics.json",
    "real.png",
  ]);
  assert.match(
    await Deno.readTextFile(join(dest, "README.md")),
    /deno task reproduce gan --seed 0 --backend wasm|seed 0, commit 0123456789ab/,
  );
  // The reference checks out against its own run: same setup → bytes and metrics.
  const rows = await compareRuns(dest, run);
  assert.ok(rows.every((r) => r.pass), formatTable(rows));
  assert.ok(rows.some((r) => r.check === "grids/epoch_002.png"), "nested PNGs are compared");
  // A paper's own metrics need no eval step to re-check; classifier metrics (written by `deno task
  // eval`, which records the run dir) do, and the README says so with the run's path.
  assert.doesNotMatch(await Deno.readTextFile(join(dest, "README.md")), /deno task eval/);
  await Deno.writeTextFile(
    join(run, "metrics.json"),
    JSON.stringify({ ...metrics, runDir: run, n: 10000 }),
  );
  // Promoting again replaces the reference whole and leaves no temp directories.
  await Deno.writeFile(join(run, "real.png"), new Uint8Array([9]));
  await promote(run, root);
  assert.deepEqual(await Deno.readFile(join(dest, "real.png")), new Uint8Array([9]));
  assert.match(
    await Deno.readTextFile(join(dest, "README.md")),
    /\ndeno task eval results\/gan\/paper-mnist-seed0-wasm\ndeno task check gan\n/,
  );
  const siblings = [];
  for await (const e of Deno.readDir(join(root, "gan", "reference"))) siblings.push(e.name);
  assert.deepEqual(siblings, ["paper"]);
  // An unfinished run is refused.
  await fakeRun(join(tmp, "running"), { status: "running" }, metrics);
  await assert.rejects(() => promote(join(tmp, "running"), root), /not complete/);
  // So is a run whose flags changed the config: a reference is the script's own config.
  await fakeRun(join(tmp, "short"), { overrides: { epochs: 10 } }, metrics);
  await assert.rejects(
    () => promote(join(tmp, "short"), root),
    /overrides the paper config \(epochs\)/,
  );
});

Deno.test("results table: one row per reference, metrics summarized, README markers", async () => {
  const tmp = await Deno.makeTempDir();
  const root = join(tmp, "results");
  const host = { os: "linux", arch: "x86_64", cpu: "AMD EPYC", cores: 2 };
  await fakeRun(join(tmp, "q"), { runId: "quick-x", host, trainSeconds: 12.4 }, {
    fid: 40.123,
    is: { mean: 5.5 },
    coverage: { classesCovered: 9 },
    labelAccuracy: 0.8771,
  });
  await promote(join(tmp, "q"), root);
  const rows = await resultRows(root);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].kind, "quick");
  assert.equal(rows[0].metrics, "FD 40.12, IS 5.50, classes 9/10, label acc 87.7 %");
  assert.equal(rows[0].hardware, "wasm, AMD EPYC ×2 cores (linux)");
  assert.equal(rows[0].time, "12 s, 10 steps");
  const table = resultsTable(rows);
  assert.match(table, /^\| paper +\| config/);
  assert.match(table, /\| gan +\| `--quick` \| mnist \(60,000\)/);
  const readme = "x\n<!-- results:begin (generated by `deno task reference --readme`) -->\nold\n" +
    "<!-- results:end -->\ny\n";
  const updated = withResultsTable(readme, table);
  assert.ok(updated.includes(table) && !updated.includes("old") && updated.endsWith("y\n"));
  assert.equal(withResultsTable(updated, table), updated);
  assert.throws(() => withResultsTable("no markers", table), /lacks the markers/);
  assert.equal(
    metricsSummary({ accuracy: { aToB: 0.88, ceiling: 0.971 }, cyclePsnrA: 17.61 }),
    "class kept A→B 0.880 (ceiling 0.971), A→B→A PSNR 17.6 dB",
  );
  assert.equal(metricsSummary(null), "—");
  assert.equal(
    toysSummary(
      { target: { mean: 4, std: 1.25 }, generated: { mean: 4.07298, std: 1.17 } },
      { forward_kl_fit: { kl: 0.597125 }, reverse_kl_fit: { kl: 0.509536 } },
    ),
    "1-D fit N(4.07, 1.17²) for N(4, 1.25²), KL(p‖q) fit 0.597, KL(q‖p) fit 0.510",
  );
  assert.equal(
    modesSummary([
      { toy: "8gaussians", method: "gan", recovered: 1, modes: 8 },
      { toy: "8gaussians", method: "wgan-gp", recovered: 7, modes: 8 },
      { toy: "25gaussians", method: "gan", recovered: 20, modes: 25 },
    ]),
    "modes recovered 8gaussians: gan 1/8, wgan-gp 7/8; 25gaussians: gan 20/25",
  );
  assert.deepEqual([5, 90, 4000].map(humanDuration), ["5 s", "2 min", "1 h 7 min"]);
});

Deno.test("README's results table matches the committed references", async () => {
  const readme = await Deno.readTextFile("README.md");
  const table = resultsTable(await resultRows("results"));
  assert.equal(
    withResultsTable(readme, table),
    readme,
    "README.md is stale: run `deno task reference --readme`",
  );
});

Deno.test("resumeLines: says when a run was resumed at another commit or thread count", () => {
  const git = (commit: string, dirty = false) => ({ commit, dirty });
  const base = fakeManifest({ git: git("a".repeat(40)) });
  assert.deepEqual(resumeLines(base), []);
  const same = { git: git("a".repeat(40)), backend: { name: "wasm", threads: 1 } };
  assert.deepEqual(resumeLines({ ...base, resumedAt: ["t"], resumes: [same] }), [
    "- resumed 1 time from its checkpoint",
  ]);
  const other = { git: git("b".repeat(40), true), backend: { name: "wasm", threads: 2 } };
  assert.deepEqual(
    resumeLines({
      ...base,
      backend: { ...base.backend, threads: 1 } as Manifest["backend"],
      resumedAt: ["t", "u"],
      resumes: [same, other],
    }),
    ["- resumed 2 times from its checkpoint (at commit bbbbbbbb+dirty; with 2 wasm threads)"],
  );
  const mixed = {
    ...base,
    backend: { ...base.backend, threads: 1 } as Manifest["backend"],
    resumes: [same, other],
  };
  assert.match(hardwareLine(mixed), /^wasm, 1–2 threads/);
  assert.match(hardwareLine({ ...mixed, resumes: [same] }), /^wasm, 1 thread\b/);
  const blas = {
    ...base,
    backend: {
      name: "blas",
      reason: "",
      kernels: [],
      threads: 2,
      device:
        "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64 (core Haswell)",
    } as Manifest["backend"],
  };
  assert.match(hardwareLine(blas), /^blas \(OpenBLAS 0\.3\.21, Haswell\), 2 threads/);
});
