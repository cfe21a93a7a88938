/**
 * Tests for papers/toys.ts: one `--quick` run whose outputs are checked against closed forms and
 * hand-computed values, the numeric helpers against quadrature references, the CLI errors, and
 * reproducibility (same seed → identical JSON).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "../lib/random.ts";
import { UserError } from "../lib/fsutil.ts";
import { jsDivergence, kde, klDivergence, main, parseToyArgs, w1Distance } from "../papers/toys.ts";
import { assertClose, assertMatchesQuickReference } from "./fixtures.ts";

const gaussianPdf = (x: number, m: number, s: number): number =>
  Math.exp(-0.5 * ((x - m) / s) ** 2) / (s * Math.sqrt(2 * Math.PI));

/** Runs `main` quietly (the minimax table goes to stdout, progress to stderr). */
async function quiet(args: string[]): Promise<void> {
  const { log, error } = console;
  console.log = () => {};
  console.error = () => {};
  try {
    await main(args);
  } finally {
    console.log = log;
    console.error = error;
  }
}

let firstRun: Promise<string> | undefined;
/** The output directory of one shared `--quick` run. */
function quickRun(): Promise<string> {
  firstRun ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "toys_test_" });
    await quiet(["--quick", "--out", out]);
    return out;
  })();
  return firstRun;
}

// deno-lint-ignore no-explicit-any
async function readJson(dir: string, name: string): Promise<any> {
  return JSON.parse(await Deno.readTextFile(join(dir, name)));
}

async function readCsv(dir: string, name: string): Promise<{ header: string[]; rows: number[][] }> {
  const [head, ...lines] = (await Deno.readTextFile(join(dir, name))).trim().split("\n");
  return { header: head.split(","), rows: lines.map((l) => l.split(",").map(Number)) };
}

// ---- the quick run -----------------------------------------------------------------------------

Deno.test("toys --quick writes every figure's SVG and parseable JSON/CSV", async () => {
  const out = await quickRun();
  const svgs = [
    "gan_fig1_a.svg",
    "gan_fig1_b.svg",
    "gan_fig1_c.svg",
    "gan_fig1_d.svg",
    "gaussian.svg",
    "kl.svg",
    "kl_forward.svg",
    "kl_reverse.svg",
    "minimax.svg",
    "js_w1.svg",
  ];
  for (const f of svgs) {
    const text = await Deno.readTextFile(join(out, f));
    assert.ok(text.includes("<svg") && text.trimEnd().endsWith("</svg>"), `${f} is an SVG`);
  }
  for (const f of ["gan_fig1.json", "gaussian.json", "kl.json", "minimax.json", "js_w1.json"]) {
    assert.equal(typeof await readJson(out, f), "object", f);
  }
  for (const f of ["minimax_table.csv", "minimax_trajectory.csv", "js_w1.csv"]) {
    const { rows } = await readCsv(out, f);
    assert.ok(rows.length > 0 && rows.every((r) => r.every(Number.isFinite) || f === "js_w1.csv"));
  }
});

Deno.test("gan-fig1: D* = p_data / (p_data + p_g) in every panel, and D-only training nears it", async () => {
  const fig = await readJson(await quickRun(), "gan_fig1.json");
  assert.equal(fig.panels.length, 4);
  for (const p of fig.panels) {
    const n = p.x.length;
    for (const k of ["p_data", "p_g", "D", "D_star"]) assert.equal(p[k].length, n, k);
    const dx = p.x[1] - p.x[0];
    let massG = 0;
    for (let i = 0; i < n; i++) {
      // p_data is the stated Gaussian; D* recomputed here from the two densities.
      assertClose(
        p.p_data[i],
        gaussianPdf(p.x[i], fig.p_data.mean, fig.p_data.std),
        1e-5,
        "p_data",
      );
      const dStar = p.p_data[i] / (p.p_data[i] + p.p_g[i]);
      assertClose(p.D_star[i], dStar, 1e-5, `${p.label} D*[${i}]`);
      assert.ok(p.D[i] >= 0 && p.D[i] <= 1, "D is a probability");
      massG += p.p_g[i] * dx;
    }
    // The KDE of p_g is a density (its mass may only leak past the grid's ends).
    assert.ok(massG > 0.95 && massG < 1.01, `${p.label}: ∫p_g = ${massG}`);
  }
  const [a, b] = fig.panels;
  // Panel (b) is panel (a) after D-only steps against the same G: D moves towards D*.
  assert.deepEqual(a.p_g, b.p_g, "G is fixed between (a) and (b)");
  assert.ok(b.d_error < a.d_error / 3, `d_error ${a.d_error} → ${b.d_error}`);
  assert.ok(b.d_error < 0.1);
});

Deno.test("gaussian: the generator's samples approach N(4, 1.25²)", async () => {
  const g = await readJson(await quickRun(), "gaussian.json");
  assert.deepEqual(g.target, { mean: 4, std: 1.25 });
  // The real sample is the target up to Monte-Carlo error (n = 10000).
  assertClose(g.real_sample.mean, 4, 0.05, "real mean");
  assertClose(g.real_sample.std, 1.25, 0.05, "real std");
  // The initial generator sits near 0; a trained one is close to the target even in --quick.
  assertClose(g.generated.mean, 4, 0.5, "generated mean");
  assertClose(g.generated.std, 1.25, 0.5, "generated std");
  const total = (c: number[]) => c.reduce((s, v) => s + v, 0);
  assert.equal(g.histogram.edges.length, g.histogram.real.length + 1);
  assert.ok(total(g.histogram.real) > 0.99 * g.real_sample.n, "real mass inside [-1, 9]");
  assert.ok(total(g.histogram.generated) <= g.generated.n);
});

Deno.test("kl: forward KL fit is moment matching, reverse KL fit sits on one mode", async () => {
  const k = await readJson(await quickRun(), "kl.json");
  const { weights, means, stds } = k.p;
  // Mixture moments, per axis: E[x] = Σ w μ, Var[x] = Σ w (σ² + μ²) − E[x]².
  for (let d = 0; d < 2; d++) {
    const m = weights.reduce((s: number, w: number, i: number) => s + w * means[i][d], 0);
    const second = weights.reduce(
      (s: number, w: number, i: number) => s + w * (stds[i][d] ** 2 + means[i][d] ** 2),
      0,
    );
    const sd = Math.sqrt(second - m * m);
    assertClose(k.forward_kl_fit.mean[d], m, 0.06, `forward mean[${d}]`);
    assertClose(k.forward_kl_fit.std[d], sd, 0.06, `forward std[${d}]`);
    // Against the sample it was fitted on, the match is exact up to the optimizer.
    assertClose(k.forward_kl_fit.mean[d], k.p_sample_moments.mean[d], 0.01, `sample mean[${d}]`);
    assertClose(k.forward_kl_fit.std[d], k.p_sample_moments.std[d], 0.01, `sample std[${d}]`);
  }
  const rev = k.reverse_kl_fit;
  const dist = means.map((mu: number[]) => Math.hypot(rev.mean[0] - mu[0], rev.mean[1] - mu[1]));
  const mode = dist.indexOf(Math.min(...dist));
  assert.ok(dist[mode] < 0.15, `reverse fit mean ${rev.mean} is near a mode`);
  assertClose(rev.std[0], stds[mode][0], 0.1, "reverse std x");
  assertClose(rev.std[1], stds[mode][1], 0.1, "reverse std y");
  // With q ≈ component k, KL(q‖p) ≈ E_q[log q − log(w_k q)] = −log w_k.
  assertClose(rev.kl, -Math.log(weights[mode]), 0.05, "reverse KL value");
});

Deno.test("minimax: the six alternating steps from (1, 1) with η = 1, by hand", async () => {
  const out = await quickRun();
  const { header, rows } = await readCsv(out, "minimax_table.csv");
  assert.deepEqual(header, ["t", "x", "y"]);
  // x ← x − y, then y ← y + x (new x):
  // (1,1) → x = 0, y = 1 → x = −1, y = 0 → x = −1, y = −1 → x = 0, y = −1 → x = 1, y = 0 → (1,1)
  assert.deepEqual(rows, [
    [0, 1, 1],
    [1, 0, 1],
    [2, -1, 0],
    [3, -1, -1],
    [4, 0, -1],
    [5, 1, 0],
    [6, 1, 1],
  ]);
  const m = await readJson(out, "minimax.json");
  const byName = Object.fromEntries(
    // deno-lint-ignore no-explicit-any
    m.trajectories.map((t: any) => [t.name, t]),
  );
  // Alternating steps orbit: the radius neither shrinks to 0 nor blows up.
  const alt = byName["alternating, η = 0.1"];
  assert.ok(alt.min_radius > 0.8 && alt.max_radius < 1.8, JSON.stringify(alt));
  // Simultaneous steps multiply by [[1, −η], [η, 1]] = √(1 + η²)·rotation: r_t = √2·(1.01)^(t/2).
  const sim = byName["simultaneous, η = 0.1"];
  assertClose(Math.hypot(...sim.final), Math.SQRT2 * 1.01 ** 50, 1e-4, "simultaneous radius");
});

Deno.test("js-w1: JS = log 2 and KL = ∞ for θ ≠ 0 while W1 = |θ|", async () => {
  const out = await quickRun();
  const j = await readJson(out, "js_w1.json");
  assert.ok(j.rows.length >= 21);
  assert.ok(j.rows.some((r: { theta: number }) => r.theta === 0), "θ = 0 is included");
  for (const r of j.rows) {
    assertClose(r.w1, Math.abs(r.theta), 1e-6, `W1 at θ=${r.theta}`);
    if (r.theta === 0) {
      assert.equal(r.js, 0);
      assert.equal(r.kl, 0);
    } else {
      assertClose(r.js, Math.log(2), 1e-6, `JS at θ=${r.theta}`); // JSON keeps 6 digits
      assert.equal(r.kl, null, "KL = +∞ is written as null");
    }
  }
  const { header, rows } = await readCsv(out, "js_w1.csv");
  assert.deepEqual(header, ["theta", "js", "kl", "w1"]);
  assert.equal(rows.length, j.rows.length);
  for (const [theta, js, kl, w1] of rows) {
    // The CSV has full precision.
    assertClose(js, theta === 0 ? 0 : Math.log(2), 1e-12, `CSV JS at θ=${theta}`);
    assert.equal(kl, theta === 0 ? 0 : Infinity, "CSV keeps KL = Infinity");
    assertClose(w1, Math.abs(theta), 1e-12, `CSV W1 at θ=${theta}`);
  }
});

// ---- numeric helpers against independent references --------------------------------------------

/** Composite Simpson's rule for ∫_a^b f with n (even) intervals. */
function simpson(f: (x: number) => number, a: number, b: number, n: number): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return s * h / 3;
}

Deno.test("jsDivergence of discretized Gaussians matches Simpson quadrature of the JS integral", () => {
  for (const [m, s] of [[1, 1], [0.5, 1.5], [3, 0.7]]) {
    const p = (x: number) => gaussianPdf(x, 0, 1);
    const q = (x: number) => gaussianPdf(x, m, s);
    const term = (a: number, b: number) => (a > 0 ? a * Math.log((2 * a) / (a + b)) : 0);
    const reference = simpson(
      (x) => 0.5 * term(p(x), q(x)) + 0.5 * term(q(x), p(x)),
      -15,
      15,
      6000,
    );
    const grid = Array.from({ length: 30001 }, (_, i) => -15 + i * 0.001);
    const js = jsDivergence(grid.map(p), grid.map(q));
    assertClose(js, reference, 1e-6, `JS(N(0,1), N(${m},${s}²))`);
    assert.ok(js > 0 && js < Math.log(2));
  }
  // Identical and disjoint histograms: the two ends of the range; unnormalized counts are fine.
  assert.equal(jsDivergence([1, 2, 3], [2, 4, 6]), 0);
  assertClose(jsDivergence([5, 0, 0], [0, 0, 2]), Math.log(2), 1e-15);
  assert.equal(klDivergence([1, 1], [1, 0]), Infinity);
  assertClose(
    klDivergence([0.5, 0.5], [0.25, 0.75]),
    0.5 * Math.log(2) + 0.5 * Math.log(2 / 3),
    1e-15,
  );
});

Deno.test("w1Distance: shifts, unequal sample sizes, and two uniform samples by hand", () => {
  const a = new Rng(5, "w1").normalArray(500);
  for (const shift of [0, 0.3, -2]) {
    assertClose(w1Distance(a, a.map((v) => v + shift)), Math.abs(shift), 1e-5, `shift ${shift}`);
  }
  // Half of the mass moves 0 → 0.5 and half 1 → 0.5.
  assertClose(w1Distance([0, 1], [0.5]), 0.5, 1e-12);
  // U{0, 1, 2, 3} vs U{0, 2}: F differs by 1/4 on [0, 1) and [2, 3) → 0.5.
  assertClose(w1Distance([0, 1, 2, 3], [0, 2]), 0.5, 1e-12);
});

Deno.test("kde of a normal sample is close to the normal density", () => {
  const samples = new Rng(9, "kde").normalArray(4000);
  const grid = [-2, -1, 0, 0.5, 1.5];
  kde(samples, grid).forEach((v, i) =>
    assertClose(v, gaussianPdf(grid[i], 0, 1), 0.03, `x=${grid[i]}`)
  );
});

// ---- CLI and reproducibility -------------------------------------------------------------------

Deno.test("parseToyArgs: defaults, --only, and one-line UserErrors", () => {
  const d = parseToyArgs([]);
  assert.equal(d.out, join("results", "toys", "paper-all-seed0-cpu"));
  assert.equal(
    parseToyArgs(["--quick", "--only", "kl", "--seed", "2"]).runId,
    "quick-kl-seed2-cpu",
  );
  assert.equal(d.seed, 0);
  assert.equal(d.quick, false);
  assert.equal(d.figures.length, 5);
  assert.deepEqual(parseToyArgs(["--only", "kl", "--seed", "3"]).figures, ["kl"]);
  for (const bad of [["--bogus"], ["--only", "nope"], ["--seed", "-1"], ["--out"], ["stray"]]) {
    assert.throws(
      () => parseToyArgs(bad),
      (e: Error) => e instanceof UserError && !e.message.includes("\n"),
    );
  }
  assert.throws(() => parseToyArgs(["--bogus"]), /unknown option --bogus/);
});

Deno.test("the script exits with status 2 and one line on stderr for an unknown flag", async () => {
  const script = fileURLToPath(new URL("../papers/toys.ts", import.meta.url));
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", script, "--bogus"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 2);
  assert.equal(
    new TextDecoder().decode(stderr).trim(),
    "error: unknown option --bogus (see --help)",
  );
});

Deno.test("two --quick runs with the same seed write identical JSON; another seed differs", async () => {
  const first = await quickRun();
  const m = JSON.parse(await Deno.readTextFile(join(first, "manifest.json")));
  assert.equal(m.paper, "toys");
  assert.equal(m.status, "complete");
  assert.equal(m.runId, "quick-all-seed0-cpu");
  assert.deepEqual(m.config.figures, ["gan-fig1", "gaussian", "kl", "minimax", "js-w1"]);
  assert.ok(m.trainSeconds > 0);
  // Rerunning into the same directory replaces the toys run (no --fresh needed).
  await quiet(["--quick", "--only", "minimax", "--out", first]);
  const second = await Deno.makeTempDir({ prefix: "toys_test_" });
  await quiet(["--quick", "--out", second]);
  for (const f of ["gan_fig1.json", "gaussian.json", "kl.json", "minimax.json", "js_w1.json"]) {
    assert.equal(
      await Deno.readTextFile(join(second, f)),
      await Deno.readTextFile(join(first, f)),
      `${f} differs between runs`,
    );
  }
  const third = await Deno.makeTempDir({ prefix: "toys_test_" });
  await quiet(["--quick", "--only", "kl", "--seed", "1", "--out", third]);
  assert.notEqual(
    await Deno.readTextFile(join(third, "kl.json")),
    await Deno.readTextFile(join(first, "kl.json")),
  );
  for (const dir of [first, second, third]) await Deno.remove(dir, { recursive: true });
});

Deno.test("toys --quick reproduces the committed reference: identical figures and numbers", async () => {
  const out = await Deno.makeTempDir({ prefix: "toys_test_" });
  await quiet(["--quick", "--out", out]);
  await assertMatchesQuickReference("toys", out);
  await Deno.remove(out, { recursive: true });
});
