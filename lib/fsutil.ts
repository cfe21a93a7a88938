/**
 * Small file helpers. Every result file goes through {@link writeFileAtomic} so an interrupted run
 * never leaves a half-written grid, manifest or checkpoint behind.
 *
 * @module
 */
import { dirname } from "node:path";

let counter = 0;

/** Writes `data` to `path` via a temp file in the same directory and a rename (atomic on POSIX). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${counter++}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Appends one line to a text file (used for JSONL logs, which are rewritten atomically on resume). */
export async function appendLine(path: string, line: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, line + "\n", { append: true });
}

/** True when `path` exists (file or directory). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Parses a JSON file; a missing or broken one is a {@link UserError} that ends with `hint`. */
export async function readJsonFile(path: string, hint: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    throw new UserError(`cannot read ${path} (${hint})`);
  }
}

/** An error whose message is meant for the user as-is: the CLI prints it on one line and exits 1. */
export class UserError extends Error {
  /** An error with the one-line `message` shown to the user. */
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}
