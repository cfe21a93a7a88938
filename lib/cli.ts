/**
 * The command line shared by every paper script, on `node:util` parseArgs.
 *
 * Common flags: --epochs --batch-size --lr --seed --backend --dataset --data-dir --out --quick
 * --resume --fresh --max-steps --help. A paper adds its own flags (e.g. `--g-loss` for gan.ts).
 * Errors are one line on stderr and a non-zero exit, never a stack trace.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendName, BACKENDS } from "./backend.ts";
import { UserError } from "./fsutil.ts";

/** Flags every paper understands. */
export interface CommonArgs {
  /** `--epochs`: training epochs (default: the paper's). */
  epochs?: number;
  /** `--batch-size`: minibatch size (default: the paper's). */
  batchSize?: number;
  /** `--lr`: learning rate (default: the paper's). */
  lr?: number;
  /**
   * `--seed`: seed for init, noise, dropout and data order, in [0, 2^32)
   * (default {@link DEFAULT_SEED}).
   */
  seed: number;
  /** `--backend`: one of {@link BACKENDS} (default "auto"). */
  backend: BackendName;
  /** `--dataset`: dataset name (default: the paper's offline default). */
  dataset?: string;
  /** `--data-dir`: where the dataset files are. */
  dataDir?: string;
  /** `--out`: run directory (default `results/<paper>/<run-id>`). */
  out?: string;
  /** `--quick`: the tiny configuration that finishes in about a minute on CPU (tests, CI). */
  quick: boolean;
  /** `--resume`: continue the run in the run directory from its last checkpoint. */
  resume: boolean;
  /** `--fresh`: delete an existing run directory and start over. */
  fresh: boolean;
  /** wasm threads (default 1; 2 is ~1.4× faster on an idle 2-core machine). */
  threads: number;
  /** Stop after this many steps as if interrupted (checkpoint kept) — for resume tests. */
  maxSteps?: number;
  /** `--help`: print the help text instead of running. */
  help: boolean;
}

/** Declaration of a paper-specific flag. */
export interface ExtraFlag {
  /** "string" for a flag that takes a value, "boolean" for a switch. */
  type: "string" | "boolean";
  /** The flag's description in `--help`. */
  help: string;
  /** For string flags: the allowed values, checked with a clear error. */
  choices?: readonly string[];
}

/** The default seed: fixed, so a plain `deno task reproduce <paper>` is reproducible. */
export const DEFAULT_SEED = 0;

const COMMON_HELP: [string, string][] = [
  ["--epochs N", "training epochs (default: the paper's)"],
  ["--batch-size N", "minibatch size (default: the paper's)"],
  ["--lr X", "learning rate (default: the paper's)"],
  ["--seed N", `random seed for init, noise, dropout and data order (default ${DEFAULT_SEED})`],
  ["--backend NAME", `${BACKENDS.join("|")} (default auto)`],
  [
    "--threads N",
    "wasm (or BLAS, for --backend blas) threads (default 1; 2 is ~1.4× faster on an idle 2-core machine)",
  ],
  ["--dataset NAME", "dataset (default: the paper's offline default)"],
  ["--data-dir DIR", "where the dataset files are"],
  ["--out DIR", "run directory (default results/<paper>/<run-id>)"],
  ["--quick", "tiny configuration that finishes in about a minute on CPU (tests, CI)"],
  ["--resume", "continue the run in the run directory from its last checkpoint"],
  ["--fresh", "delete an existing run directory and start over"],
  ["--max-steps N", "stop after N training steps, keeping the checkpoint (then --resume)"],
  ["--help", "show this help"],
];

function positiveNumber(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UserError(
      `--${flag} expects a positive ${integer ? "integer" : "number"}, got "${v}"`,
    );
  }
  return n;
}

/** Parses `argv` for `paper`; returns the common flags and the paper's own flag values. */
export function parseCli<E extends Record<string, ExtraFlag>>(
  paper: string,
  argv: string[],
  extra: E = {} as E,
): CommonArgs & { extra: { [K in keyof E]?: E[K]["type"] extends "boolean" ? boolean : string } } {
  const options: Record<string, { type: "string" | "boolean" }> = {
    epochs: { type: "string" },
    "batch-size": { type: "string" },
    lr: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    dataset: { type: "string" },
    "data-dir": { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean" },
    resume: { type: "boolean" },
    fresh: { type: "boolean" },
    "max-steps": { type: "string" },
    help: { type: "boolean" },
  };
  for (const [k, f] of Object.entries(extra)) options[k] = { type: f.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    const msg = (e as Error).message;
    const m = msg.match(/Unknown option '([^']+)'/);
    if (m) throw new UserError(`unknown flag ${m[1]} for ${paper} (see --help)`);
    const p = msg.match(/Unexpected argument '([^']+)'/);
    if (p) throw new UserError(`unexpected argument "${p[1]}" for ${paper} (see --help)`);
    throw new UserError(msg.split("\n")[0]);
  }
  const backend = (values.backend as string | undefined) ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UserError(`unknown backend "${backend}" (expected one of ${BACKENDS.join(", ")})`);
  }
  const seedText = values.seed as string | undefined;
  const seed = seedText === undefined ? DEFAULT_SEED : Number(seedText);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`--seed expects an integer in [0, 2^32), got "${seedText}"`);
  }
  const extraValues: Record<string, string | boolean | undefined> = {};
  for (const [k, f] of Object.entries(extra)) {
    const v = values[k];
    if (f.choices && v !== undefined && !f.choices.includes(v as string)) {
      throw new UserError(`--${k} expects one of ${f.choices.join(", ")}, got "${v}"`);
    }
    extraValues[k] = v;
  }
  return {
    epochs: positiveNumber("epochs", values.epochs as string | undefined, true),
    batchSize: positiveNumber("batch-size", values["batch-size"] as string | undefined, true),
    lr: positiveNumber("lr", values.lr as string | undefined, false),
    seed,
    backend: backend as BackendName,
    threads: positiveNumber("threads", values.threads as string | undefined, true) ?? 1,
    dataset: values.dataset as string | undefined,
    dataDir: values["data-dir"] as string | undefined,
    out: values.out as string | undefined,
    quick: Boolean(values.quick),
    resume: Boolean(values.resume),
    fresh: Boolean(values.fresh),
    maxSteps: positiveNumber("max-steps", values["max-steps"] as string | undefined, true),
    help: Boolean(values.help),
    extra: extraValues as never,
  };
}

/** The `--help` text for a paper: its description, the common flags and its own. */
export function helpText(
  paper: string,
  description: string,
  extra: Record<string, ExtraFlag> = {},
): string {
  const rows: [string, string][] = [...COMMON_HELP];
  for (const [k, f] of Object.entries(extra)) {
    rows.push([
      `--${k}${f.type === "string" ? " " + (f.choices ? f.choices.join("|") : "VALUE") : ""}`,
      f.help,
    ]);
  }
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return `deno task reproduce ${paper} [flags]\n\n${description}\n\nFlags:\n` +
    rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`).join("\n") + "\n";
}

/**
 * Runs `main`, turning a {@link UserError} into `error: <message>` on stderr and exit code 1, so
 * bad input never shows a stack trace. Other errors are bugs and keep their stack.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`error: ${e.message}`);
      Deno.exit(1);
    }
    // Deno's permission sandbox: the tasks may write only under results/ (see deno.json).
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      console.error(
        `error: ${(e as Error).message.split("\n")[0]} ` +
          "(deno tasks write only under results/: use --out results/…, or run the script with " +
          "a wider --allow-write)",
      );
      Deno.exit(1);
    }
    throw e;
  }
}
