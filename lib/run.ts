/**
 * A training run's output folder and bookkeeping: `results/<paper>/<run-id>/` with
 *
 * - `manifest.json` — paper, config, seed, backend, versions, git commit, dataset checksum,
 *   start/end time, throughput: everything needed to cite or re-run the result;
 * - `losses.jsonl` — one JSON object per logged step;
 * - `grids/` — sample grids (PNG) from a fixed noise batch;
 * - `checkpoint/` — the last checkpoint, for `--resume`.
 *
 * Every file is written atomically. A resumed run truncates `losses.jsonl` back to its checkpoint,
 * so it ends byte-identical to an uninterrupted run.
 *
 * @module
 */
import { join } from "node:path";
import { tf, TFJS_VERSION } from "./tf.ts";
import { exists, UserError, writeFileAtomic } from "./fsutil.ts";
import type { BackendChoice } from "./backend.ts";
import {
  type CheckpointState,
  hasCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";

/** Dataset facts recorded in the manifest. */
export interface DatasetInfo {
  /** Loader name, e.g. "mnist" or "cifar10". */
  name: string;
  /** Number of images. */
  n: number;
  /** sha256 hex over the source files' bytes, in the order they were read. */
  checksum: string;
  /** Human-readable description of what was read (paths). */
  source: string;
}

/** The manifest written to `manifest.json`. */
export interface Manifest {
  /** The paper's id, e.g. "dcgan" (its folder under `results/`). */
  paper: string;
  /** The run's id: its folder name under `results/<paper>/`. */
  runId: string;
  /** "running", or "complete" once {@link Run.finish} ran (a resume sets it back to "running"). */
  status: "running" | "complete";
  /** The paper's configuration in force (a resume reuses it). */
  config: unknown;
  /** The random seed (`--seed`). */
  seed: number;
  /** The backend the run started on, and why it was chosen. */
  backend: BackendChoice;
  /** Deno, V8, TypeScript and tfjs versions the run started with. */
  versions: { deno: string; v8: string; typescript: string; tfjs: string };
  /** The machine: OS, architecture, CPU model (Linux) and logical cores; absent in old runs. */
  host?: HostInfo;
  /**
   * The checkout the run started at (`dirty`: uncommitted changes to tracked files); null outside a
   * git checkout or without git.
   */
  git: { commit: string; dirty: boolean } | null;
  /** The dataset trained on; null for papers without one. */
  dataset: DatasetInfo | null;
  /** Config fields set by flags away from the paper's (or quick) config; absent in old runs. */
  overrides?: Record<string, unknown>;
  /** The command that started the run, as `deno task reproduce <paper> ...`. */
  command: string[];
  /** When the run started (ISO 8601). */
  startTime: string;
  /** When the run completed (ISO 8601); null while running. */
  endTime: string | null;
  /** When each `--resume` happened (ISO 8601). */
  resumedAt: string[];
  /**
   * Each resume's checkout and backend (parallel to the end of `resumedAt`; absent in old runs),
   * so a run continued at another commit or thread count says so.
   */
  resumes?: ResumeInfo[];
  /** Training steps completed. */
  steps: number;
  /** Images processed by the training steps so far. */
  images: number;
  /** Training time in seconds, summed over resumes. */
  trainSeconds: number;
  /**
   * Training throughput in img/s (`images / trainSeconds`, to 0.1), set when the run finishes; null
   * before, or when no time was recorded.
   */
  imgPerSec: number | null;
  /** Paper-specific results recorded by {@link Run.finish}. */
  extra: Record<string, unknown>;
}

/** What a `--resume` ran with. */
export interface ResumeInfo {
  /** The checkout at the resume; see {@link Manifest.git}. */
  git: Manifest["git"];
  /** The backend resumed on, and its wasm thread count where set. */
  backend: { name: string; threads?: number };
}

/** Where a run ran, for the results table and citations. */
export interface HostInfo {
  /** Operating system, as `Deno.build.os`. */
  os: string;
  /** CPU architecture, as `Deno.build.arch`. */
  arch: string;
  /** CPU model name from /proc/cpuinfo, or "" where it cannot be read. */
  cpu: string;
  /** Logical cores, as `navigator.hardwareConcurrency`. */
  cores: number;
}

/** This machine's {@link HostInfo}. */
export async function hostInfo(): Promise<HostInfo> {
  let cpu = "";
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    cpu = text.match(/^model name\s*:\s*(.+)$/m)?.[1].trim() ?? "";
  } catch {
    // not Linux, or no read permission: left empty rather than guessed
  }
  return { os: Deno.build.os, arch: Deno.build.arch, cpu, cores: navigator.hardwareConcurrency };
}

async function gitInfo(): Promise<Manifest["git"]> {
  try {
    const run = async (args: string[]) => {
      const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
      if (!out.success) throw new Error("git failed");
      return new TextDecoder().decode(out.stdout).trim();
    };
    const commit = await run(["rev-parse", "HEAD"]);
    const dirty = (await run(["status", "--porcelain", "--untracked-files=no"])).length > 0;
    return { commit, dirty };
  } catch {
    return null; // not a git checkout, or git not allowed/installed: recorded as null, not guessed
  }
}

/** Options to open a run. */
export interface OpenRunOptions {
  /** The paper's id, e.g. "dcgan". */
  paper: string;
  /** The run's id (the folder name under `results/<paper>/`). */
  runId: string;
  /** Run directory; default `results/<paper>/<runId>`. */
  dir?: string;
  /** The configuration to record; a resume keeps the one in the manifest. */
  config: unknown;
  /** The random seed to record. */
  seed: number;
  /** The selected backend to record. */
  backend: BackendChoice;
  /** The loaded dataset (a resume warns when its checksum changed); omitted or null without one. */
  dataset?: DatasetInfo | null;
  /** See {@link Manifest.overrides}. */
  overrides?: Record<string, unknown>;
  /** Reopen the existing run and its checkpoint instead of creating a new one. */
  resume: boolean;
  /** Delete an existing run directory first. */
  fresh?: boolean;
}

/** An open run directory. */
export class Run {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    /** The checkpoint to continue from, when resuming. */
    readonly resumeFrom: { tensors: Map<string, tf.Tensor>; state: CheckpointState } | null,
  ) {}

  /** Reads a run's manifest; a clear error when there is none (e.g. `--resume` on a new dir). */
  static async readManifest(dir: string): Promise<Manifest> {
    const path = join(dir, "manifest.json");
    if (!(await exists(path))) {
      throw new UserError(`--resume: no run at ${dir} (start it without --resume first)`);
    }
    try {
      return JSON.parse(await Deno.readTextFile(path)) as Manifest;
    } catch {
      throw new UserError(`corrupt run manifest ${path}: not JSON`);
    }
  }

  /** Creates (or, with `resume`, reopens) a run directory. */
  static async open(o: OpenRunOptions): Promise<Run> {
    const dir = o.dir ?? join("results", o.paper, o.runId);
    const manifestPath = join(dir, "manifest.json");
    if (o.fresh) await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (o.resume) {
      const manifest = await Run.readManifest(dir);
      if (manifest.paper !== o.paper) {
        throw new UserError(`--resume: ${dir} is a ${manifest.paper} run, not ${o.paper}`);
      }
      if (o.dataset && manifest.dataset && manifest.dataset.checksum !== o.dataset.checksum) {
        console.error(`warning: the dataset differs from the one this run started with`);
      }
      const threads = o.backend.threads;
      if (manifest.backend.name === o.backend.name && manifest.backend.threads !== threads) {
        console.error(
          o.backend.name === "blas"
            ? `warning: resuming with ${threads} BLAS thread(s) (started with ` +
              `${manifest.backend.threads}); OpenBLAS sums differ across thread counts, so ` +
              "results will not be bit-identical to an uninterrupted run"
            : `note: resuming with ${threads} thread(s) (started with ${manifest.backend.threads}); ` +
              "wasm results are bit-identical across thread counts, img/s is not",
        );
      }
      if (manifest.backend.name !== o.backend.name) {
        console.error(
          `warning: resuming a ${manifest.backend.name} run on ${o.backend.name}; ` +
            "results will not be bit-identical to an uninterrupted run",
        );
      }
      const ckpt = (await hasCheckpoint(join(dir, "checkpoint")))
        ? await loadCheckpoint(join(dir, "checkpoint"))
        : null;
      const git = await gitInfo();
      if (manifest.git && git && manifest.git.commit !== git.commit) {
        console.error(
          `warning: this run started at commit ${
            manifest.git.commit.slice(0, 12)
          } and resumes at ` +
            `${git.commit.slice(0, 12)}; both are recorded in the manifest`,
        );
      }
      manifest.status = "running";
      manifest.endTime = null;
      manifest.resumedAt.push(new Date().toISOString());
      manifest.resumes = [
        ...(manifest.resumes ?? []),
        { git, backend: { name: o.backend.name, threads } },
      ];
      const run = new Run(dir, manifest, ckpt);
      await run.truncateLosses(ckpt ? Number(ckpt.state.step) : 0);
      await run.writeManifest();
      return run;
    }
    if (await exists(manifestPath)) {
      throw new UserError(
        `${dir} already holds a run: pass --resume to continue it, --fresh to start over, ` +
          "or --out to write elsewhere",
      );
    }
    const manifest: Manifest = {
      paper: o.paper,
      runId: o.runId,
      status: "running",
      config: o.config,
      seed: o.seed,
      backend: o.backend,
      versions: {
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        typescript: Deno.version.typescript,
        tfjs: TFJS_VERSION,
      },
      host: await hostInfo(),
      git: await gitInfo(),
      dataset: o.dataset ?? null,
      overrides: o.overrides ?? {},
      command: ["deno", "task", "reproduce", o.paper, ...Deno.args.filter((a) => a !== o.paper)],
      startTime: new Date().toISOString(),
      endTime: null,
      resumedAt: [],
      steps: 0,
      images: 0,
      trainSeconds: 0,
      imgPerSec: null,
      extra: {},
    };
    const run = new Run(dir, manifest, null);
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, "losses.jsonl"), "");
    await run.writeManifest();
    return run;
  }

  /** Path of a file inside the run directory. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Writes the manifest (atomically). */
  writeManifest(): Promise<void> {
    return writeFileAtomic(
      this.path("manifest.json"),
      JSON.stringify(this.manifest, null, 2) + "\n",
    );
  }

  #pending: string[] = [];

  /** Queues one loss record; records reach disk at the next {@link Run.flushLosses}/checkpoint. */
  logLosses(record: Record<string, number>): void {
    this.#pending.push(JSON.stringify(record));
  }

  /** Appends queued loss records to `losses.jsonl`. */
  async flushLosses(): Promise<void> {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("\n") + "\n";
    this.#pending = [];
    await Deno.writeTextFile(this.path("losses.jsonl"), text, { append: true });
  }

  /** Reads back all loss records. */
  async readLosses(): Promise<Record<string, number>[]> {
    const text = await Deno.readTextFile(this.path("losses.jsonl")).catch(() => "");
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  /** Keeps only the loss records up to `step`, the step a resume continues from. */
  private async truncateLosses(step: number): Promise<void> {
    const kept = (await this.readLosses()).filter((r) => r.step <= step);
    await writeFileAtomic(
      this.path("losses.jsonl"),
      kept.map((r) => JSON.stringify(r) + "\n").join(""),
    );
  }

  /** Saves a checkpoint (flushes losses first so the log and the weights agree). */
  async checkpoint(tensors: Map<string, tf.Tensor>, state: CheckpointState): Promise<void> {
    await this.flushLosses();
    await saveCheckpoint(this.path("checkpoint"), tensors, state);
    for (const t of tensors.values()) t.dispose();
    await this.writeManifest();
  }

  /** Records throughput and marks the run complete. */
  async finish(extra: Record<string, unknown> = {}): Promise<void> {
    await this.flushLosses();
    this.manifest.status = "complete";
    this.manifest.endTime = new Date().toISOString();
    this.manifest.imgPerSec = this.manifest.trainSeconds > 0
      ? Math.round(this.manifest.images / this.manifest.trainSeconds * 10) / 10
      : null;
    Object.assign(this.manifest.extra, extra);
    await this.writeManifest();
  }
}

/** Human-readable duration, e.g. "1h02m" or "45s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * Work done before step `step` (0 ≤ step ≤ total), in any unit that is proportional to time, for
 * runs whose steps differ in cost (WGAN's 100-critic-iteration generator steps).
 */
export type WorkBefore = (step: number) => number;

/**
 * Seconds left after `step` of `totalSteps`, from `seconds` spent on the steps since `startStep`:
 * the remaining work at the rate measured so far. Work defaults to one unit per step; Infinity
 * until something was done.
 */
export function etaSeconds(
  seconds: number,
  startStep: number,
  step: number,
  totalSteps: number,
  work: WorkBefore = (s) => s,
): number {
  const done = work(step) - work(startStep);
  return done > 0 ? (work(totalSteps) - work(step)) * seconds / done : Infinity;
}

/**
 * Progress on stderr: epoch/step, losses, img/s and ETA, at most every `intervalMs`.
 */
export class Progress {
  #last = 0;
  #start = performance.now();
  #done = 0;

  /**
   * Prints lines tagged `[label]` for a run of `totalSteps` steps, resumed at `startStep` (the ETA
   * counts from there), at most every `intervalMs` milliseconds (default 2000). `work` weighs
   * steps of unequal cost for the ETA (default: all equal).
   */
  constructor(
    readonly label: string,
    readonly totalSteps: number,
    readonly startStep = 0,
    readonly intervalMs = 2000,
    readonly work?: WorkBefore,
  ) {}

  /** Reports step `step` (1-based, global) with `images` processed since the last report. */
  update(
    step: number,
    epoch: number,
    epochs: number,
    images: number,
    values: Record<string, number>,
    force = false,
  ): void {
    this.#done += images;
    const now = performance.now();
    if (!force && now - this.#last < this.intervalMs && step !== this.totalSteps) return;
    this.#last = now;
    const secs = (now - this.#start) / 1000;
    const imgPerSec = this.#done / Math.max(secs, 1e-9);
    const eta = etaSeconds(secs, this.startStep, step, this.totalSteps, this.work);
    const vals = Object.entries(values).map(([k, v]) => `${k} ${v.toFixed(4)}`).join("  ");
    console.error(
      `[${this.label}] epoch ${epoch}/${epochs} step ${step}/${this.totalSteps}  ${vals}  ` +
        `${imgPerSec.toFixed(1)} img/s  ETA ${formatDuration(eta)}`,
    );
  }
}

/** Throws a one-line error when any value is NaN/Infinity, naming the step (the brief: stop and report). */
export function assertFinite(values: Record<string, number>, epoch: number, step: number): void {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isFinite(v)) {
      const all = Object.entries(values).map(([a, b]) => `${a}=${b}`).join(", ");
      throw new UserError(`${k} became ${v} at epoch ${epoch} step ${step} (${all}); stopping`);
    }
  }
}
