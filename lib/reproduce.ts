/**
 * `deno task reproduce <paper> [flags]`: runs one paper script. Each paper also runs on its own
 * (`deno run … papers/gan.ts`); this entry point only dispatches, with a clear error for a typo.
 *
 * @module
 */
import { runMain } from "./cli.ts";
import { UserError } from "./fsutil.ts";

type PaperMain = (argv: string[]) => Promise<void>;

/** Paper name → loader of its script's `main`. Static imports keep the module graph analyzable. */
export const PAPERS: Record<string, () => Promise<PaperMain>> = {
  gan: async () => (await import("../papers/gan.ts")).main,
  toys: async () => (await import("../papers/toys.ts")).main,
};

/** Dispatches `argv[0]` to its paper script with the remaining flags. */
export async function reproduce(argv: string[]): Promise<void> {
  const [paper, ...rest] = argv;
  const names = Object.keys(PAPERS).join(", ");
  if (!paper || paper === "--help" || paper === "-h") {
    console.log(`usage: deno task reproduce <paper> [flags]  (papers: ${names}; <paper> --help)`);
    if (!paper) throw new UserError(`missing paper name (one of ${names})`);
    return;
  }
  const load = PAPERS[paper];
  if (!load) throw new UserError(`unknown paper "${paper}" (expected one of ${names})`);
  await (await load())(rest);
}

if (import.meta.main) await runMain(() => reproduce(Deno.args));
