/**
 * Committed reference results: `results/<paper>/reference/<quick|paper>/`, one per config family,
 * made from a complete run with {@link promote}. A reference holds the run's manifest (seed,
 * config, backend, versions, commit, host), its metrics, its top-level figures and its final epoch
 * grid, plus a README.md saying how it was made. `deno task check <paper> [run]` (lib/compare.ts)
 * compares a new run with it; {@link resultsTable} renders every reference as the README's results
 * table.
 *
 *     deno task reference <run-dir>     copy a complete run into results/<paper>/reference/<kind>/
 *     deno task reference --readme      rewrite the README's results table from the references
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";
import { runMain } from "./cli.ts";
import { exists, UserError } from "./fsutil.ts";
import { type Manifest, Run } from "./run.ts";
import { referenceKind } from "./compare.ts";
import { evalDefaults, evaluateRun } from "./eval.ts";
import { selectBackend } from "./backend.ts";

/** Where the references live: `<root>/<paper>/reference/<kind>/`. */
export function referenceDir(root: string, paper: string, kind: "quick" | "paper"): string {
  return join(root, paper, "reference", kind);
}

/** Extensions of the top-level run files a reference keeps (figures and numbers, no checkpoint). */
const KEPT = [".png", ".svg", ".json", ".csv"];

/** Top-level figures left out: the animation and strip of every epoch grid (large, and redundant
 * with the final grid that is kept). */
const SKIPPED = ["progress.png", "epoch_series.png"];

/** The files of a run that go into its reference, as paths relative to the run directory. */
export async function referenceFiles(runDir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(runDir)) {
    if (e.isFile && KEPT.some((x) => e.name.endsWith(x)) && !SKIPPED.includes(e.name)) {
      files.push(e.name);
    }
  }
  // The last per-epoch grid: the state the paper's figures show.
  const grids = join(runDir, "grids");
  if (await exists(grids)) {
    const epochs: string[] = [];
    for await (const e of Deno.readDir(grids)) {
      if (e.isFile && /^epoch_\d+\.png$/.test(e.name)) epochs.push(e.name);
    }
    epochs.sort();
    if (epochs.length) files.push(join("grids", epochs.at(-1)!));
  }
  return files.sort();
}

/**
 * Copies the complete run at `runDir` into `<root>/<paper>/reference/<kind>/`, replacing what was
 * there in one rename (a stopped promotion leaves the old reference intact). Evaluates the run
 * first when it has no metrics.json and its paper can be evaluated.
 */
export async function promote(runDir: string, root = "results"): Promise<string> {
  const m = await Run.readManifest(runDir);
  if (m.status !== "complete") {
    throw new UserError(`${runDir} is not complete (status ${m.status}); finish it with --resume`);
  }
  const overridden = Object.keys(m.overrides ?? {});
  if (overridden.length) {
    throw new UserError(
      `${runDir} overrides the ${referenceKind(m)} config (${overridden.join(", ")}); ` +
        "a reference must come from the config as the script defines it",
    );
  }
  if (!(await exists(join(runDir, "metrics.json")))) {
    // Metrics on the run's own backend, so a same-setup check can demand equal numbers.
    const { backend, threads, n } = evalDefaults(m);
    await selectBackend(backend, threads);
    try {
      await evaluateRun(runDir, { n });
    } catch (e) {
      // Papers without classifier metrics (other datasets, toys) are kept with their own numbers.
      if (!(e instanceof UserError)) throw e;
      console.error(`[reference] no metrics.json: ${e.message}`);
    }
  }
  const dest = referenceDir(root, m.paper, referenceKind(m));
  const tmp = `${dest}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  const files = await referenceFiles(runDir);
  for (const f of files) {
    await Deno.mkdir(join(tmp, dirname(f)), { recursive: true });
    await Deno.copyFile(join(runDir, f), join(tmp, f));
  }
  // Classifier metrics come from `deno task eval` (a paper's own metrics.json, e.g. CycleGAN's,
  // is written by the run itself), so only then does re-running the check need that step.
  const metrics = join(runDir, "metrics.json");
  const evaluated = (await exists(metrics)) &&
    "runDir" in JSON.parse(await Deno.readTextFile(metrics));
  await Deno.writeTextFile(join(tmp, "README.md"), referenceReadme(m, files, evaluated));
  const old = `${dest}.old-${crypto.randomUUID().slice(0, 8)}`;
  if (await exists(dest)) await Deno.rename(dest, old);
  await Deno.rename(tmp, dest);
  if (await exists(old)) await Deno.remove(old, { recursive: true });
  return dest;
}

/**
 * How long a run trained, for tables: "1 h 23 min" / "4 min" / "12 s" (progress lines use the
 * compact `formatDuration` of lib/run.ts).
 */
export function humanDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const min = Math.round(seconds / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${String(min % 60)} min`;
}

/** The BLAS build line shortened to what decides the numerics: "OpenBLAS 0.3.21, Haswell". */
function shortDevice(backend: string, device: string): string {
  if (backend !== "blas") return device;
  const version = device.match(/OpenBLAS \S+/)?.[0];
  const core = device.match(/\(core (\S+)\)/)?.[1];
  return version ? [version, core].filter(Boolean).join(", ") : device;
}

/** "wasm, 1 thread, AMD EPYC ×2 (linux)": what the run ran on. */
export function hardwareLine(m: Manifest): string {
  const b = m.backend;
  const parts = [b.name + (b.device ? ` (${shortDevice(b.name, b.device)})` : "")];
  if (b.threads !== undefined) {
    // A run resumed with another thread count trained on both (bit-identical, but not as fast).
    const threads = b.threads;
    const all = [threads, ...(m.resumes ?? []).map((r) => r.backend.threads ?? threads)];
    const lo = Math.min(...all), hi = Math.max(...all);
    parts.push(lo === hi ? `${lo} thread${lo === 1 ? "" : "s"}` : `${lo}–${hi} threads`);
  }
  if (m.host) parts.push(`${m.host.cpu || m.host.arch} ×${m.host.cores} cores (${m.host.os})`);
  return parts.join(", ");
}

/** Where a run was resumed at another commit or thread count: traceable, not hidden. */
export function resumeLines(m: Manifest): string[] {
  if (!m.resumedAt.length) return [];
  const started = m.git?.commit;
  const startThreads = m.backend.threads;
  const commits = new Set<string>(), threads = new Set<number>();
  for (const r of m.resumes ?? []) {
    if (r.git && (r.git.commit !== started || r.git.dirty)) {
      commits.add(r.git.commit.slice(0, 8) + (r.git.dirty ? "+dirty" : ""));
    }
    if (r.backend.threads !== undefined && r.backend.threads !== (startThreads ?? 1)) {
      threads.add(r.backend.threads);
    }
  }
  const n = m.resumedAt.length;
  const notes = [
    ...(commits.size ? [`at commit ${[...commits].join(", ")}`] : []),
    ...(threads.size
      ? [`with ${[...threads].join(", ")} ${m.backend.name === "blas" ? "BLAS" : "wasm"} threads`]
      : []),
  ];
  return [
    `- resumed ${n} time${n === 1 ? "" : "s"} from its checkpoint` +
    (notes.length ? ` (${notes.join("; ")})` : ""),
  ];
}

function referenceReadme(m: Manifest, files: string[], evaluated: boolean): string {
  const commit = m.git
    ? `${m.git.commit}${m.git.dirty ? " (uncommitted changes)" : ""}`
    : "unknown";
  return [
    `# Reference: ${m.paper}, ${referenceKind(m)} config`,
    "",
    "Re-run it and compare (byte-identical figures on the same backend and seed):",
    "",
    "```sh",
    [
      ...m.command,
      ...(m.command.includes("--seed") ? [] : ["--seed", String(m.seed)]),
      ...(m.command.includes("--backend") ? [] : ["--backend", m.backend.name]),
    ].join(" "),
    ...(evaluated ? [`deno task eval results/${m.paper}/${m.runId}`] : []),
    `deno task check ${m.paper}`,
    "```",
    "",
    `- run: \`${m.runId}\`, seed ${m.seed}, commit ${commit}`,
    ...resumeLines(m),
    `- trained ${m.steps} steps / ${m.images} images in ${humanDuration(m.trainSeconds)}` +
    (m.imgPerSec ? ` (${m.imgPerSec} img/s)` : ""),
    `- on ${hardwareLine(m)}`,
    `- Deno ${m.versions.deno}, tfjs ${m.versions.tfjs}`,
    `- files: ${files.join(", ")}`,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The README's results table

/** One row of the results table. */
export interface ResultRow {
  /** The paper's id (its folder under `results/`). */
  paper: string;
  /** Which reference: the quick or the paper config. */
  kind: "quick" | "paper";
  /** Dataset name and image count, or "—". */
  dataset: string;
  /** Headline numbers ({@link metricsSummary}, {@link modesSummary} or {@link toysSummary}). */
  metrics: string;
  /** Training time, with the step count where recorded. */
  time: string;
  /** Backend and machine, as {@link hardwareLine} writes them. */
  hardware: string;
  /** The first 8 hex digits of the git commit, or "unknown". */
  commit: string;
}

/** The metrics a reader compares, from a reference's metrics.json (whatever the paper wrote). */
export function metricsSummary(metrics: Record<string, unknown> | null): string {
  if (!metrics) return "—";
  const out: string[] = [];
  const num = (x: unknown) => typeof x === "number" ? x : undefined;
  const fid = num(metrics.fid);
  if (fid !== undefined) out.push(`FD ${fid.toFixed(2)}`);
  const is = metrics.is as { mean?: number } | undefined;
  if (num(is?.mean) !== undefined) out.push(`IS ${is!.mean!.toFixed(2)}`);
  const cov = metrics.coverage as { classesCovered?: number } | undefined;
  if (num(cov?.classesCovered) !== undefined) out.push(`classes ${cov!.classesCovered}/10`);
  const acc = num(metrics.labelAccuracy);
  if (acc !== undefined) out.push(`label acc ${(100 * acc).toFixed(1)} %`);
  // CycleGAN's own metrics (papers/cyclegan.ts writes them; no FD for a translation).
  const accuracy = metrics.accuracy as { aToB?: number; ceiling?: number } | undefined;
  if (num(accuracy?.aToB) !== undefined) {
    out.push(
      `class kept A→B ${accuracy!.aToB!.toFixed(3)} (ceiling ${accuracy!.ceiling?.toFixed(3)})`,
    );
  }
  const psnr = num(metrics.cyclePsnrA);
  if (psnr !== undefined) out.push(`A→B→A PSNR ${psnr.toFixed(1)} dB`);
  return out.length ? out.join(", ") : "—";
}

/** A row of toy2d's modes.json. */
interface ModesRow {
  toy: string;
  method: string;
  recovered: number;
  modes: number;
}

/** "modes recovered 8gaussians: gan 1/8, wgan 0/8; …" from toy2d's table. */
export function modesSummary(rows: ModesRow[]): string {
  const byToy = new Map<string, string[]>();
  for (const r of rows) {
    byToy.set(r.toy, [...(byToy.get(r.toy) ?? []), `${r.method} ${r.recovered}/${r.modes}`]);
  }
  return "modes recovered " + [...byToy].map(([t, xs]) => `${t}: ${xs.join(", ")}`).join("; ");
}

/** The theory figures' headline numbers: the 1-D fit and the two KL fits (papers/toys.ts). */
export function toysSummary(
  gaussian: {
    target: { mean: number; std: number };
    generated: { mean: number; std: number };
  } | null,
  kl: { forward_kl_fit: { kl: number }; reverse_kl_fit: { kl: number } } | null,
): string {
  const out: string[] = [];
  if (gaussian) {
    const { target: t, generated: g } = gaussian;
    out.push(
      `1-D fit N(${g.mean.toFixed(2)}, ${g.std.toFixed(2)}²) for N(${t.mean}, ${t.std}²)`,
    );
  }
  if (kl) {
    out.push(
      `KL(p‖q) fit ${kl.forward_kl_fit.kl.toFixed(3)}, KL(q‖p) fit ${
        kl.reverse_kl_fit.kl.toFixed(3)
      }`,
    );
  }
  return out.join(", ");
}

/** Every committed reference under `root`, sorted by paper then kind. */
export async function resultRows(root = "results"): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  if (!(await exists(root))) return rows;
  for await (const p of Deno.readDir(root)) {
    if (!p.isDirectory) continue;
    for (const kind of ["paper", "quick"] as const) {
      const dir = referenceDir(root, p.name, kind);
      if (!(await exists(join(dir, "manifest.json")))) continue;
      const m = await Run.readManifest(dir);
      const readIf = async (name: string) =>
        (await exists(join(dir, name)))
          ? JSON.parse(await Deno.readTextFile(join(dir, name)))
          : null;
      const metrics = await readIf("metrics.json");
      const modes = await readIf("modes.json") as ModesRow[] | null; // toy2d's table
      const gaussian = await readIf("gaussian.json"), kl = await readIf("kl.json"); // toys
      const summary = modes
        ? modesSummary(modes)
        : gaussian || kl
        ? toysSummary(gaussian, kl)
        : metricsSummary(metrics);
      const ds = m.dataset ? `${m.dataset.name} (${m.dataset.n.toLocaleString("en")})` : "—";
      rows.push({
        paper: m.paper,
        kind,
        dataset: ds,
        metrics: summary,
        time: `${humanDuration(m.trainSeconds)}${m.steps ? `, ${m.steps} steps` : ""}`,
        hardware: hardwareLine(m),
        commit: m.git ? m.git.commit.slice(0, 8) : "unknown",
      });
    }
  }
  return rows.sort((a, b) => a.paper.localeCompare(b.paper) || a.kind.localeCompare(b.kind));
}

/** Markdown table of {@link resultRows}. */
export function resultsTable(rows: ResultRow[]): string {
  const head = [
    "paper",
    "config",
    "dataset (images)",
    "metrics",
    "train time",
    "hardware",
    "commit",
  ];
  const cells = rows.map((r) => [
    r.paper,
    r.kind === "paper" ? "default" : "`--quick`",
    r.dataset,
    r.metrics,
    r.time,
    r.hardware,
    `\`${r.commit}\``,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

const BEGIN = "<!-- results:begin (generated by `deno task reference --readme`) -->";
const END = "<!-- results:end -->";

/** `readme` with the text between the results markers replaced by `table`. */
export function withResultsTable(readme: string, table: string): string {
  const a = readme.indexOf(BEGIN), b = readme.indexOf(END);
  if (a < 0 || b < a) throw new UserError(`README.md lacks the markers ${BEGIN} … ${END}`);
  return `${readme.slice(0, a + BEGIN.length)}\n\n${table}\n\n${readme.slice(b)}`;
}

if (import.meta.main) {
  await runMain(async () => {
    const [arg] = Deno.args;
    if (arg === "--readme") {
      const readme = await Deno.readTextFile("README.md");
      // A plain write: the task may write README.md itself but not a temp file beside it.
      await Deno.writeTextFile(
        "README.md",
        withResultsTable(readme, resultsTable(await resultRows())),
      );
      console.log("README.md: results table updated");
      return;
    }
    if (!arg || Deno.args.length !== 1 || arg.startsWith("-")) {
      throw new UserError("usage: deno task reference <run-dir> | --readme");
    }
    const dest = await promote(arg);
    console.log(`${basename(arg)} → ${relative(".", dest)}`);
  });
}
