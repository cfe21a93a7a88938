/**
 * `deno task cite <paper> [run-dir]`: prints the paper's BibTeX, the suite's BibTeX (from
 * CITATION.cff) and the run's manifest line (commit, seed, backend, versions), so a number in a
 * write-up can be traced to exactly what produced it.
 *
 * @module
 */
import { join } from "node:path";
import { runMain } from "./cli.ts";
import { exists, UserError } from "./fsutil.ts";
import { type Manifest, Run } from "./run.ts";

/** The suite's BibTeX entry, built from CITATION.cff's title, version and date. */
export function suiteBibtex(cff: string, commit?: string): string {
  const field = (k: string) => cff.match(new RegExp(`^${k}:\\s*"?([^"\\n]+)"?`, "m"))?.[1] ?? "";
  const year = field("date-released").slice(0, 4);
  return [
    "@software{ganrepro,",
    `  title   = {${field("title")}},`,
    `  author  = {{The ganrepro authors}},`,
    `  version = {${field("version")}${commit ? `, commit ${commit}` : ""}},`,
    `  year    = {${year}}`,
    "}",
  ].join("\n");
}

/** One line that identifies a run: paper, config, commit, seed, backend, versions, dataset. */
export function manifestLine(m: Manifest, dir: string): string {
  const commit = m.git ? `${m.git.commit.slice(0, 12)}${m.git.dirty ? "+dirty" : ""}` : "unknown";
  const device = m.backend.device ? ` (${m.backend.device})` : "";
  const data = m.dataset ? `, ${m.dataset.name} sha256:${m.dataset.checksum.slice(0, 12)}` : "";
  return `${m.paper} run ${dir}: commit ${commit}, seed ${m.seed}, backend ${m.backend.name}${device}, ` +
    `tfjs ${m.versions.tfjs}, Deno ${m.versions.deno}${data}, ${m.steps} steps, ${m.status}`;
}

/** The newest run of `paper` under results/ (by manifest start time), preferring complete ones. */
export async function latestRun(paper: string): Promise<string | null> {
  const root = join("results", paper);
  if (!(await exists(root))) return null;
  let best: { dir: string; key: string } | null = null;
  for await (const e of Deno.readDir(root)) {
    if (!e.isDirectory || e.name === "reference") continue;
    const dir = join(root, e.name);
    if (!(await exists(join(dir, "manifest.json")))) continue;
    const m = await Run.readManifest(dir);
    const key = `${m.status === "complete" ? 1 : 0}${m.startTime}`;
    if (!best || key > best.key) best = { dir, key };
  }
  return best?.dir ?? null;
}

/** Builds the citation text for `paper` and, when given or found, a run. */
export async function cite(paper: string, runDir?: string): Promise<string> {
  const bibPath = join("papers", `${paper}.bib`);
  if (!(await exists(bibPath))) throw new UserError(`no BibTeX for paper "${paper}" (${bibPath})`);
  const bib = (await Deno.readTextFile(bibPath)).trim();
  const dir = runDir ?? await latestRun(paper);
  const manifest = dir ? await Run.readManifest(dir) : null;
  const cff = await Deno.readTextFile("CITATION.cff");
  const parts = [
    "% The paper",
    bib,
    "",
    "% This reproduction",
    suiteBibtex(cff, manifest?.git?.commit.slice(0, 12)),
    "",
    manifest
      ? `% ${manifestLine(manifest, dir!)}`
      : `% no run of ${paper} found under results/${paper}/ (pass a run directory)`,
  ];
  return parts.join("\n") + "\n";
}

if (import.meta.main) {
  await runMain(async () => {
    const [paper, runDir] = Deno.args;
    if (!paper) throw new UserError("usage: deno task cite <paper> [run-dir]");
    console.log(await cite(paper, runDir));
  });
}
