/**
 * `deno task check <paper> [run-dir]`: compares a run with the committed reference for the same
 * configuration, `results/<paper>/reference/<quick|paper>/`, and prints a pass/fail table.
 *
 * - Same backend, seed and config as the reference: every reference PNG must be byte-identical
 *   (our runs are deterministic per backend), and every metric equal.
 * - Otherwise (another backend, seed or config): metrics must agree within the stated tolerances
 *   (GAN training is chaotic, so different float rounding gives a different but equally good run).
 *
 * With no arguments (as part of `deno task check`, after type-checking) it only explains itself.
 *
 * @module
 */
import { join } from "node:path";
import { runMain } from "./cli.ts";
import { exists, readJsonFile, UserError } from "./fsutil.ts";
import { latestRun } from "./cite.ts";
import { Run } from "./run.ts";

/** Tolerance for one metric: |run − ref| ≤ abs + rel·|ref|. */
export interface Tolerance {
  /** Absolute allowance, in the metric's units. */
  abs: number;
  /** Relative allowance, as a fraction of |ref|. */
  rel: number;
}

/**
 * Tolerances by metric name (the last path component in metrics.json). Chosen from the spread of
 * repeated runs with different seeds; anything not listed must agree within 10 %.
 */
export const TOLERANCES: Record<string, Tolerance> = {
  fid: { abs: 2, rel: 0.3 },
  mean: { abs: 0.25, rel: 0.1 }, // inception-score mean
  std: { abs: 0.25, rel: 1 },
  classesCovered: { abs: 1, rel: 0 },
  entropy: { abs: 0.1, rel: 0.05 },
  normalizedEntropy: { abs: 0.05, rel: 0 },
  labelAccuracy: { abs: 0.05, rel: 0 },
};
const DEFAULT_TOLERANCE: Tolerance = { abs: 0, rel: 0.1 };

/** One row of the comparison table. */
export interface CheckRow {
  /**
   * What is compared: the setup, a file, or a metric path (prefixed `<file>:` outside
   * metrics.json).
   */
  check: string;
  /** The reference's value, as shown in the table. */
  reference: string;
  /** The run's value, as shown in the table ("missing" when absent). */
  run: string;
  /** The allowed difference, as shown (e.g. "byte-identical" or "±0.5"). */
  tolerance: string;
  /** Whether the run agrees with the reference within the tolerance. */
  pass: boolean;
}

/**
 * Flattens numeric leaves of a JSON value into "a.b.c" → number. Arrays of numbers (histograms,
 * per-class lists) are skipped — their entries are too noisy to compare one by one across backends;
 * arrays of objects (tables such as toy2d's modes.json) are flattened by index.
 */
export function flattenNumbers(
  v: unknown,
  prefix = "",
  out: Map<string, number> = new Map(),
): Map<string, number> {
  if (typeof v === "number") out.set(prefix, v);
  else if (Array.isArray(v)) {
    v.forEach((x, i) => {
      if (x && typeof x === "object") flattenNumbers(x, prefix ? `${prefix}.${i}` : String(i), out);
    });
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) flattenNumbers(x, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

function toleranceFor(path: string): Tolerance {
  return TOLERANCES[path.split(".").at(-1)!] ?? DEFAULT_TOLERANCE;
}

function readJson(path: string): Promise<unknown> {
  return readJsonFile(path, "run `deno task eval` on the run first?");
}

/** Files under `dir`, as sorted relative paths. */
async function listFiles(dir: string, sub = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, sub))) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else if (e.isFile) out.push(rel);
  }
  return out.sort();
}

type ManifestBackend = { name: string; device?: string; threads?: number };

/** Same numerics? wasm is bit-identical across thread counts; blas only for the same library
 * build, CPU kernel (both in `device`) and thread count. */
function sameBackend(a: ManifestBackend, b: ManifestBackend): boolean {
  if (a.name !== b.name) return false;
  return a.name !== "blas" || (a.device === b.device && a.threads === b.threads);
}

function backendLabel(b: ManifestBackend): string {
  return b.name === "blas" ? `blas (${b.threads} thread(s), ${b.device})` : b.name;
}

/** Compares `runDir` with `refDir`; returns the table rows. */
export async function compareRuns(refDir: string, runDir: string): Promise<CheckRow[]> {
  const ref = await Run.readManifest(refDir);
  const run = await Run.readManifest(runDir);
  const rows: CheckRow[] = [];
  const sameSetup = sameBackend(ref.backend, run.backend) && ref.seed === run.seed &&
    JSON.stringify(ref.config) === JSON.stringify(run.config);
  rows.push({
    check: "setup (backend, seed, config)",
    reference: `${backendLabel(ref.backend)}, seed ${ref.seed}`,
    run: `${backendLabel(run.backend)}, seed ${run.seed}`,
    tolerance: sameSetup ? "identical → bytes must match" : "differs → metric tolerances",
    pass: true,
  });
  const diff = configDifferences(ref.config, run.config);
  if (diff.length) {
    // Not a failure by itself, but the reason metric tolerances (chosen for seed and backend
    // spread) may not fit: the run trained something else. A few fields tell the story; the
    // manifests hold the rest.
    const shown = diff.slice(0, 4);
    const more = diff.length > shown.length ? `, … (${diff.length - shown.length} more)` : "";
    rows.push({
      check: "config differs (informational)",
      reference: shown.map((d) => `${d.key}=${d.reference}`).join(", ") + more,
      run: shown.map((d) => `${d.key}=${d.run}`).join(", ") + more,
      tolerance: "—",
      pass: true,
    });
  }
  const files = await listFiles(refDir);
  if (sameSetup) {
    // Figures and tables are deterministic per backend and seed: byte for byte.
    for (const name of files.filter((f) => /\.(png|svg|csv)$/.test(f))) {
      const a = await Deno.readFile(join(refDir, name));
      const path = join(runDir, name);
      const b = (await exists(path)) ? await Deno.readFile(path) : null;
      const same = b !== null && a.length === b.length && a.every((x, i) => x === b[i]);
      rows.push({
        check: name,
        reference: `${a.length} bytes`,
        run: b ? `${b.length} bytes` : "missing",
        tolerance: "byte-identical",
        pass: same,
      });
    }
  }
  // Every number in the reference's JSON files (metrics.json, and papers' own tables such as
  // toy2d's modes.json), by file and path.
  const jsons = files.filter((f) => f.endsWith(".json") && f !== "manifest.json");
  if (jsons.length === 0) {
    throw new UserError(`${refDir} holds no metrics (no .json besides the manifest)`);
  }
  for (const name of jsons) {
    const refMetrics = flattenNumbers(await readJson(join(refDir, name)));
    const runMetrics = flattenNumbers(await readJson(join(runDir, name)));
    const prefix = name === "metrics.json" ? "" : `${name}:`;
    for (const [k, r] of refMetrics) {
      if (k === "n") continue;
      const v = runMetrics.get(k);
      const tol = sameSetup ? { abs: 1e-6, rel: 1e-6 } : toleranceFor(k);
      const limit = tol.abs + tol.rel * Math.abs(r);
      rows.push({
        check: prefix + k,
        reference: fmt(r),
        run: v === undefined ? "missing" : fmt(v),
        tolerance: `±${fmt(limit)}`,
        pass: v !== undefined && Math.abs(v - r) <= limit,
      });
    }
  }
  return rows;
}

/** The top-level config fields where two runs differ, values as JSON. */
export function configDifferences(
  reference: unknown,
  run: unknown,
): { key: string; reference: string; run: string }[] {
  const a = (reference ?? {}) as Record<string, unknown>;
  const b = (run ?? {}) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys
    .map((key) => ({ key, reference: jsonOrAbsent(a[key]), run: jsonOrAbsent(b[key]) }))
    .filter((d) => d.reference !== d.run);
}

function jsonOrAbsent(v: unknown): string {
  return v === undefined ? "(absent)" : JSON.stringify(v);
}

/** Which committed reference a run is compared with: its config family, from the run id. */
export function referenceKind(m: { runId: string }): "quick" | "paper" {
  return m.runId.startsWith("quick") ? "quick" : "paper";
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4);
}

/** Renders rows as an aligned text table with a PASS/FAIL column. */
export function formatTable(rows: CheckRow[]): string {
  const header = ["check", "reference", "run", "tolerance", "result"];
  const cells = rows.map((
    r,
  ) => [r.check, r.reference, r.run, r.tolerance, r.pass ? "PASS" : "FAIL"]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/**
 * `deno task check <paper> [run-dir]`: finds the run (default: the latest under results/<paper>/)
 * and the reference of its config family, and compares them.
 */
export async function checkRun(
  paper: string,
  dir?: string,
  root = "results",
): Promise<{ runDir: string; refDir: string; rows: CheckRow[] }> {
  const runDir = dir ?? await latestRun(paper);
  if (!runDir) throw new UserError(`no run of ${paper} under results/${paper}/; pass a run dir`);
  const m = await Run.readManifest(runDir);
  if (m.paper !== paper) throw new UserError(`${runDir} is a ${m.paper} run, not ${paper}`);
  const kind = referenceKind(m);
  const refDir = join(root, paper, "reference", kind);
  if (!(await exists(join(refDir, "manifest.json")))) {
    throw new UserError(`no reference for the ${kind} config of ${paper} (expected ${refDir}/)`);
  }
  return { runDir, refDir, rows: await compareRuns(refDir, runDir) };
}

if (import.meta.main) {
  await runMain(async () => {
    const [paper, dir] = Deno.args;
    if (!paper) {
      console.log(
        "type-check passed. `deno task check <paper> [run-dir]` compares a run with " +
          "results/<paper>/reference/<quick|paper>/.",
      );
      return;
    }
    const { runDir, refDir, rows } = await checkRun(paper, dir);
    console.log(`${paper}: ${runDir} vs ${refDir}\n${formatTable(rows)}`);
    const failed = rows.filter((r) => !r.pass).length;
    if (failed > 0) throw new UserError(`${failed} check(s) failed`);
    console.log("all checks passed");
  });
}
