import assert from "node:assert/strict";
import { join } from "node:path";
import { checkRun, compareRuns, flattenNumbers, formatTable } from "../lib/compare.ts";
import { cite, manifestLine, suiteBibtex } from "../lib/cite.ts";
import type { Manifest } from "../lib/run.ts";
import { fakeManifest as manifest } from "./fixtures.ts";

async function makeRun(dir: string, m: Manifest, metrics: unknown, png?: Uint8Array) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(m));
  await Deno.writeTextFile(join(dir, "metrics.json"), JSON.stringify(metrics));
  if (png) await Deno.writeFile(join(dir, "final.png"), png);
}

Deno.test("compare: same setup requires identical bytes and metrics", async () => {
  const tmp = await Deno.makeTempDir();
  const metrics = { fid: 10, is: { mean: 8, std: 0.1 }, coverage: { classesCovered: 10 } };
  await makeRun(join(tmp, "ref"), manifest(), metrics, new Uint8Array([1, 2, 3]));
  await makeRun(join(tmp, "same"), manifest(), metrics, new Uint8Array([1, 2, 3]));
  await makeRun(join(tmp, "diff"), manifest(), metrics, new Uint8Array([1, 2, 4]));
  const ok = await compareRuns(join(tmp, "ref"), join(tmp, "same"));
  assert.ok(ok.every((r) => r.pass), formatTable(ok));
  const bad = await compareRuns(join(tmp, "ref"), join(tmp, "diff"));
  assert.deepEqual(bad.filter((r) => !r.pass).map((r) => r.check), ["final.png"]);
});

Deno.test("compare: another backend is judged by metric tolerances", async () => {
  const tmp = await Deno.makeTempDir();
  const ref = { fid: 10, coverage: { classesCovered: 10 } };
  await makeRun(join(tmp, "ref"), manifest(), ref, new Uint8Array([1]));
  const other = manifest({ backend: { name: "cpu", reason: "", device: "", kernels: [] } });
  await makeRun(join(tmp, "near"), other, { fid: 12.5, coverage: { classesCovered: 9 } });
  await makeRun(join(tmp, "far"), other, { fid: 20, coverage: { classesCovered: 7 } });
  const near = await compareRuns(join(tmp, "ref"), join(tmp, "near"));
  assert.ok(near.every((r) => r.pass), formatTable(near));
  assert.ok(!near.some((r) => r.check === "final.png"), "bytes are not compared across backends");
  const far = await compareRuns(join(tmp, "ref"), join(tmp, "far"));
  assert.deepEqual(far.filter((r) => !r.pass).map((r) => r.check), [
    "fid",
    "coverage.classesCovered",
  ]);
  assert.match(formatTable(far), /fid\s+10\s+20\s+±5\s+FAIL/);
  assert.ok(!near.some((r) => r.check.startsWith("config differs")), "same config: no config row");
});

Deno.test("compare: blas runs match byte for byte only with the same library and threads", async () => {
  const tmp = await Deno.makeTempDir();
  const metrics = { fid: 10, coverage: { classesCovered: 10 } };
  const blas = (threads: number, device = "OpenBLAS 0.3.21 (core Haswell)") =>
    manifest({ backend: { name: "blas", reason: "", device, kernels: [], threads } });
  await makeRun(join(tmp, "ref"), blas(2), metrics, new Uint8Array([1]));
  await makeRun(join(tmp, "same"), blas(2), metrics, new Uint8Array([1]));
  await makeRun(join(tmp, "threads"), blas(1), metrics, new Uint8Array([2]));
  await makeRun(join(tmp, "cpu"), blas(2, "OpenBLAS 0.3.21 (core SkylakeX)"), metrics);
  const same = await compareRuns(join(tmp, "ref"), join(tmp, "same"));
  assert.ok(same.some((r) => r.check === "final.png" && r.pass), formatTable(same));
  for (const other of ["threads", "cpu"]) {
    const rows = await compareRuns(join(tmp, "ref"), join(tmp, other));
    assert.ok(rows.every((r) => r.pass), formatTable(rows));
    assert.ok(!rows.some((r) => r.check === "final.png"), `${other}: no byte comparison`);
  }
});

Deno.test("compare: a run with another config says which fields differ", async () => {
  const tmp = await Deno.makeTempDir();
  const metrics = { fid: 10 };
  await makeRun(join(tmp, "ref"), manifest({ config: { epochs: 200, lr: 2e-4 } }), metrics);
  await makeRun(join(tmp, "run"), manifest({ config: { epochs: 10, lr: 2e-4 } }), metrics);
  const rows = await compareRuns(join(tmp, "ref"), join(tmp, "run"));
  const row = rows.find((r) => r.check.startsWith("config differs"));
  assert.ok(row, formatTable(rows));
  assert.equal(row.reference, "epochs=200");
  assert.equal(row.run, "epochs=10");
  assert.match(rows[0].tolerance, /metric tolerances/);
});

Deno.test("flattenNumbers keeps numeric leaves with dotted paths", () => {
  assert.deepEqual(
    [...flattenNumbers({ a: 1, b: { c: 2, d: "x", e: [1] }, f: [{ g: 3 }] })],
    [["a", 1], ["b.c", 2], ["f.0.g", 3]],
  );
});

Deno.test("cite: paper BibTeX, suite BibTeX with commit, and the manifest line", async () => {
  const tmp = await Deno.makeTempDir();
  await makeRun(tmp, manifest(), {});
  const text = await cite("gan", tmp);
  assert.match(text, /@inproceedings\{goodfellow2014gan,/);
  assert.match(text, /@software\{ganrepro,[\s\S]*commit 0123456789ab/);
  assert.match(text, /commit 0123456789ab, seed 0, backend wasm, tfjs 4\.22\.0/);
  await assert.rejects(() => cite("nosuchpaper", tmp), /no BibTeX for paper "nosuchpaper"/);
  assert.match(
    manifestLine(manifest({ git: null }), "d"),
    /^gan run d: commit unknown, seed 0, backend wasm/,
  );
  assert.match(
    suiteBibtex('title: "T"\nversion: 1.2.3\ndate-released: 2026-11-23\n'),
    /version = \{1\.2\.3\}[\s\S]*year\s+= \{2026\}/,
  );
});

Deno.test("referenceKind: quick runs are compared with the quick reference", async () => {
  const { referenceKind } = await import("../lib/compare.ts");
  assert.equal(referenceKind({ runId: "quick-mnist-seed0-wasm" }), "quick");
  assert.equal(referenceKind({ runId: "paper-mnist-seed0-wasm" }), "paper");
});

Deno.test("checkRun: finds the reference of the run's config family; refuses another paper's run", async () => {
  const tmp = await Deno.makeTempDir();
  const root = join(tmp, "results");
  await makeRun(join(root, "gan", "reference", "quick"), manifest({ runId: "quick-x" }), {
    fid: 1,
  });
  await makeRun(join(tmp, "run"), manifest({ runId: "quick-x" }), { fid: 1 });
  const { refDir, rows } = await checkRun("gan", join(tmp, "run"), root);
  assert.equal(refDir, join(root, "gan", "reference", "quick"));
  assert.ok(rows.every((r) => r.pass), formatTable(rows));
  await assert.rejects(() => checkRun("dcgan", join(tmp, "run"), root), /is a gan run, not dcgan/);
  await makeRun(join(tmp, "full"), manifest({ runId: "paper-x" }), { fid: 1 });
  await assert.rejects(
    () => checkRun("gan", join(tmp, "full"), root),
    /no reference for the paper config of gan/,
  );
});
