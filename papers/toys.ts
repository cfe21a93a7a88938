/**
 * The theory figures: small, exact experiments behind the claims the GAN papers make in pictures.
 *
 *   gan-fig1  Goodfellow et al. 2014, Figure 1: p_data, p_g and D(x) while a 1-D GAN trains, with
 *             the optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1).
 *   gaussian  A GAN fitting the 1-D Gaussian N(4, 1.25²): real vs generated histograms.
 *   kl        Forward vs reverse KL (as discussed in Goodfellow's 2016 NIPS tutorial): one Gaussian
 *             q fitted to a two-mode mixture p. KL(p‖q) averages the modes, KL(q‖p) picks one.
 *   minimax   Gradient steps on V(x, y) = xy, the standard example of non-convergence (also in the
 *             tutorial): x minimizes, y maximizes; the iterates orbit the equilibrium (0, 0).
 *   js-w1     Arjovsky et al. 2017, Example 1: for distributions with disjoint supports JS stays at
 *             log 2 (no gradient) while the Wasserstein-1 distance W1 = |θ| shrinks smoothly.
 *
 * Each figure writes an SVG plot and its numbers (JSON, and CSV for tables) under `--out`.
 * Everything is seeded: the same `--seed` gives byte-identical JSON.
 *
 *   deno run --allow-read --allow-write --allow-env papers/toys.ts [--quick] [--only NAME]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";
import { Run } from "../lib/run.ts";
import { Linear, normalInit } from "../lib/nn.ts";
import { Adam, minimize } from "../lib/optim.ts";
import { discriminatorMinimax, generatorNonSaturating } from "../lib/losses.ts";
import {
  type ContourGrid,
  contourPlot,
  histogram,
  histogramPlot,
  linePlot,
  type PointGroup,
  type Series,
} from "../lib/plot.ts";

// ---- command line ------------------------------------------------------------------------------

/** Names accepted by `--only`, in the order the figures run. */
export const FIGURES = ["gan-fig1", "gaussian", "kl", "minimax", "js-w1"] as const;
/** One of {@link FIGURES}. */
export type FigureName = typeof FIGURES[number];

/** Parsed command line of the toys script. */
export interface ToyOptions {
  out: string;
  /** quick|paper-<figures>-seed<N>-cpu, recorded in the manifest. */
  runId: string;
  seed: number;
  quick: boolean;
  figures: FigureName[];
  help: boolean;
}

const HELP = `usage: deno run --allow-read --allow-write --allow-env papers/toys.ts [options]

The GAN theory figures (Goodfellow 2014 Fig. 1, a 1-D Gaussian fit, forward vs reverse KL,
the xy minimax game, JS vs Wasserstein). Writes SVG plots plus JSON/CSV numbers.

  --out DIR      output directory (default results/toys/<quick|paper>-<figures>-seed<N>-cpu)
  --seed N       random seed (default 0)
  --quick        fewer training steps (finishes in seconds; for tests)
  --only NAME    one figure: ${FIGURES.join(", ")}
  --help         show this help`;

/** Parses the toys command line; throws {@link UserError} on anything it does not understand. */
export function parseToyArgs(args: string[]): ToyOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        out: { type: "string" },
        seed: { type: "string" },
        quick: { type: "boolean" },
        only: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    // node:util's messages span several lines and suggest "--"; ours is one line.
    const code = (e as { code?: string }).code;
    const quoted = (e as Error).message.match(/'([^' ]*)/)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw new UserError(`unknown option ${quoted} (see --help)`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const takesNone = (e as Error).message.includes("does not take an argument");
      throw new UserError(
        `option ${quoted} ${takesNone ? "takes no value" : "needs a value"} (see --help)`,
      );
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      throw new UserError(
        `unexpected argument "${quoted}": the toys take only options (see --help)`,
      );
    }
    throw new UserError(`${(e as Error).message.split("\n")[0]} (see --help)`);
  }
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new UserError(`--seed expects a non-negative integer, got "${values.seed}"`);
  }
  let figures: FigureName[] = [...FIGURES];
  if (values.only !== undefined) {
    if (!(FIGURES as readonly string[]).includes(values.only)) {
      throw new UserError(`--only: unknown figure "${values.only}" (one of ${FIGURES.join(", ")})`);
    }
    figures = [values.only as FigureName];
  }
  const quick = values.quick ?? false;
  // Named like the other papers' runs (results/<paper>/<run-id>), so references and checks work.
  const which = figures.length === FIGURES.length ? "all" : figures.join("+");
  const runId = `${quick ? "quick" : "paper"}-${which}-seed${seed}-cpu`;
  return {
    out: values.out ?? join("results", "toys", runId),
    runId,
    seed,
    quick,
    figures,
    help: values.help ?? false,
  };
}

/** Runs the figures selected by `args` (see `--help`). */
export async function main(args: string[]): Promise<void> {
  const opts = parseToyArgs(args);
  if (opts.help) {
    console.log(HELP);
    return;
  }
  await tf.setBackend("cpu");
  // A manifest like every paper's (config, seed, versions, commit), so the figures can be cited,
  // committed as a reference and checked. Each figure rewrites its files, so a rerun into the same
  // directory replaces the previous toys run.
  if (await isToysRun(opts.out)) await Deno.remove(join(opts.out, "manifest.json"));
  const manifestRun = await Run.open({
    paper: "toys",
    runId: opts.runId,
    dir: opts.out,
    config: { quick: opts.quick, figures: opts.figures },
    seed: opts.seed,
    backend: { name: "cpu", reason: "the toys are tiny: always cpu", device: "", kernels: [] },
    dataset: null,
    resume: false,
  });
  const started = performance.now();
  const run: Record<FigureName, () => Promise<void>> = {
    "gan-fig1": () => ganFigure1(opts),
    "gaussian": () => gaussianFit(opts),
    "kl": () => klFits(opts),
    "minimax": () => minimaxGame(opts),
    "js-w1": () => jsVersusW1(opts),
  };
  for (const name of opts.figures) {
    const t0 = performance.now();
    await run[name]();
    log(name, `done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  manifestRun.manifest.trainSeconds = (performance.now() - started) / 1000;
  await manifestRun.finish();
}

async function isToysRun(dir: string): Promise<boolean> {
  try {
    return (await Run.readManifest(dir)).paper === "toys";
  } catch {
    return false;
  }
}

function log(figure: string, message: string): void {
  console.error(`[${figure}] ${message}`);
}

// ---- small numeric helpers (plain JS, float64) -------------------------------------------------

/** n evenly spaced values from lo to hi inclusive. */
function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + (hi - lo) * i / (n - 1));
}

function gaussianPdf(x: number, mean: number, std: number): number {
  const u = (x - mean) / std;
  return Math.exp(-0.5 * u * u) / (std * Math.sqrt(2 * Math.PI));
}

function meanStd(xs: ArrayLike<number>): { mean: number; std: number } {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i];
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2;
  return { mean: m, std: Math.sqrt(v / xs.length) };
}

/**
 * Gaussian kernel density estimate of `samples` at each point of `grid`, with Silverman's
 * rule-of-thumb bandwidth 1.06·σ̂·n^(−1/5) — how we turn generator samples into a density p_g.
 */
export function kde(samples: ArrayLike<number>, grid: number[]): number[] {
  const { std } = meanStd(samples);
  const h = Math.max(1.06 * std * samples.length ** -0.2, 1e-3);
  return grid.map((x) => {
    let s = 0;
    for (let i = 0; i < samples.length; i++) s += gaussianPdf(x, samples[i], h);
    return s / samples.length;
  });
}

/** Rounds to 6 significant digits so the JSON stays readable; NaN/∞ become null. */
function r6(x: number): number | null {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : null;
}

function toCsv(header: string[], rows: (number | string)[][]): string {
  return [header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n";
}

async function writeJson(path: string, data: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(data, null, 1) + "\n");
}

// ---- a 1-D GAN (figures gan-fig1 and gaussian) -------------------------------------------------

/**
 * A tiny GAN on the real line, as in Goodfellow et al. 2014: z ~ U(−1, 1) is pushed through an MLP
 * G to give x; D is an MLP that outputs a logit. D is trained on the minimax loss, G on the
 * non-saturating loss (the paper's practical choice), both with Adam.
 */
class Gan1d {
  readonly g: Linear[];
  readonly d: Linear[];
  readonly gVars: tf.Variable[];
  readonly dVars: tf.Variable[];
  readonly optG = new Adam(1e-3, 0.5);
  readonly optD = new Adam(1e-3, 0.5);

  constructor(seed: number, readonly dataMean: number, readonly dataStd: number) {
    const init = new Rng(seed, "toys/gan1d-init");
    // G's weights start at N(0, 1/fan_in) rather than PyTorch's smaller U(±1/√fan_in), so the
    // initial p_g is about as wide as p_data (as in the paper's figure) instead of a spike.
    const gInit = (fanIn: number) => ({ weightInit: normalInit(1 / Math.sqrt(fanIn)) });
    this.g = [
      new Linear(init, 1, 16, gInit(1)),
      new Linear(init, 16, 16, gInit(16)),
      new Linear(init, 16, 1, gInit(16)),
    ];
    this.d = [new Linear(init, 1, 32), new Linear(init, 32, 32), new Linear(init, 32, 1)];
    this.gVars = this.g.flatMap((l) => l.trainableVariables());
    this.dVars = this.d.flatMap((l) => l.trainableVariables());
  }

  generate(z: tf.Tensor): tf.Tensor {
    const [l1, l2, l3] = this.g;
    return l3.apply(tf.tanh(l2.apply(tf.tanh(l1.apply(z)))));
  }

  /** D's logit. */
  discriminate(x: tf.Tensor): tf.Tensor {
    const [l1, l2, l3] = this.d;
    return l3.apply(tf.leakyRelu(l2.apply(tf.leakyRelu(l1.apply(x), 0.2)), 0.2));
  }

  /** One D step on a fresh batch of real and generated samples; returns the loss. */
  stepD(noise: Rng, batch: number): number {
    return tf.tidy(() => {
      const real = tf.tensor2d(noise.normalArray(batch, this.dataMean, this.dataStd), [batch, 1]);
      const z = tf.tensor2d(noise.uniformArray(batch, -1, 1), [batch, 1]);
      const fake = this.generate(z); // G is not in dVars, so no gradient reaches it here
      return minimize(
        this.optD,
        this.dVars,
        () => discriminatorMinimax(this.discriminate(real), this.discriminate(fake)),
      );
    });
  }

  /** One G step; returns the loss. */
  stepG(noise: Rng, batch: number): number {
    return tf.tidy(() => {
      const z = tf.tensor2d(noise.uniformArray(batch, -1, 1), [batch, 1]);
      return minimize(
        this.optG,
        this.gVars,
        () => generatorNonSaturating(this.discriminate(this.generate(z))),
      );
    });
  }

  /** G(z) for the given z values. */
  samples(z: Float32Array): Float32Array {
    return tf.tidy(() => this.generate(tf.tensor2d(z, [z.length, 1])).dataSync() as Float32Array);
  }

  dispose(): void {
    for (const v of [...this.gVars, ...this.dVars]) v.dispose();
    this.optG.dispose();
    this.optD.dispose();
  }

  /** D(x) = σ(logit) on a grid. */
  dOnGrid(grid: number[]): number[] {
    return tf.tidy(() =>
      Array.from(tf.sigmoid(this.discriminate(tf.tensor2d(grid, [grid.length, 1]))).dataSync())
    );
  }
}

/** Alternates D and G steps (k = 1, as in the paper's experiments) and logs progress. */
function trainGan(
  gan: Gan1d,
  noise: Rng,
  iterations: number,
  batch: number,
  tag: string,
  dOnly = false,
): void {
  const every = Math.max(1, Math.floor(iterations / 5));
  for (let it = 1; it <= iterations; it++) {
    const lossD = gan.stepD(noise, batch);
    const lossG = dOnly ? NaN : gan.stepG(noise, batch);
    if (it % every === 0 || it === iterations) {
      log(tag, `iter ${it}/${iterations}  loss D ${lossD.toFixed(4)}  G ${lossG.toFixed(4)}`);
    }
  }
}

/** One panel of Figure 1: densities and discriminators on the x grid. */
interface Fig1Panel {
  label: string;
  /** Training steps (D steps, G steps) taken so far. */
  dSteps: number;
  gSteps: number;
  x: number[];
  p_data: number[];
  p_g: number[];
  D: number[];
  D_star: number[];
  /** ∫|D − D*|·(p_data + p_g)/2 dx: how far D is from optimal where there is probability mass. */
  d_error: number;
  /** The arrows of the figure: where a few z values are mapped. */
  mapping: { z: number[]; x: number[] };
}

/**
 * Goodfellow et al. 2014, Figure 1. Panels: (a) the initial pair; (b) D trained alone towards
 * D* = p_data/(p_data + p_g) for that fixed G (the inner loop); (c) after alternating updates G
 * has moved towards the data; (d) at the end p_g ≈ p_data and D ≈ 1/2 everywhere.
 */
async function ganFigure1(opts: ToyOptions): Promise<void> {
  const tag = "gan-fig1";
  const dataMean = 2, dataStd = 0.5;
  const cfg = opts.quick
    ? { warm: 20, dOnly: 100, mid: 100, end: 400, batch: 128, evalN: 2000 }
    : { warm: 20, dOnly: 1000, mid: 300, end: 4000, batch: 128, evalN: 5000 };
  const gan = new Gan1d(opts.seed, dataMean, dataStd);
  const noise = new Rng(opts.seed, "toys/gan-fig1-noise");
  // The same z sample is used to estimate p_g in every panel, so panels differ only by training.
  const zEval = new Rng(opts.seed, "toys/gan-fig1-eval").uniformArray(cfg.evalN, -1, 1);
  const x = linspace(-1.5, 4.5, 241);
  const dx = x[1] - x[0];
  const pData = x.map((v) => gaussianPdf(v, dataMean, dataStd));
  const zArrows = linspace(-1, 1, 11);
  let dSteps = 0, gSteps = 0;
  const panels: Fig1Panel[] = [];
  const snapshot = (label: string) => {
    const pG = kde(gan.samples(zEval), x);
    const d = gan.dOnGrid(x);
    const dStar = x.map((_, i) => pData[i] / (pData[i] + pG[i]));
    let err = 0;
    for (let i = 0; i < x.length; i++) err += Math.abs(d[i] - dStar[i]) * (pData[i] + pG[i]) / 2;
    panels.push({
      label,
      dSteps,
      gSteps,
      x: x.map((v) => r6(v)!),
      p_data: pData.map((v) => r6(v)!),
      p_g: pG.map((v) => r6(v)!),
      D: d.map((v) => r6(v)!),
      D_star: dStar.map((v) => r6(v)!),
      d_error: r6(err * dx)!,
      mapping: {
        z: zArrows.map((v) => r6(v)!),
        x: Array.from(gan.samples(new Float32Array(zArrows)), (v) => r6(v)!),
      },
    });
    log(tag, `panel "${label}": ∫|D − D*| = ${(err * dx).toFixed(4)}`);
  };

  // (a) the initial G, with D given a few steps so that it is a "partially accurate classifier".
  trainGan(gan, noise, cfg.warm, cfg.batch, tag, true);
  dSteps += cfg.warm;
  snapshot("(a) initial G, partly trained D");
  // (b) the inner loop: D alone converges towards D* for this G.
  trainGan(gan, noise, cfg.dOnly, cfg.batch, tag, true);
  dSteps += cfg.dOnly;
  snapshot("(b) D trained alone towards D*");
  // (c) a few alternating updates: D's gradient moves G(z) towards regions D calls "data".
  trainGan(gan, noise, cfg.mid, cfg.batch, tag);
  dSteps += cfg.mid;
  gSteps += cfg.mid;
  snapshot("(c) after G updates");
  // (d) long training: p_g ≈ p_data and D ≈ 1/2.
  trainGan(gan, noise, cfg.end, cfg.batch, tag);
  dSteps += cfg.end;
  gSteps += cfg.end;
  snapshot("(d) after training");
  gan.dispose();

  const data = {
    figure: "Goodfellow et al. 2014, Figure 1",
    seed: opts.seed,
    quick: opts.quick,
    p_data: { mean: dataMean, std: dataStd },
    z: "U(-1, 1)",
    batch: cfg.batch,
    p_g_estimate: `Gaussian KDE (Silverman bandwidth) of ${cfg.evalN} samples G(z)`,
    panels,
  };
  await writeJson(join(opts.out, "gan_fig1.json"), data);
  for (const [i, panel] of panels.entries()) {
    await writeFileAtomic(join(opts.out, `gan_fig1_${"abcd"[i]}.svg`), plotFig1(panel));
  }
}

/** A GAN fitting N(4, 1.25²): histograms of real and generated samples, and the fitted moments. */
async function gaussianFit(opts: ToyOptions): Promise<void> {
  const tag = "gaussian";
  const mean = 4, std = 1.25;
  const cfg = opts.quick ? { iterations: 600, batch: 128 } : { iterations: 6000, batch: 128 };
  const gan = new Gan1d(opts.seed, mean, std);
  trainGan(gan, new Rng(opts.seed, "toys/gaussian-noise"), cfg.iterations, cfg.batch, tag);
  const evalRng = new Rng(opts.seed, "toys/gaussian-eval");
  const n = 10000;
  const real = evalRng.normalArray(n, mean, std);
  const fake = gan.samples(evalRng.uniformArray(n, -1, 1));
  const range: [number, number] = [-1, 9];
  const realHist = histogram(real, 50, range), fakeHist = histogram(fake, 50, range);
  gan.dispose();
  const fitted = meanStd(fake), sample = meanStd(real);
  log(tag, `generated mean ${fitted.mean.toFixed(3)} std ${fitted.std.toFixed(3)}`);
  const data = {
    figure: "GAN fitting a 1-D Gaussian",
    seed: opts.seed,
    quick: opts.quick,
    iterations: cfg.iterations,
    batch: cfg.batch,
    target: { mean, std },
    real_sample: { n, mean: r6(sample.mean), std: r6(sample.std) },
    generated: { n, mean: r6(fitted.mean), std: r6(fitted.std) },
    histogram: {
      edges: Array.from(realHist.edges, r6),
      real: Array.from(realHist.counts),
      generated: Array.from(fakeHist.counts),
    },
  };
  await writeJson(join(opts.out, "gaussian.json"), data);
  await writeFileAtomic(join(opts.out, "gaussian.svg"), plotGaussian(real, fake, range, mean, std));
}

// ---- forward vs reverse KL (figure kl) ---------------------------------------------------------

/** A 2-D Gaussian mixture with axis-aligned components. */
interface Mixture {
  weights: number[];
  means: [number, number][];
  stds: [number, number][];
}

/** p: two well-separated modes of unequal weight and shape. */
const MIXTURE: Mixture = {
  weights: [0.6, 0.4],
  means: [[-2, 0], [2, 0]],
  stds: [[0.6, 0.9], [0.6, 0.6]],
};

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * n samples of the mixture, stratified: exactly round(w_k·n) from component k instead of drawing
 * the component at random, which removes the largest source of Monte-Carlo error in the moments
 * (the spread between the modes).
 */
function sampleMixture(m: Mixture, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(2 * n);
  let i = 0;
  m.weights.forEach((w, k) => {
    const count = k === m.weights.length - 1 ? n - i : Math.round(w * n);
    for (let c = 0; c < count; c++, i++) {
      out[2 * i] = m.means[k][0] + m.stds[k][0] * rng.normal();
      out[2 * i + 1] = m.means[k][1] + m.stds[k][1] * rng.normal();
    }
  });
  return out;
}

/** log N(x; μ, diag σ²) for each row of x [N, 2], with σ = exp(logSigma). */
function diagGaussianLogPdf(x: tf.Tensor, mu: tf.Tensor, logSigma: tf.Tensor): tf.Tensor {
  const u = tf.div(tf.sub(x, mu), tf.exp(logSigma));
  return tf.sub(
    tf.mul(tf.sum(tf.square(u), 1), -0.5),
    tf.add(tf.sum(logSigma), LOG_2PI), // Σ_d (log σ_d + ½ log 2π) for d = 2
  );
}

/** log p(x) of the mixture for each row of x, via log-sum-exp over components. */
function mixtureLogPdf(m: Mixture, x: tf.Tensor): tf.Tensor {
  const perComponent = m.weights.map((w, k) =>
    tf.add(
      diagGaussianLogPdf(x, tf.tensor1d(m.means[k]), tf.log(tf.tensor1d(m.stds[k]))),
      Math.log(w),
    )
  );
  return tf.logSumExp(tf.stack(perComponent, 1), 1);
}

function mixturePdf(m: Mixture, x: number, y: number): number {
  return m.weights.reduce(
    (s, w, k) =>
      s +
      w * gaussianPdf(x, m.means[k][0], m.stds[k][0]) * gaussianPdf(y, m.means[k][1], m.stds[k][1]),
    0,
  );
}

/** A fitted diagonal Gaussian q = N(mean, diag std²) and the KL it reached. */
interface GaussianFit {
  mean: number[];
  std: number[];
  /** Monte-Carlo estimate of the divergence that was minimized, at the end. */
  kl: number;
}

/**
 * Fits q = N(μ, diag σ²) by Adam on (μ, log σ), minimizing either
 * - forward KL(p‖q) = E_p[log p − log q]: only −E_p[log q] depends on q, estimated on a fixed sample
 *   from p; its minimizer is p's mean and per-axis variance (moment matching), or
 * - reverse KL(q‖p) = E_q[log q − log p], estimated with the reparameterization x = μ + σ·ε on a
 *   fixed sample ε ~ N(0, I), so the gradient flows through the samples.
 */
function fitGaussian(
  direction: "forward" | "reverse",
  pSamples: tf.Tensor,
  eps: tf.Tensor,
  init: { mean: number[]; std: number[] },
  steps: number,
): GaussianFit {
  const mu = tf.variable(tf.tensor1d(init.mean));
  const logSigma = tf.variable(tf.log(tf.tensor1d(init.std)));
  const opt = new Adam(0.05);
  const logPOnSamples = mixtureLogPdf(MIXTURE, pSamples);
  const kl = (): tf.Scalar =>
    tf.tidy(() => {
      if (direction === "forward") {
        return tf.mean(tf.sub(logPOnSamples, diagGaussianLogPdf(pSamples, mu, logSigma)));
      }
      const x = tf.add(mu, tf.mul(tf.exp(logSigma), eps));
      return tf.mean(tf.sub(diagGaussianLogPdf(x, mu, logSigma), mixtureLogPdf(MIXTURE, x)));
    }) as tf.Scalar;
  let last = NaN;
  for (let i = 0; i < steps; i++) last = minimize(opt, [mu, logSigma], kl);
  const fit = {
    mean: Array.from(mu.dataSync()),
    std: Array.from(tf.tidy(() => tf.exp(logSigma).dataSync())),
    kl: tf.tidy(() => kl().dataSync()[0]),
  };
  log(
    "kl",
    `${direction}: KL ${last.toFixed(4)} → μ (${fit.mean.map((v) => v.toFixed(3))}),` +
      ` σ (${fit.std.map((v) => v.toFixed(3))})`,
  );
  mu.dispose();
  logSigma.dispose();
  logPOnSamples.dispose();
  opt.dispose();
  return fit;
}

/** Forward vs reverse KL: contour plots of p and of the two fitted Gaussians, and their parameters. */
async function klFits(opts: ToyOptions): Promise<void> {
  const n = opts.quick ? 4000 : 20000;
  const steps = opts.quick ? 150 : 600;
  const rng = new Rng(opts.seed, "toys/kl");
  const pSamples = tf.tensor2d(sampleMixture(MIXTURE, n, rng), [n, 2]);
  const eps = rng.randn([n, 2]);
  // Both fits start from the same narrow Gaussian near the middle. (Reverse KL has more local
  // optima than the two modes: started broad, e.g. σ = 1.5, it can stall on a wide q centred in the
  // gap, with KL ≈ 1.2 against ≈ 0.5 on the heavier mode.)
  const init = { mean: [rng.normal() * 0.5, rng.normal() * 0.5], std: [0.5, 0.5] };
  const forward = fitGaussian("forward", pSamples, eps, init, steps);
  const reverse = fitGaussian("reverse", pSamples, eps, init, steps);
  const sampleMoments = tf.tidy(() => {
    const { mean, variance } = tf.moments(pSamples, 0);
    return { mean: Array.from(mean.dataSync()), std: Array.from(tf.sqrt(variance).dataSync()) };
  });
  pSamples.dispose();
  eps.dispose();

  const fmt = (f: GaussianFit) => ({ mean: f.mean.map(r6), std: f.std.map(r6), kl: r6(f.kl) });
  const data = {
    figure: "Forward vs reverse KL: one Gaussian fitted to a two-mode mixture",
    seed: opts.seed,
    quick: opts.quick,
    p: MIXTURE,
    samples: n,
    steps,
    init: { mean: init.mean.map(r6), std: init.std },
    p_sample_moments: { mean: sampleMoments.mean.map(r6), std: sampleMoments.std.map(r6) },
    forward_kl_fit: fmt(forward),
    reverse_kl_fit: fmt(reverse),
  };
  await writeJson(join(opts.out, "kl.json"), data);
  const svg = plotKl(forward, reverse);
  await writeFileAtomic(join(opts.out, "kl.svg"), svg.all);
  await writeFileAtomic(join(opts.out, "kl_forward.svg"), svg.fits[0]);
  await writeFileAtomic(join(opts.out, "kl_reverse.svg"), svg.fits[1]);
}

// ---- the xy minimax game (figure minimax) ------------------------------------------------------

/**
 * Alternating gradient steps on V(x, y) = xy: x descends (∂V/∂x = y), then y ascends using the new
 * x (∂V/∂y = x): x ← x − η·y, y ← y + η·x. Returns the iterates including the start.
 */
export function alternatingSteps(x0: number, y0: number, eta: number, steps: number): number[][] {
  const out = [[x0, y0]];
  let x = x0, y = y0;
  for (let t = 0; t < steps; t++) {
    x = x - eta * y;
    y = y + eta * x;
    out.push([x, y]);
  }
  return out;
}

/** Simultaneous gradient steps on V(x, y) = xy (both use the old values): spirals outwards. */
export function simultaneousSteps(x0: number, y0: number, eta: number, steps: number): number[][] {
  const out = [[x0, y0]];
  let x = x0, y = y0;
  for (let t = 0; t < steps; t++) {
    [x, y] = [x - eta * y, y + eta * x];
    out.push([x, y]);
  }
  return out;
}

/** The minimax example: the six-step table with η = 1, and longer trajectories. */
async function minimaxGame(opts: ToyOptions): Promise<void> {
  const table = alternatingSteps(1, 1, 1, 6);
  const markdown = [
    "| t | x_t | y_t |",
    "|---|-----|-----|",
    ...table.map(([x, y], t) => `| ${t} | ${x} | ${y} |`),
  ].join("\n");
  console.log(`Alternating gradient steps on V(x, y) = xy, η = 1, from (1, 1):\n${markdown}`);
  await writeFileAtomic(
    join(opts.out, "minimax_table.csv"),
    toCsv(["t", "x", "y"], table.map(([x, y], t) => [t, x, y])),
  );
  const steps = 100;
  const runs = {
    "alternating, η = 1": alternatingSteps(1, 1, 1, steps),
    "alternating, η = 0.1": alternatingSteps(1, 1, 0.1, steps),
    "simultaneous, η = 0.1": simultaneousSteps(1, 1, 0.1, steps),
  };
  const radius = (p: number[][]) => p.map(([x, y]) => Math.hypot(x, y));
  const summary = Object.entries(runs).map(([name, path]) => {
    const r = radius(path);
    return {
      name,
      steps,
      final: path[steps].map(r6),
      min_radius: r6(Math.min(...r)),
      max_radius: r6(Math.max(...r)),
    };
  });
  await writeJson(join(opts.out, "minimax.json"), {
    figure: "Gradient steps on the minimax game V(x, y) = xy",
    table: table.map(([x, y], t) => ({ t, x, y })),
    trajectories: summary,
  });
  const names = Object.keys(runs);
  await writeFileAtomic(
    join(opts.out, "minimax_trajectory.csv"),
    toCsv(
      ["step", ...names.flatMap((_, i) => [`x${i}`, `y${i}`])],
      Array.from(
        { length: steps + 1 },
        (_, t) => [t, ...Object.values(runs).flatMap((p) => p[t].map((v) => r6(v) ?? "nan"))],
      ),
    ),
  );
  await writeFileAtomic(join(opts.out, "minimax.svg"), plotMinimax(runs));
}

// ---- JS vs Wasserstein (figure js-w1) ----------------------------------------------------------

/**
 * Jensen–Shannon divergence (natural log, so 0 ≤ JS ≤ log 2) between two histograms or
 * probability vectors over the same bins; each is normalized to sum 1, and 0·log 0 = 0.
 */
export function jsDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error("jsDivergence: p and q need the same bins");
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i];
    sq += q[i];
  }
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i] / sp, b = q[i] / sq, m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log(a / m);
    if (b > 0) js += 0.5 * b * Math.log(b / m);
  }
  return js;
}

/** KL(p‖q) between histograms over the same bins: +∞ when p has mass where q has none. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i];
    sq += q[i];
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i] / sp, b = q[i] / sq;
    if (a > 0) kl += b > 0 ? a * Math.log(a / b) : Infinity;
  }
  return kl;
}

/**
 * Wasserstein-1 distance between two 1-D empirical distributions (any sizes): ∫|F_a(x) − F_b(x)| dx
 * over the merged sorted samples, where F are the empirical CDFs.
 */
export function w1Distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const sa = Float64Array.from(a).sort(), sb = Float64Array.from(b).sort();
  let i = 0, j = 0, w = 0;
  let x = Math.min(sa[0], sb[0]);
  while (i < sa.length || j < sb.length) {
    const next = j >= sb.length || (i < sa.length && sa[i] <= sb[j]) ? sa[i] : sb[j];
    // On [x, next) both CDFs are constant: i/|a| and j/|b|.
    w += Math.abs(i / sa.length - j / sb.length) * (next - x);
    x = next;
    while (i < sa.length && sa[i] === next) i++;
    while (j < sb.length && sb[j] === next) j++;
  }
  return w;
}

/**
 * Arjovsky et al. 2017, Example 1: P₀ is the law of (0, Z) and P_θ of (θ, Z), Z ~ U[0, 1] — two
 * parallel segments. For θ ≠ 0 the supports are disjoint, so JS(P₀, P_θ) = log 2 and KL = +∞ no
 * matter how close the segments are, while W1 = |θ|. Z is shared and independent of the first
 * coordinate, so both divergences and W1 equal those of the first coordinates alone, δ(0) vs δ(θ)
 * (the coupling (0, z) → (θ, z) attains |θ|, and projecting cannot increase W1). We compute them
 * numerically from samples: JS and KL from histograms, W1 from the empirical CDFs.
 */
async function jsVersusW1(opts: ToyOptions): Promise<void> {
  const n = 1000;
  const thetas = linspace(-1, 1, 41);
  // Bins of width 0.01 centred on multiples of 0.01, so 0 and every θ sit mid-bin.
  const range: [number, number] = [-1.505, 1.505];
  const bins = 301;
  const p = new Float64Array(n); // first coordinates of P₀: all 0
  const pHist = histogram(p, bins, range).counts;
  const rows = thetas.map((theta) => {
    const q = new Float64Array(n).fill(theta);
    const qHist = histogram(q, bins, range).counts;
    return {
      theta: r6(theta)!,
      js: jsDivergence(pHist, qHist),
      kl: klDivergence(pHist, qHist),
      w1: w1Distance(p, q),
    };
  });
  log(
    "js-w1",
    `θ = 0.5: JS ${rows[30].js.toFixed(4)} (log 2 = ${Math.LN2.toFixed(4)}), W1 ${
      rows[30].w1.toFixed(4)
    }`,
  );
  await writeJson(join(opts.out, "js_w1.json"), {
    figure: "Arjovsky et al. 2017, Example 1: JS vs W1 for disjoint supports",
    samples: n,
    log2: Math.LN2,
    // KL is +∞ for θ ≠ 0; JSON has no infinity, so it is written as null.
    rows: rows.map((r) => ({ theta: r.theta, js: r6(r.js), kl: r6(r.kl), w1: r6(r.w1) })),
  });
  await writeFileAtomic(
    join(opts.out, "js_w1.csv"),
    toCsv(["theta", "js", "kl", "w1"], rows.map((r) => [r.theta, r.js, r.kl, r.w1])),
  );
  await writeFileAtomic(join(opts.out, "js_w1.svg"), plotJsW1(rows));
}

// ---- plots -------------------------------------------------------------------------------------

function plotFig1(panel: Fig1Panel): string {
  const series: Series[] = [
    { name: "p_data", x: panel.x, y: panel.p_data, color: "#000000", dashed: true },
    { name: "p_g", x: panel.x, y: panel.p_g, color: "#2ca02c", width: 2 },
    { name: "D(x)", x: panel.x, y: panel.D, color: "#1f77b4", dashed: true, width: 2 },
    { name: "D*(x) = p_data/(p_data+p_g)", x: panel.x, y: panel.D_star, color: "#d62728" },
  ];
  return linePlot(series, {
    title: `Goodfellow et al. 2014, Fig. 1 ${panel.label}`,
    width: 720,
    xLabel: "x",
    yLabel: "density / D(x)",
    legend: "top-left",
  });
}

function plotGaussian(
  real: ArrayLike<number>,
  fake: ArrayLike<number>,
  range: [number, number],
  mean: number,
  std: number,
): string {
  const x = linspace(range[0], range[1], 201);
  return histogramPlot(
    [{ name: "real", values: real }, { name: "generated", values: fake }],
    {
      bins: 50,
      range,
      density: true,
      overlay: [{
        name: `N(${mean}, ${std}²)`,
        x,
        y: x.map((v) => gaussianPdf(v, mean, std)),
        color: "#000000",
        dashed: true,
      }],
      title: "A GAN fitting a 1-D Gaussian",
      xLabel: "x",
      yLabel: "density",
    },
  );
}

/** Points along the 1σ and 2σ ellipses of N(mean, diag std²), drawn as a dotted outline. */
function ellipsePoints(name: string, fit: GaussianFit, color: string): PointGroup {
  const x: number[] = [], y: number[] = [];
  for (const k of [1, 2]) {
    for (let i = 0; i < 120; i++) {
      const a = 2 * Math.PI * i / 120;
      x.push(fit.mean[0] + k * fit.std[0] * Math.cos(a));
      y.push(fit.mean[1] + k * fit.std[1] * Math.sin(a));
    }
  }
  return { name, x, y, color, radius: 1.3 };
}

function densityGrid(f: (x: number, y: number) => number): ContourGrid {
  const xs = linspace(-5, 5, 101), ys = linspace(-3.5, 3.5, 71);
  const z = new Float64Array(xs.length * ys.length);
  ys.forEach((y, j) => xs.forEach((x, i) => (z[j * xs.length + i] = f(x, y))));
  return { xs, ys, z };
}

function plotKl(forward: GaussianFit, reverse: GaussianFit): { all: string; fits: string[] } {
  const axes = { xLabel: "x₁", yLabel: "x₂", width: 640, height: 460 };
  const all = contourPlot(densityGrid((x, y) => mixturePdf(MIXTURE, x, y)), {
    ...axes,
    filled: true,
    title: "One Gaussian q fitted to a two-mode p (filled)",
    points: [
      ellipsePoints("argmin KL(p‖q) (1σ, 2σ)", forward, "#ff7f0e"),
      ellipsePoints("argmin KL(q‖p) (1σ, 2σ)", reverse, "#d62728"),
    ],
  });
  const fits = ([["KL(p‖q)", forward], ["KL(q‖p)", reverse]] as const).map(([name, fit]) =>
    contourPlot(
      densityGrid((x, y) =>
        gaussianPdf(x, fit.mean[0], fit.std[0]) * gaussianPdf(y, fit.mean[1], fit.std[1])
      ),
      { ...axes, title: `q fitted by minimizing ${name} (p's modes marked)`, points: [modes()] },
    )
  );
  return { all, fits };
}

function modes(): PointGroup {
  return {
    name: "modes of p",
    x: MIXTURE.means.map((m) => m[0]),
    y: MIXTURE.means.map((m) => m[1]),
    color: "#000000",
    radius: 4,
  };
}

function plotMinimax(runs: Record<string, number[][]>): string {
  const series: Series[] = Object.entries(runs).map(([name, path], i) => ({
    name,
    x: path.map((p) => p[0]),
    y: path.map((p) => p[1]),
    markers: i === 0,
    dashed: i === 2,
  }));
  return linePlot(series, {
    title: "Gradient steps on V(x, y) = xy from (1, 1)",
    xLabel: "x",
    yLabel: "y",
    width: 560,
    height: 560,
  });
}

function plotJsW1(rows: { theta: number; js: number; w1: number }[]): string {
  const x = rows.map((r) => r.theta);
  return linePlot(
    [
      { name: "JS(P₀, P_θ)", x, y: rows.map((r) => r.js), markers: true },
      { name: "W1(P₀, P_θ)", x, y: rows.map((r) => r.w1), markers: true },
      { name: "log 2", x, y: x.map(() => Math.LN2), color: "#7f7f7f", dashed: true },
    ],
    {
      title: "Arjovsky et al. 2017, Example 1 (KL = +∞ for θ ≠ 0, not drawn)",
      xLabel: "θ",
      yLabel: "divergence / distance",
      legend: "bottom-left",
    },
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exit(2);
  }
}
