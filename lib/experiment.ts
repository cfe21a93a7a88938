/**
 * What every paper script does around its algorithm: parse flags, pick the config and backend,
 * load data, open (or resume) the run directory, and after each training step log, report
 * progress, stop on NaN, checkpoint, and honour `--max-steps`. The algorithm itself — models,
 * losses, the update order — stays in the paper script.
 *
 * @module
 */
import { join } from "node:path";
import { tf } from "./tf.ts";
import { type BackendChoice, selectBackend } from "./backend.ts";
import { type CommonArgs, type ExtraFlag, helpText, parseCli } from "./cli.ts";
import { type ImageDataset, loadDataset, type LoadOptions } from "./data/mod.ts";
import { loadStateDict, type Module, stateDict } from "./nn.ts";
import type { Optimizer } from "./optim.ts";
import type { Rng, RngState } from "./random.ts";
import { assertFinite, Progress, Run, type WorkBefore } from "./run.ts";

/** Parsed flags: the common ones plus the paper's own, by name. */
export type ParsedArgs = CommonArgs & { extra: Record<string, string | boolean | undefined> };

/** How a paper plugs into {@link startExperiment}. */
export interface ExperimentSpec<C> {
  /** The paper's id, e.g. "dcgan": `deno task reproduce <paper>`, `results/<paper>/`. */
  paper: string;
  /** Shown by `--help` below the usage line. */
  description: string;
  /** The paper's own flags, by name without `--`. */
  flags?: Record<string, ExtraFlag>;
  /** The paper's configuration (the default). */
  paperConfig: C;
  /** The `--quick` configuration. */
  quickConfig: C;
  /** Applies flag overrides to the chosen base config. */
  configure(base: C, args: ParsedArgs): C;
  /** Words that name the run besides quick/paper, seed and backend (e.g. dataset, loss). */
  runIdParts(cfg: C): string[];
  /** The dataset to load, or undefined for papers without one (toy problems). */
  dataset?(cfg: C): { name: string } & LoadOptions;
}

/** An opened experiment, ready to train. */
export interface Experiment<C> {
  /** The parsed command line. */
  args: ParsedArgs;
  /** The config in force: the run's saved config when resuming, so a resume cannot drift. */
  cfg: C;
  /** The selected backend and why it was chosen. */
  backend: BackendChoice;
  /** The loaded dataset; null for papers without one. */
  data: ImageDataset | null;
  /** The opened (or resumed) run directory. */
  run: Run;
}

/** Parses `argv` and sets everything up; returns null after printing `--help`. */
export async function startExperiment<C>(
  spec: ExperimentSpec<C>,
  argv: string[],
): Promise<Experiment<C> | null> {
  const args = parseCli(spec.paper, argv, spec.flags ?? {}) as ParsedArgs;
  if (args.help) {
    console.log(helpText(spec.paper, spec.description, spec.flags ?? {}));
    return null;
  }
  const base = args.quick ? spec.quickConfig : spec.paperConfig;
  let cfg = spec.configure(base, args);
  const overrides = configOverrides(base, cfg);
  const backend = await selectBackend(args.backend, args.threads);
  console.error(`[${spec.paper}] backend ${backend.name}: ${backend.reason}`);
  const runId = [
    args.quick ? "quick" : "paper",
    ...spec.runIdParts(cfg),
    ...unnamedOverrideSlugs(overrides, base, cfg, spec.runIdParts),
    `seed${args.seed}`,
    backend.name,
  ]
    .join("-");
  const dir = args.out ?? join("results", spec.paper, runId);
  // Resuming must use the saved config; data is loaded before the run directory is touched, so a
  // missing dataset leaves nothing behind.
  if (args.resume) cfg = (await Run.readManifest(dir)).config as C;
  let data: ImageDataset | null = null;
  if (spec.dataset) {
    const { name, ...opts } = spec.dataset(cfg);
    data = await loadDataset(name, { dataDir: args.dataDir, ...opts });
  }
  const run = await Run.open({
    paper: spec.paper,
    runId,
    dir,
    config: cfg,
    seed: args.seed,
    backend,
    dataset: data && { name: data.name, n: data.n, checksum: data.checksum, source: data.source },
    overrides,
    resume: args.resume,
    fresh: args.fresh,
  });
  return { args, cfg, backend, data, run };
}

/**
 * The top-level config fields that differ from the base (paper or quick) config, with their
 * values. Recorded in the manifest: a run with overrides is not the paper's default and cannot
 * become a reference.
 */
export function configOverrides<C>(base: C, cfg: C): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const b = base as Record<string, unknown>;
  for (const [k, v] of Object.entries(cfg as Record<string, unknown>)) {
    if (JSON.stringify(v) !== JSON.stringify(b[k])) out[k] = v;
  }
  return out;
}

/**
 * Run-id words for the overrides the paper's own id words do not already show (`--dataset` is
 * named by the dataset part; `--epochs 10` becomes `epochs10`), so an overridden run never takes
 * the default run's name. A field counts as named when resetting it changes the id words.
 */
export function unnamedOverrideSlugs<C>(
  overrides: Record<string, unknown>,
  base: C,
  cfg: C,
  runIdParts: (cfg: C) => string[],
): string[] {
  const parts = runIdParts(cfg).join("-");
  const slugs: string[] = [];
  for (const [k, v] of Object.entries(overrides)) {
    const reset = { ...cfg, [k]: (base as Record<string, unknown>)[k] } as C;
    if (runIdParts(reset).join("-") !== parts) continue;
    const value = Array.isArray(v) ? v.join("x") : String(v);
    slugs.push(`${k}${value}`.replace(/[^A-Za-z0-9.+]/g, "_"));
  }
  return slugs;
}

/** Everything a checkpoint must hold to continue bit-identically. */
export interface TrainState {
  /** Models by name; their variables are checkpointed under `<name>/`. */
  modules: Record<string, Module>;
  /** Optimizers by name; their state is checkpointed under `opt:<name>/`. */
  optimizers: Record<string, Optimizer>;
  /** Random streams by name; their states are checkpointed. */
  rngs: Record<string, Rng>;
}

/** Schedule and bookkeeping options of {@link TrainLoop}. */
export interface LoopOptions {
  /** Tag of the progress and status lines on stderr (`[label]`). */
  label: string;
  /** Training steps in one epoch. */
  stepsPerEpoch: number;
  /** Number of epochs; the run has `stepsPerEpoch × epochs` steps. */
  epochs: number;
  /** Append a losses.jsonl record every this many steps. */
  logEvery: number;
  /** Checkpoint every this many steps (and at every epoch end). */
  checkpointEvery: number;
  /** Stop (with a checkpoint) after this many steps, as if interrupted. */
  maxSteps?: number;
  /** Work before a step, when steps differ in cost, so that the ETA weighs them (see Progress). */
  workBefore?: WorkBefore;
}

/** Signals that stop a run cleanly (Windows delivers only these two of them). */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];
/** Exit status 128 + signal number, as a shell reports a process the signal ended. */
function signalExitCode(sig: Deno.Signal): number {
  return 128 + ({ SIGINT: 2, SIGTERM: 15, SIGBREAK: 21 } as Record<string, number>)[sig];
}

/**
 * Step counter and per-step bookkeeping. The paper's loop reads {@link TrainLoop.epoch} and
 * {@link TrainLoop.stepInEpoch}, runs one step of its algorithm, then awaits
 * {@link TrainLoop.after}.
 */
export class TrainLoop {
  /** Steps completed (global). */
  step = 0;
  /** Steps in the whole run: `stepsPerEpoch × epochs`. */
  readonly totalSteps: number;
  #progress: Progress;
  /** The stop signal received, if any: the loop checkpoints after the current step and stops. */
  #signal: Deno.Signal | null = null;
  #listeners: [Deno.Signal, () => void][] = [];
  #lastTurn = performance.now();

  private constructor(
    readonly run: Run,
    readonly state: TrainState,
    readonly opts: LoopOptions,
  ) {
    this.totalSteps = opts.stepsPerEpoch * opts.epochs;
    this.#progress = new Progress(opts.label, this.totalSteps, 0, undefined, opts.workBefore);
    this.#listen();
  }

  /**
   * Ctrl-C (or a scheduler's SIGTERM) mid-run would lose everything since the last checkpoint —
   * up to an epoch of CPU time. The first signal instead finishes the current step, checkpoints
   * and stops (exit code 128 + signal number); a second one quits at once.
   */
  #listen(): void {
    for (const sig of STOP_SIGNALS) {
      const handler = () => {
        if (this.#signal) {
          console.error(`[${this.opts.label}] second ${sig}: quitting without a checkpoint`);
          Deno.exit(signalExitCode(sig));
        }
        this.#signal = sig;
        console.error(
          `[${this.opts.label}] ${sig}: stopping after this step with a checkpoint ` +
            `(${sig} again to quit at once)`,
        );
      };
      try {
        Deno.addSignalListener(sig, handler);
        this.#listeners.push([sig, handler]);
      } catch {
        // a signal this OS does not deliver: nothing to listen for
      }
    }
  }

  #unlisten(): void {
    for (const [sig, handler] of this.#listeners) Deno.removeSignalListener(sig, handler);
    this.#listeners = [];
  }

  /** Creates the loop, restoring models, optimizers, RNG streams and the step from a checkpoint. */
  static create(run: Run, state: TrainState, opts: LoopOptions): TrainLoop {
    const loop = new TrainLoop(run, state, opts);
    const ckpt = run.resumeFrom;
    if (ckpt) {
      for (const [name, m] of Object.entries(state.modules)) {
        loadStateDict(m, ckpt.tensors, `${name}/`);
      }
      for (const [name, o] of Object.entries(state.optimizers)) {
        o.loadState(withoutPrefix(ckpt.tensors, `opt:${name}/`));
      }
      const rngs = ckpt.state.rngs as Record<string, RngState>;
      for (const [name, r] of Object.entries(state.rngs)) r.setState(rngs[name]);
      loop.step = Number(ckpt.state.step);
      loop.#progress = new Progress(
        opts.label,
        loop.totalSteps,
        loop.step,
        undefined,
        opts.workBefore,
      );
      console.error(`[${opts.label}] resuming ${run.dir} at step ${loop.step}/${loop.totalSteps}`);
    }
    return loop;
  }

  /** True while steps remain. */
  get running(): boolean {
    return this.step < this.totalSteps;
  }

  /** 0-based epoch of the next step. */
  get epoch(): number {
    return Math.floor(this.step / this.opts.stepsPerEpoch);
  }

  /** 0-based index of the next step within its epoch. */
  get stepInEpoch(): number {
    return this.step % this.opts.stepsPerEpoch;
  }

  /** Saves the full training state. */
  async checkpoint(): Promise<void> {
    const tensors = new Map<string, tf.Tensor>();
    for (const [name, m] of Object.entries(this.state.modules)) {
      for (const [k, v] of stateDict(m, `${name}/`)) tensors.set(k, v);
    }
    for (const [name, o] of Object.entries(this.state.optimizers)) {
      for (const [k, v] of o.state()) tensors.set(`opt:${name}/${k}`, v);
    }
    const rngs = Object.fromEntries(
      Object.entries(this.state.rngs).map(([k, r]) => [k, r.state()]),
    );
    await this.run.checkpoint(tensors, { step: this.step, rngs });
  }

  /**
   * Bookkeeping after one step: stops on NaN/Inf, logs, reports progress, calls `onEpochEnd` at
   * epoch boundaries (grids), checkpoints when due. Returns false when the loop must stop now
   * (`--max-steps` reached).
   */
  async after(
    values: Record<string, number>,
    images: number,
    seconds: number,
    onEpochEnd?: (epoch: number) => Promise<void>,
  ): Promise<boolean> {
    const epoch = this.epoch;
    this.step++;
    const m = this.run.manifest;
    m.trainSeconds += seconds;
    m.images += images;
    m.steps = this.step;
    assertFinite(values, epoch + 1, this.step);
    if (this.step % this.opts.logEvery === 0 || this.step === this.totalSteps) {
      this.run.logLosses({ step: this.step, epoch: epoch + 1, ...values });
    }
    this.#progress.update(this.step, epoch + 1, this.opts.epochs, images, values);
    const epochEnd = this.step % this.opts.stepsPerEpoch === 0;
    if (epochEnd && onEpochEnd) await onEpochEnd(epoch + 1);
    const due = epochEnd || this.step % this.opts.checkpointEvery === 0;
    if (due) await this.checkpoint();
    if (!this.running) {
      // Training is over; a signal during the final figures may end the process as usual.
      this.#unlisten();
      return true;
    }
    // A signal is delivered on an event-loop turn; a step built only of compute and resolved
    // promises never takes one, so give it one — once a second, as a timer turn costs ~1–4 ms.
    if (this.#listeners.length && performance.now() - this.#lastTurn > 1000) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.#lastTurn = performance.now();
    }
    const max = this.opts.maxSteps;
    const reason = this.#signal ?? (max !== undefined && this.step >= max ? "--max-steps" : null);
    if (reason) {
      if (!due) await this.checkpoint();
      this.#unlisten();
      if (this.#signal) Deno.exitCode = signalExitCode(this.#signal);
      console.error(
        `[${this.opts.label}] stopped at step ${this.step} (${reason}); continue with --resume`,
      );
      return false;
    }
    return true;
  }
}

function withoutPrefix(m: Map<string, tf.Tensor>, p: string): Map<string, tf.Tensor> {
  return new Map([...m].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}
