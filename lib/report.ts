/**
 * `deno task report <run-dir>`: a self-contained `index.html` for one run — grids, the animated
 * progress strip, loss curves, the metrics table, the manifest and BibTeX — with every image
 * embedded as a data URI, so the single file can be attached to a write-up or opened offline.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import { join, relative } from "node:path";
import { runMain } from "./cli.ts";
import { exists, UserError, writeFileAtomic } from "./fsutil.ts";
import { cite, manifestLine } from "./cite.ts";
import { type Manifest, Run } from "./run.ts";
import { flattenNumbers } from "./compare.ts";

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

async function listFiles(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  if (!(await exists(dir))) return out;
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(ext)) out.push(e.name);
  return out.sort();
}

async function figure(path: string, caption: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const mime = path.endsWith(".svg") ? "image/svg+xml" : "image/png";
  return `<figure><img src="data:${mime};base64,${encodeBase64(bytes)}" alt="${
    escapeHtml(caption)
  }"><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

function table(rows: [string, string][]): string {
  return `<table>${
    rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("")
  }</table>`;
}

function manifestRows(m: Manifest): [string, string][] {
  return [
    ["paper", m.paper],
    ["run", m.runId],
    ["status", m.status],
    ["seed", String(m.seed)],
    [
      "backend",
      `${m.backend.name}${m.backend.device ? ` (${m.backend.device})` : ""}: ${m.backend.reason}`,
    ],
    ["commit", m.git ? `${m.git.commit}${m.git.dirty ? " (dirty tree)" : ""}` : "unknown"],
    ["versions", `Deno ${m.versions.deno}, V8 ${m.versions.v8}, tfjs ${m.versions.tfjs}`],
    [
      "dataset",
      m.dataset
        ? `${m.dataset.name} (${m.dataset.n} images, sha256 ${m.dataset.checksum})`
        : "none",
    ],
    ["steps / images", `${m.steps} / ${m.images}`],
    ["throughput", m.imgPerSec === null ? "n/a" : `${m.imgPerSec} img/s`],
    ["started / ended", `${m.startTime} / ${m.endTime ?? "—"}`],
  ];
}

/** Builds the HTML text of a run's report. */
export async function buildReport(runDir: string): Promise<string> {
  const m = await Run.readManifest(runDir);
  const sections: string[] = [];
  sections.push(`<h2>Run</h2>${table(manifestRows(m))}`);
  const metricsPath = join(runDir, "metrics.json");
  if (await exists(metricsPath)) {
    const metrics = flattenNumbers(JSON.parse(await Deno.readTextFile(metricsPath)));
    const rows = [...metrics].map(([k, v]) =>
      [k, Number.isInteger(v) ? String(v) : v.toPrecision(5)] as [string, string]
    );
    sections.push(`<h2>Metrics</h2>${table(rows)}`);
  } else {
    sections.push(
      `<h2>Metrics</h2><p>No metrics.json yet: run <code>deno task eval ${
        escapeHtml(runDir)
      }</code>.</p>`,
    );
  }
  const figs: string[] = [];
  const svgs = await listFiles(runDir, ".svg");
  for (const f of await listFiles(runDir, ".png")) {
    // Plots exist as SVG and PNG twins: show the SVG (sharper), skip its PNG.
    if (svgs.includes(f.replace(/\.png$/, ".svg"))) continue;
    figs.push(await figure(join(runDir, f), f));
  }
  for (const f of svgs) figs.push(await figure(join(runDir, f), f));
  sections.push(`<h2>Figures</h2><div class="figs">${figs.join("\n")}</div>`);
  const grids = await listFiles(join(runDir, "grids"), ".png");
  if (grids.length > 0) {
    // Every epoch would make the file huge for long runs: first, a few evenly spaced, and last.
    const pick = new Set([0, grids.length - 1]);
    for (let i = 1; i < 5; i++) pick.add(Math.round((i * (grids.length - 1)) / 5));
    const shown = [...pick].sort((a, b) => a - b).map((i) => grids[i]);
    const items = await Promise.all(
      shown.map((g) => figure(join(runDir, "grids", g), `grids/${g}`)),
    );
    sections.push(`<h2>Fixed-noise grids</h2><div class="figs">${items.join("\n")}</div>`);
  }
  let bib = "";
  try {
    bib = await cite(m.paper, runDir);
  } catch {
    bib = `% ${manifestLine(m, runDir)}`;
  }
  sections.push(`<h2>Cite</h2><pre>${escapeHtml(bib)}</pre>`);
  sections.push(
    `<h2>Manifest</h2><details><summary>manifest.json</summary><pre>${
      escapeHtml(JSON.stringify(m, null, 2))
    }</pre></details>`,
  );
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`${m.paper} — ${m.runId}`)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figure img { max-width: 32em; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(m.paper)}: ${escapeHtml(m.runId)}</h1>
<p>${escapeHtml(manifestLine(m, relative(Deno.cwd(), runDir) || runDir))}</p>
${sections.join("\n")}
</body>
</html>
`;
}

/** Writes `<runDir>/index.html`. */
export async function writeReport(runDir: string): Promise<string> {
  const path = join(runDir, "index.html");
  await writeFileAtomic(path, await buildReport(runDir));
  return path;
}

if (import.meta.main) {
  await runMain(async () => {
    const [dir] = Deno.args;
    if (!dir) throw new UserError("usage: deno task report <run-dir>");
    console.log(await writeReport(dir));
  });
}
