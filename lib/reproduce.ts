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
  cgan: async () => (await import("../papers/cgan.ts")).main,
  dcgan: async () => (await import("../papers/dcgan.ts")).main,
  wgan: async () => (await import("../papers/wgan.ts")).main,
  wgan_gp: async () => (await import("../papers/wgan_gp.ts")).main,
  sngan: async () => (await import("../papers/sngan.ts")).main,
  progan: async () => (await import("../papers/progan.ts")).main,
  stylegan2: async () => (await import("../papers/stylegan2.ts")).main,
  cyclegan: async () => (await import("../papers/cyclegan.ts")).main,
  toys: async () => (await import("../papers/toys.ts")).main,
  toy2d: async () => (await import("../papers/toy2d.ts")).main,
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
