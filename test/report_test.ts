/**
 * The per-run HTML report: self-contained (images inline), has every section, and renders in
 * headless Chromium with no console errors. CI installs Debian's chromium; without it the
 * rendering test is skipped and says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildReport, writeReport } from "../lib/report.ts";
import { encodePng } from "../lib/image.ts";
import { fakeManifest } from "./fixtures.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

async function fakeRun(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "report_test_" });
  const manifest = fakeManifest({
    runId: "quick-<test>&",
    config: { epochs: 1 },
    seed: 3,
    git: { commit: "abcdef1234567890", dirty: false },
  });
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  await Deno.writeTextFile(
    join(dir, "metrics.json"),
    JSON.stringify({ fid: 12.25, coverage: { classesCovered: 9 } }),
  );
  const img = { width: 4, height: 4, channels: 3 as const, data: new Uint8Array(48).fill(200) };
  await Deno.writeFile(join(dir, "samples.png"), encodePng(img));
  await Deno.mkdir(join(dir, "grids"));
  await Deno.writeFile(join(dir, "grids", "epoch_001.png"), encodePng(img));
  await Deno.writeTextFile(
    join(dir, "losses.svg"),
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
  );
  await Deno.writeFile(join(dir, "losses.png"), encodePng(img));
  return dir;
}

Deno.test("report: one self-contained HTML file with manifest, metrics, figures and BibTeX", async () => {
  const dir = await fakeRun();
  const html = await buildReport(dir);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(html.includes("quick-&lt;test&gt;&amp;"), "text is escaped");
  assert.match(html, /<th>fid<\/th><td>12\.250<\/td>/);
  assert.match(html, /<th>coverage\.classesCovered<\/th><td>9<\/td>/);
  assert.match(html, /data:image\/png;base64,iVBORw0KGgo/);
  assert.match(html, /data:image\/svg\+xml;base64,/);
  assert.ok(!html.includes('alt="losses.png"'), "PNG twin of an SVG plot is not repeated");
  assert.ok(html.includes("@inproceedings{goodfellow2014gan"));
  assert.ok(html.includes("abcdef1234567890"));
  assert.ok(!/src="(?!data:)/.test(html), "no external resources");
  const path = await writeReport(dir);
  assert.equal(await Deno.readTextFile(path), html);
});

Deno.test({
  name: "report renders in headless Chromium without console errors",
  ignore: !CHROMIUM,
  async fn() {
    const dir = await fakeRun();
    const path = await writeReport(dir);
    const profile = await Deno.makeTempDir();
    const out = await new Deno.Command(CHROMIUM!, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        `file://${path}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dom = new TextDecoder().decode(out.stdout);
    const log = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, log);
    assert.ok(dom.includes("<h2>Metrics</h2>") && dom.includes("<h2>Cite</h2>"), dom.slice(0, 500));
    const consoleLines = log.split("\n").filter((l) => /CONSOLE|Uncaught|SyntaxError/.test(l));
    assert.deepEqual(consoleLines, []);
  },
});
