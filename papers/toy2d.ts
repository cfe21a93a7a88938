/**
 * The classic 2-D mode-coverage figure: a GAN, a WGAN (weight clipping), a WGAN-GP and an SNGAN
 * (hinge loss) trained on two Gaussian mixtures, with each generator's samples drawn over its
 * critic's (discriminator's) contour plot — the toy experiment of Gulrajani et al. 2017 (Fig. 1,
 * code: github.com/igul222/improved_wgan_training, gan_toy.py) extended to all four methods.
 *
 * Data (an endless stream of fresh samples):
 *   8gaussians   eight Gaussians on a circle of radius 2, σ = 0.02;
 *   25gaussians  a 5×5 grid of Gaussians at (−4 + 2i, −4 + 2j), σ = 0.05 (the VEEGAN/PacGAN grid).
 *
 * Networks (gan_toy.py): G: z ∈ R² ~ N(0, I) → 512 → 512 → 512 → 2, ReLU; D: 2 → 512 → 512 → 512
 * → 1, ReLU, no output nonlinearity; PyTorch's default initialization. Batch 256. Per method:
 *   gan      non-saturating GAN loss, Adam(1e-4, 0.5, 0.9), one D update per G update;
 *   wgan     Algorithm 1 of Arjovsky et al.: RMSprop(5e-5), clip c = 0.01, n_critic = 5;
 *   wgan-gp  Algorithm 1 of Gulrajani et al. with gan_toy.py's λ = 0.1 (its images use 10),
 *            Adam(1e-4, 0.5, 0.9), n_critic = 5;
 *   sngan    every D layer spectrally normalized, hinge loss, Adam(1e-4, 0.5, 0.9), n_dis = 5
 *            (Miyato et al.'s setting A).
 * The GAN uses the same Adam as the others so that the comparison is about the objective.
 * `--lr` sets every method's learning rate; `--methods` and `--toys` select subsets.
 *
 * Mode coverage (the table in modes.md / modes.json): 2,500 samples from a fixed noise batch; a
 * sample is "high quality" when it lies within 3σ of some mode's centre; a mode counts as recovered
 * when at least 20% of its fair share of samples (0.2 · 2500 / K: 62.5 of 2,500 for the ring, 20 for
 * the grid) land within 3σ of its centre. The grid threshold is the one VEEGAN and PacGAN use
 * (20 of 2,500 samples, within 3σ); the same 20% rule gives the ring's.
 *
 * One training step is one generator iteration for all eight (method, data) pairs; an "epoch" is
 * `iterationsPerEpoch` steps, after which mode coverage is recorded (modes_over_training.svg).
 *
 *   deno task reproduce toy2d            # 512-wide nets, 5,000 generator iterations
 *   deno task reproduce toy2d --quick    # 64-wide nets, 60 iterations: for tests
 *
 * @module
 */
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { type ForwardOptions, Linear, Module } from "../lib/nn.ts";
import { SpectralNorm } from "../lib/spectral_norm.ts";
import { Adam, type Optimizer, RMSprop } from "../lib/optim.ts";
import { type ExperimentSpec, startExperiment, TrainLoop } from "../lib/experiment.ts";
import {
  criticWasserstein,
  discriminatorHinge,
  discriminatorMinimax,
  generatorHinge,
  generatorNonSaturating,
  generatorWasserstein,
  gradientPenalty,
} from "../lib/losses.ts";
import { type ExtraFlag, runMain } from "../lib/cli.ts";
import type { Run } from "../lib/run.ts";
import { contourPlotScene, linePlot, renderScene, sceneToSvg, type Series } from "../lib/plot.ts";
import { encodePng, hstack, vstack } from "../lib/image.ts";
import { UserError, writeFileAtomic } from "../lib/fsutil.ts";

// ---- data and the mode-coverage metric ---------------------------------------------------------

/** A mixture of equal-weight isotropic Gaussians in the plane. */
export interface Toy {
  name: ToyName;
  /** Mode centres. */
  centres: [number, number][];
  /** Standard deviation of every component. */
  std: number;
  /** Square plotting window [lo, hi]² for the figures. */
  range: [number, number];
}

/** The two data sets. */
export const TOYS = ["8gaussians", "25gaussians"] as const;
/** One of {@link TOYS}. */
export type ToyName = typeof TOYS[number];

/** The mixture called `name` (see the module doc). */
export function makeToy(name: ToyName): Toy {
  if (name === "8gaussians") {
    const centres = Array.from({ length: 8 }, (_, k): [number, number] => {
      const a = 2 * Math.PI * k / 8;
      return [2 * Math.cos(a), 2 * Math.sin(a)];
    });
    return { name, centres, std: 0.02, range: [-3, 3] };
  }
  const centres: [number, number][] = [];
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) centres.push([-4 + 2 * i, -4 + 2 * j]);
  return { name, centres, std: 0.05, range: [-5.5, 5.5] };
}

/** n samples of the mixture as a flat [x0, y0, x1, y1, ...] array. */
export function sampleToy(toy: Toy, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const [cx, cy] = toy.centres[rng.int(toy.centres.length)];
    out[2 * i] = cx + toy.std * rng.normal();
    out[2 * i + 1] = cy + toy.std * rng.normal();
  }
  return out;
}

/** Result of {@link countModes}. */
export interface ModeStats {
  /** Number of modes K. */
  modes: number;
  /** Modes with at least `threshold` samples within `radius` of their centre. */
  recovered: number;
  /** Samples within `radius` of each centre. */
  perMode: number[];
  /** Fraction of all samples within `radius` of some centre ("high-quality" samples). */
  highQuality: number;
  /** The distance used: `sigmas`·σ. */
  radius: number;
  /** The count a mode needs: minFraction · N / K. */
  threshold: number;
}

/**
 * Mode coverage of 2-D samples (flat [x0, y0, ...]): a sample belongs to a mode when it lies within
 * `sigmas`·std (default 3σ) of its centre; a mode is recovered when it holds at least
 * `minFraction` (default 0.2) of the N / K samples a perfect generator would give it.
 */
export function countModes(
  samples: ArrayLike<number>,
  centres: [number, number][],
  std: number,
  opts: { sigmas?: number; minFraction?: number } = {},
): ModeStats {
  const n = samples.length / 2;
  const radius = (opts.sigmas ?? 3) * std;
  const threshold = (opts.minFraction ?? 0.2) * n / centres.length;
  const perMode = new Array(centres.length).fill(0);
  let good = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[2 * i], y = samples[2 * i + 1];
    let hit = false;
    centres.forEach(([cx, cy], k) => {
      if (Math.hypot(x - cx, y - cy) <= radius) {
        perMode[k]++;
        hit = true;
      }
    });
    if (hit) good++;
  }
  return {
    modes: centres.length,
    recovered: perMode.filter((c) => c >= threshold).length,
    perMode,
    highQuality: n > 0 ? good / n : 0,
    radius,
    threshold,
  };
}

// ---- networks and methods ----------------------------------------------------------------------

/** The four training methods. */
export const METHODS = ["gan", "wgan", "wgan-gp", "sngan"] as const;
/** One of {@link METHODS}. */
export type MethodName = typeof METHODS[number];

/** An MLP with ReLU hidden layers (gan_toy.py), optionally spectrally normalized throughout. */
export class ToyMlp extends Module {
  readonly layers: (Linear | SpectralNorm<Linear>)[] = [];

  constructor(rng: Rng, inF: number, hidden: number[], outF: number, spectralNorm = false) {
    super();
    [...hidden, outF].forEach((h, i) => {
      const lin = new Linear(rng, inF, h);
      this.layers.push(this.child(`fc${i}`, spectralNorm ? new SpectralNorm(rng, lin) : lin));
      inF = h;
    });
  }

  /** x [B, in] → [B, out]; ReLU between layers (differentiable twice in tfjs). */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor2D {
    let h = x;
    this.layers.forEach((l, i) => {
      h = l instanceof SpectralNorm ? l.apply(h, opts) : l.apply(h);
      if (i < this.layers.length - 1) h = tf.relu(h);
    });
    return h as tf.Tensor2D;
  }
}

/** Per-method optimizer and update schedule. */
export interface MethodSettings {
  optimizer: "adam" | "rmsprop";
  lr: number;
  beta1: number;
  beta2: number;
  /** Critic updates per generator update. */
  nCritic: number;
  /** Weight-clipping bound (wgan only). */
  clip?: number;
  /** Gradient-penalty coefficient (wgan-gp only). */
  lambda?: number;
}

/** Hyperparameters of the toy experiment. */
export interface Toy2dConfig {
  /** Each "epoch" is this many generator iterations, then mode coverage is recorded. */
  iterationsPerEpoch: number;
  epochs: number;
  /** Minibatch size (gan_toy.py: 256). */
  batchSize: number;
  /** Hidden widths of G and D (gan_toy.py: three layers of DIM = 512). */
  hidden: number[];
  /** Dimension of z (gan_toy.py: 2). */
  latentDim: number;
  methods: MethodName[];
  toys: ToyName[];
  settings: Record<MethodName, MethodSettings>;
  /** Samples for the mode count and the figures. */
  evalSamples: number;
  /** A mode needs this fraction of its fair share of samples within 3σ. */
  minFraction: number;
  logEvery: number;
  checkpointEvery: number;
}

/** 512-wide nets, batch 256, 5,000 generator iterations (gan_toy.py runs 100,000). */
export const PAPER_CONFIG: Toy2dConfig = {
  iterationsPerEpoch: 500,
  epochs: 10,
  batchSize: 256,
  hidden: [512, 512, 512],
  latentDim: 2,
  methods: [...METHODS],
  toys: [...TOYS],
  settings: {
    gan: { optimizer: "adam", lr: 1e-4, beta1: 0.5, beta2: 0.9, nCritic: 1 },
    wgan: { optimizer: "rmsprop", lr: 5e-5, beta1: 0, beta2: 0, nCritic: 5, clip: 0.01 },
    "wgan-gp": { optimizer: "adam", lr: 1e-4, beta1: 0.5, beta2: 0.9, nCritic: 5, lambda: 0.1 },
    sngan: { optimizer: "adam", lr: 1e-4, beta1: 0.5, beta2: 0.9, nCritic: 5 },
  },
  evalSamples: 2500,
  minFraction: 0.2,
  logEvery: 10,
  checkpointEvery: 500,
};

/** `--quick`: 64-wide nets, batch 64, 2 × 30 generator iterations; learning rates ×10. */
export const QUICK_CONFIG: Toy2dConfig = {
  ...PAPER_CONFIG,
  iterationsPerEpoch: 30,
  epochs: 2,
  batchSize: 64,
  hidden: [64, 64, 64],
  settings: Object.fromEntries(
    Object.entries(PAPER_CONFIG.settings).map(([k, s]) => [k, { ...s, lr: s.lr * 10 }]),
  ) as Record<MethodName, MethodSettings>,
  logEvery: 5,
  checkpointEvery: 30,
};

/** Everything one (data, method) pair trains with. */
interface Pair {
  key: string;
  toy: Toy;
  method: MethodName;
  s: MethodSettings;
  G: ToyMlp;
  D: ToyMlp;
  optG: Optimizer;
  optD: Optimizer;
  /** Real samples, latent noise, and the interpolation ε of WGAN-GP. */
  data: Rng;
  noise: Rng;
  eps: Rng;
}

function makeOptimizer(s: MethodSettings): Optimizer {
  return s.optimizer === "adam" ? new Adam(s.lr, s.beta1, s.beta2) : new RMSprop(s.lr);
}

function makePair(toy: Toy, method: MethodName, cfg: Toy2dConfig, seed: number): Pair {
  const key = `${toy.name}/${method}`;
  const s = cfg.settings[method];
  return {
    key,
    toy,
    method,
    s,
    G: new ToyMlp(new Rng(seed, `${key}/init-G`), cfg.latentDim, cfg.hidden, 2),
    D: new ToyMlp(new Rng(seed, `${key}/init-D`), 2, cfg.hidden, 1, method === "sngan"),
    optG: makeOptimizer(s),
    optD: makeOptimizer(s),
    data: new Rng(seed, `${key}/data`),
    noise: new Rng(seed, `${key}/noise`),
    eps: new Rng(seed, `${key}/interpolation`),
  };
}

/** The critic's loss for a method, from scores of a real and a fake batch (plus the penalty). */
function criticLoss(p: Pair, real: tf.Tensor, fake: tf.Tensor): tf.Scalar {
  const train = { training: true };
  const score = (x: tf.Tensor) => tf.reshape(p.D.apply(x, train), [-1]);
  switch (p.method) {
    case "gan":
      return discriminatorMinimax(score(real), score(fake));
    case "wgan":
      return criticWasserstein(score(real), score(fake));
    case "wgan-gp": {
      const eps = p.eps.rand([real.shape[0], 1]);
      const gp = gradientPenalty(score, real, fake, eps);
      return tf.add(criticWasserstein(score(real), score(fake)), tf.mul(gp, p.s.lambda!));
    }
    case "sngan": {
      // One forward over both batches: one power-iteration step per D update.
      const s = score(tf.concat([real, fake], 0));
      const [sr, sf] = tf.split(s, 2);
      return discriminatorHinge(sr, sf);
    }
  }
}

/** The generator's loss for a method, from D's scores of a fake batch. */
function generatorLoss(method: MethodName, fakeScores: tf.Tensor): tf.Scalar {
  if (method === "gan") return generatorNonSaturating(fakeScores);
  if (method === "sngan") return generatorHinge(fakeScores);
  return generatorWasserstein(fakeScores);
}

/** One generator iteration: n_critic critic updates, then one generator update. */
async function trainIteration(p: Pair, cfg: Toy2dConfig): Promise<{ d: number; g: number }> {
  const dVars = p.D.trainableVariables(), gVars = p.G.trainableVariables();
  const train = { training: true };
  let d = 0;
  for (let t = 0; t < p.s.nCritic; t++) {
    const dLoss = tf.tidy(() => {
      const real = tf.tensor2d(sampleToy(p.toy, cfg.batchSize, p.data), [cfg.batchSize, 2]);
      const fake = p.G.apply(p.noise.randn([cfg.batchSize, cfg.latentDim]), train);
      const r = tf.variableGrads(() => criticLoss(p, real, fake), dVars);
      p.optD.step(dVars, dVars.map((v) => r.grads[v.name]));
      if (p.s.clip !== undefined) {
        for (const v of dVars) v.assign(tf.clipByValue(v, -p.s.clip, p.s.clip));
      }
      return r.value;
    });
    // Asynchronous reads throughout: WebGPU under Deno cannot read back synchronously.
    d = (await dLoss.data())[0];
    dLoss.dispose();
  }
  const gLoss = tf.tidy(() => {
    const z = p.noise.randn([cfg.batchSize, cfg.latentDim]);
    // SN's ũ advances only in D updates.
    const opts = { training: true, updateStats: false };
    const r = tf.variableGrads(
      () => generatorLoss(p.method, tf.reshape(p.D.apply(p.G.apply(z, train), opts), [-1])),
      gVars,
    );
    p.optG.step(gVars, gVars.map((v) => r.grads[v.name]));
    return r.value;
  });
  const g = (await gLoss.data())[0];
  gLoss.dispose();
  return { d, g };
}

/** `n` generator samples from a fixed noise stream (the same z at every evaluation). */
async function evalSamples(p: Pair, cfg: Toy2dConfig, seed: number): Promise<Float32Array> {
  const z = new Rng(seed, "eval-noise").randn([cfg.evalSamples, cfg.latentDim]);
  const out = tf.tidy(() => p.G.apply(z, { training: false }));
  const xy = await out.data() as Float32Array;
  out.dispose();
  z.dispose();
  return xy;
}

// ---- experiment --------------------------------------------------------------------------------

function listFlag(name: string, v: unknown, all: readonly string[]): string[] | undefined {
  if (v === undefined) return undefined;
  const items = String(v).split(",").map((s) => s.trim()).filter(Boolean);
  for (const it of items) {
    if (!all.includes(it)) {
      throw new UserError(
        `--${name} expects a comma-separated list of ${all.join(", ")}; got "${it}"`,
      );
    }
  }
  return items.length > 0 ? items : undefined;
}

const FLAGS: Record<string, ExtraFlag> = {
  methods: { type: "string", help: `comma-separated subset of ${METHODS.join(",")} (default all)` },
  toys: { type: "string", help: `comma-separated subset of ${TOYS.join(",")} (default both)` },
};

/** How toy2d.ts plugs into the shared experiment setup (no image dataset). */
export const SPEC: ExperimentSpec<Toy2dConfig> = {
  paper: "toy2d",
  description: "2-D Gaussian mixtures (ring of 8, 5×5 grid) trained with GAN, WGAN, WGAN-GP and " +
    "SNGAN: samples over critic contours, and how many modes each recovers.",
  flags: FLAGS,
  paperConfig: PAPER_CONFIG,
  quickConfig: QUICK_CONFIG,
  configure: (base, args) => ({
    ...base,
    epochs: args.epochs ?? base.epochs,
    batchSize: args.batchSize ?? base.batchSize,
    methods: (listFlag("methods", args.extra.methods, METHODS) as MethodName[]) ?? base.methods,
    toys: (listFlag("toys", args.extra.toys, TOYS) as ToyName[]) ?? base.toys,
    settings: args.lr === undefined ? base.settings : Object.fromEntries(
      Object.entries(base.settings).map(([k, s]) => [k, { ...s, lr: args.lr! }]),
    ) as Record<MethodName, MethodSettings>,
  }),
  runIdParts: (cfg) => [cfg.toys.join("+"), cfg.methods.join("+")],
};

/** Entry point: trains every (data, method) pair, then writes the figures and the modes table. */
export async function main(argv: string[]): Promise<void> {
  const exp = await startExperiment(SPEC, argv);
  if (!exp) return;
  const { cfg, run, args } = exp;
  const pairs = cfg.toys.flatMap((t) =>
    cfg.methods.map((m) => makePair(makeToy(t), m, cfg, args.seed))
  );
  const modules: Record<string, Module> = {};
  const optimizers: Record<string, Optimizer> = {};
  const rngs: Record<string, Rng> = {};
  for (const p of pairs) {
    Object.assign(modules, { [`${p.key}/G`]: p.G, [`${p.key}/D`]: p.D });
    Object.assign(optimizers, { [`${p.key}/optG`]: p.optG, [`${p.key}/optD`]: p.optD });
    Object.assign(rngs, {
      [`${p.key}/data`]: p.data,
      [`${p.key}/noise`]: p.noise,
      [`${p.key}/interpolation`]: p.eps,
    });
  }
  const loop = TrainLoop.create(run, { modules, optimizers, rngs }, {
    label: "toy2d",
    stepsPerEpoch: cfg.iterationsPerEpoch,
    epochs: cfg.epochs,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    maxSteps: args.maxSteps,
  });

  while (loop.running) {
    const t0 = performance.now();
    const values: Record<string, number> = {};
    let images = 0;
    for (const p of pairs) {
      const { d, g } = await trainIteration(p, cfg);
      values[`${p.key}/d_loss`] = d;
      values[`${p.key}/g_loss`] = g;
      images += p.s.nCritic * cfg.batchSize;
    }
    const seconds = (performance.now() - t0) / 1000;
    const go = await loop.after(values, images, seconds, async (epoch) => {
      // Mode coverage after each epoch; one file per epoch, so a resumed run rewrites it identically.
      const record: Record<string, { recovered: number; modes: number; highQuality: number }> = {};
      for (const p of pairs) {
        const st = countModes(await evalSamples(p, cfg, args.seed), p.toy.centres, p.toy.std, {
          minFraction: cfg.minFraction,
        });
        record[p.key] = { recovered: st.recovered, modes: st.modes, highQuality: st.highQuality };
      }
      const path = run.path("coverage", `epoch_${String(epoch).padStart(3, "0")}.json`);
      await writeFileAtomic(
        path,
        JSON.stringify({ epoch, iteration: loop.step, ...record }) + "\n",
      );
    });
    if (!go) return;
  }

  const table = await writeFigures(run, cfg, pairs, args.seed);
  await run.finish({ modes: table });
  console.error(`[toy2d] done: ${run.dir}`);
}

/** One row of the modes table. */
export interface ModesRow {
  toy: ToyName;
  method: MethodName;
  recovered: number;
  modes: number;
  highQuality: number;
  perMode: number[];
}

/** Critic scores on a grid over the toy's window (raw scores; logits for the GAN). */
async function criticGrid(p: Pair, n = 81) {
  const [lo, hi] = p.toy.range;
  const xs = Array.from({ length: n }, (_, i) => lo + (hi - lo) * i / (n - 1));
  const pts = new Float32Array(2 * n * n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      pts[2 * (j * n + i)] = xs[i];
      pts[2 * (j * n + i) + 1] = xs[j];
    }
  }
  const s = tf.tidy(() => p.D.apply(tf.tensor2d(pts, [n * n, 2]), { training: false }));
  const z = Float64Array.from(await s.data());
  s.dispose();
  return { xs, ys: xs, z };
}

async function writeFigures(
  run: Run,
  cfg: Toy2dConfig,
  pairs: Pair[],
  seed: number,
): Promise<ModesRow[]> {
  const rows: ModesRow[] = [];
  const panels = new Map<string, ReturnType<typeof renderScene>>();
  for (const p of pairs) {
    const xy = await evalSamples(p, cfg, seed);
    const st = countModes(xy, p.toy.centres, p.toy.std, { minFraction: cfg.minFraction });
    rows.push({
      toy: p.toy.name,
      method: p.method,
      recovered: st.recovered,
      modes: st.modes,
      highQuality: st.highQuality,
      perMode: st.perMode,
    });
    const real = sampleToy(p.toy, 500, new Rng(seed, "plot-real"));
    const scene = contourPlotScene(await criticGrid(p), {
      filled: true,
      levels: 10,
      title: `${p.method} on ${p.toy.name}: ${st.recovered}/${st.modes} modes`,
      xLabel: "x1",
      yLabel: "x2",
      width: 480,
      height: 420,
      legend: "bottom-right",
      points: [
        {
          name: "real",
          x: everyOther(real, 0),
          y: everyOther(real, 1),
          color: "#ffffff",
          radius: 1.2,
        },
        {
          name: "generated",
          x: everyOther(xy, 0),
          y: everyOther(xy, 1),
          color: "#ff7f0e",
          radius: 1.2,
        },
      ],
    });
    await writeFileAtomic(run.path(`${p.toy.name}_${p.method}.svg`), sceneToSvg(scene));
    panels.set(p.key, renderScene(scene));
  }
  // Overview: one row per data set, one column per method.
  const gridRows = cfg.toys.map((t) =>
    hstack(cfg.methods.map((m) => panels.get(`${t}/${m}`)!), 4, 255)
  );
  await writeFileAtomic(run.path("overview.png"), encodePng(vstack(gridRows, 4, 255)));

  await writeFileAtomic(run.path("modes.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    `Modes recovered (≥ ${cfg.minFraction * 100}% of a fair share of ${cfg.evalSamples} samples ` +
    `within 3σ of the centre) and high-quality samples (within 3σ of any centre).`,
    "",
    "| data | method | modes recovered | high-quality samples |",
    "|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.toy} | ${r.method} | ${r.recovered} / ${r.modes} | ${
        (100 * r.highQuality).toFixed(1)
      }% |`
    ),
  ].join("\n") + "\n";
  await writeFileAtomic(run.path("modes.md"), md);

  // Coverage over training, from the per-epoch records.
  const series: Series[] = [];
  const records = [];
  for (let e = 1; e <= cfg.epochs; e++) {
    const path = run.path("coverage", `epoch_${String(e).padStart(3, "0")}.json`);
    records.push(JSON.parse(await Deno.readTextFile(path)));
  }
  for (const p of pairs) {
    series.push({
      name: p.key,
      x: records.map((r) => r.iteration),
      y: records.map((r) => r[p.key].recovered / r[p.key].modes),
      dashed: p.toy.name === "25gaussians",
      markers: true,
    });
  }
  await writeFileAtomic(
    run.path("modes_over_training.svg"),
    linePlot(series, {
      title: "Fraction of modes recovered",
      xLabel: "generator iterations",
      yLabel: "modes recovered / K",
      yRange: [0, 1],
      legend: "bottom-right",
    }),
  );
  return rows;
}

function everyOther(xy: Float32Array, offset: 0 | 1): Float32Array {
  const out = new Float32Array(xy.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = xy[2 * i + offset];
  return out;
}

if (import.meta.main) await runMain(() => main(Deno.args));
