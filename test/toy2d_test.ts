/**
 * toy2d: the mixtures' geometry, the mode-counting rule on hand-made sample sets, and the outputs of
 * `toy2d --quick` (wasm): figures, the modes table and its consistency with the per-mode counts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../lib/random.ts";
import { decodePng } from "../lib/image.ts";
import { countModes, main, makeToy, METHODS, sampleToy, TOYS } from "../papers/toy2d.ts";
import { assertMatchesQuickReference, withoutSyncReads } from "./fixtures.ts";

const BACKEND = "wasm";

Deno.test("the ring has 8 modes at radius 2, the grid 25 modes 2 apart; samples have std σ", () => {
  const ring = makeToy("8gaussians");
  assert.equal(ring.centres.length, 8);
  for (const [x, y] of ring.centres) assert.ok(Math.abs(Math.hypot(x, y) - 2) < 1e-12);
  assert.equal(ring.std, 0.02);
  const grid = makeToy("25gaussians");
  assert.equal(grid.centres.length, 25);
  const xs = new Set(grid.centres.map(([x]) => x)), ys = new Set(grid.centres.map(([, y]) => y));
  assert.deepEqual([...xs].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
  assert.deepEqual([...ys].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
  // Each sample's offset from its nearest centre has per-axis std ≈ σ; every mode gets samples.
  const n = 20000;
  const xy = sampleToy(ring, n, new Rng(1));
  let sq = 0;
  const hits = new Array(8).fill(0);
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    let best = 0, bd = Infinity;
    ring.centres.forEach(([cx, cy], k) => {
      const d = Math.hypot(x - cx, y - cy);
      if (d < bd) [bd, best] = [d, k];
    });
    hits[best]++;
    sq += bd * bd;
  }
  const std = Math.sqrt(sq / (2 * n));
  assert.ok(Math.abs(std - 0.02) < 0.001, `std ${std}`);
  for (const h of hits) assert.ok(Math.abs(h - n / 8) < 5 * Math.sqrt(n / 8), `mode count ${h}`);
});

Deno.test("countModes on hand-made samples: 3σ radius, 20%-of-fair-share threshold", () => {
  const ring = makeToy("8gaussians"); // σ = 0.02, 3σ = 0.06
  const pts: number[] = [];
  const at = (k: number, dx: number, count: number) => {
    for (let i = 0; i < count; i++) pts.push(ring.centres[k][0] + dx, ring.centres[k][1]);
  };
  at(0, 0, 30); // at the centre
  at(1, 0.059, 20); // just inside 3σ
  at(2, 0.061, 10); // just outside 3σ
  at(3, -0.03, 2); // inside, but too few: threshold = 0.2 · 100 / 8 = 2.5
  for (let i = 0; i < 38; i++) pts.push(0, 0); // far from every mode
  const s = countModes(pts, ring.centres, ring.std);
  assert.equal(s.modes, 8);
  assert.ok(Math.abs(s.radius - 0.06) < 1e-12);
  assert.equal(s.threshold, 2.5);
  assert.deepEqual(s.perMode, [30, 20, 0, 2, 0, 0, 0, 0]);
  assert.equal(s.recovered, 2);
  assert.equal(s.highQuality, 52 / 100);
  // A 4σ radius takes in the 3.05σ samples; a 0.15 fraction (threshold 1.875) counts mode 3.
  const wide = countModes(pts, ring.centres, ring.std, { sigmas: 4 });
  assert.deepEqual(wide.perMode.slice(0, 4), [30, 20, 10, 2]);
  assert.equal(countModes(pts, ring.centres, ring.std, { minFraction: 0.15 }).recovered, 3);
  // One sample on each of the 25 grid modes: all recovered (threshold 0.2), all high quality.
  const grid = makeToy("25gaussians");
  const g = countModes(grid.centres.flat(), grid.centres, grid.std);
  assert.equal(g.recovered, 25);
  assert.equal(g.highQuality, 1);
  // A collapsed generator: 2,500 samples on one grid mode recover exactly one.
  const collapsed = new Float32Array(5000).fill(0);
  const c = countModes(collapsed, grid.centres, grid.std);
  assert.equal(c.recovered, 1);
  assert.equal(c.perMode[12], 2500); // (0, 0) is the centre of the 5×5 grid
  assert.equal(c.highQuality, 1);
});

const tmp = await Deno.makeTempDir({ prefix: "toy2d_test_" });

Deno.test("toy2d --quick: contour figures, overview, modes table consistent with its counts", async () => {
  const out = join(tmp, "run");
  await withoutSyncReads(() => main(["--quick", "--backend", BACKEND, "--out", out]));
  const m = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
  assert.equal(m.paper, "toy2d");
  assert.equal(m.status, "complete");
  assert.equal(m.steps, 60);
  assert.equal(m.dataset, null);
  const rows = JSON.parse(await Deno.readTextFile(join(out, "modes.json")));
  assert.equal(rows.length, TOYS.length * METHODS.length);
  for (const r of rows) {
    const k = r.toy === "8gaussians" ? 8 : 25;
    assert.equal(r.modes, k);
    assert.equal(r.perMode.length, k);
    // The rule, recomputed from the per-mode counts of 2,500 samples.
    assert.equal(r.recovered, r.perMode.filter((c: number) => c >= 0.2 * 2500 / k).length);
    const inModes = r.perMode.reduce((a: number, b: number) => a + b, 0);
    assert.ok(Math.abs(r.highQuality - inModes / 2500) < 1e-12, "modes 6σ apart never overlap");
    assert.deepEqual(Object.keys(m.extra.modes[rows.indexOf(r)]).sort(), Object.keys(r).sort());
  }
  const md = await Deno.readTextFile(join(out, "modes.md"));
  assert.equal(md.split("\n").filter((l) => /^\| (8|25)gaussians \|/.test(l)).length, 8);
  for (const t of TOYS) {
    for (const meth of METHODS) {
      const svg = await Deno.readTextFile(join(out, `${t}_${meth}.svg`));
      assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<\/svg>\s*$/);
      assert.match(svg, /data-name="generated"/);
    }
  }
  const svg = await Deno.readTextFile(join(out, "modes_over_training.svg"));
  assert.match(svg, /<\/svg>\s*$/);
  const overview = decodePng(await Deno.readFile(join(out, "overview.png")));
  assert.equal(overview.width, 4 * 480 + 3 * 4);
  assert.equal(overview.height, 2 * 420 + 4);
  for (const e of [1, 2]) {
    const rec = JSON.parse(await Deno.readTextFile(join(out, "coverage", `epoch_00${e}.json`)));
    assert.equal(rec.iteration, 30 * e);
    assert.ok(Number.isFinite(rec["8gaussians/wgan-gp"].highQuality));
  }
  const losses = (await Deno.readTextFile(join(out, "losses.jsonl"))).trim().split("\n");
  for (const l of losses) {
    for (const v of Object.values(JSON.parse(l))) assert.ok(Number.isFinite(v));
  }
});

Deno.test("toy2d --quick reproduces the committed reference: identical figures and metrics", async () => {
  await assertMatchesQuickReference("toy2d", join(tmp, "run"));
});
