/**
 * Side by side with the source material: `results/<paper>/COMPARISON.md` from one of our runs and
 * one run of the PyTorch script in papers/pytorch/ with the same hyperparameters and schedule
 * (epochs × batch size), both scored by the same metrics (`deno task eval`).
 *
 *     deno task comparison <our-run-dir> <pytorch-out-dir> [more runs of either side]
 *
 * More runs add rows: other seeds, or another schedule (e.g. the paper's full schedule and a
 * 10-epoch one repeated over seeds); rows are grouped by schedule, each group holding both sides.
 * The PyTorch directory holds what papers/pytorch/common.py writes (run.json, samples.f32) plus
 * samples.metrics.json from `deno task eval --samples`.
 *
 * @module
 */
import { join } from "node:path";
import { runMain } from "./cli.ts";
import { exists, readJsonFile, UserError, writeFileAtomic } from "./fsutil.ts";
import { Run } from "./run.ts";
import { hardwareLine, humanDuration } from "./reference.ts";

/** A training schedule: epochs over the dataset at a minibatch size. */
export interface Schedule {
  epochs: number;
  batchSize: number;
}

/**
 * Each compared paper's default schedule (its `PAPER_CONFIG`; test/comparison_test.ts checks they
 * agree): gan.ts follows PyTorch-GAN's gan.py, cgan.ts the arturml/mnist-cgan notebook.
 */
export const DEFAULT_SCHEDULES: Readonly<Record<string, Schedule>> = {
  gan: { epochs: 200, batchSize: 64 },
  cgan: { epochs: 50, batchSize: 32 },
};

const scheduleText = (s: Schedule) => `${s.epochs} × ${s.batchSize}`;
const scheduleWords = (s: Schedule) => `${s.epochs} epochs of batch ${s.batchSize}`;

interface Side extends Schedule {
  name: string;
  seconds: number;
  imgPerSec: number;
  metrics: {
    fid: number;
    is: { mean: number; std: number };
    coverage: { classesCovered: number; normalizedEntropy: number };
    labelAccuracy?: number;
  };
  where: string;
  command: string;
}

async function readJson(path: string, hint: string): Promise<Record<string, unknown>> {
  return await readJsonFile(path, hint) as Record<string, unknown>;
}

/** Renders COMPARISON.md for `paper` from its rows (ours and PyTorch's, one per run). */
export function comparisonMarkdown(paper: string, rows: Side[], notes: string[]): string {
  const row = (s: Side) => {
    const m = s.metrics;
    return `| ${s.name} | ${scheduleText(s)} | ${m.fid.toFixed(2)} | ${m.is.mean.toFixed(2)} ± ${
      m.is.std.toFixed(2)
    } | ${m.coverage.classesCovered}/10 (${m.coverage.normalizedEntropy.toFixed(3)}) | ${
      m.labelAccuracy === undefined ? "—" : `${(100 * m.labelAccuracy).toFixed(1)} %`
    } | ${humanDuration(s.seconds)} (${Math.round(s.imgPerSec)} img/s) | ${s.where} |`;
  };
  return [
    `# ${paper}: this suite vs the PyTorch reference`,
    "",
    "Same hyperparameters and schedule (epochs × batch size) on both sides of each group of rows;",
    "all sample sets (10,000 samples, G in eval mode) are scored by the same code (`deno task eval`:",
    "our MNIST classifier's feature space — FD is a Fréchet distance there, not Inception FID; IS max",
    "10; classes covered with the normalized entropy of the class histogram; label accuracy for",
    "conditional samples).",
    "",
    "| implementation | epochs × batch | FD ↓ | IS ↑ | classes | label acc | train time | where |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(row),
    "",
    "Reproduce:",
    "",
    "```sh",
    ...rows.map((r) => r.command),
    "```",
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
}

/** One run of either side, as read from its directory. */
interface SideRun {
  paper: string;
  seed: number;
  ours: boolean;
  /** The software versions of that side, for the notes. */
  versions: string;
  side: Side;
}

/** Our side (a run directory with manifest.json) or PyTorch's (run.json), with its metrics. */
async function readSide(dir: string): Promise<SideRun> {
  if (await exists(join(dir, "manifest.json"))) {
    const m = await Run.readManifest(dir);
    const metrics = await readJson(join(dir, "metrics.json"), `deno task eval ${dir}`);
    const { epochs, batchSize } = m.config as unknown as Schedule;
    // A run made under an older default batch size reproduces today only with the flag spelled out.
    const command = [...m.command];
    if (!command.includes("--batch-size") && batchSize !== DEFAULT_SCHEDULES[m.paper]?.batchSize) {
      command.push("--batch-size", String(batchSize));
    }
    return {
      paper: m.paper,
      seed: m.seed,
      ours: true,
      versions: `Deno ${m.versions.deno}, tfjs ${m.versions.tfjs}`,
      side: {
        name: `ganrepro (Deno + tfjs), seed ${m.seed}`,
        epochs,
        batchSize,
        seconds: m.trainSeconds,
        imgPerSec: m.imgPerSec ?? 0,
        metrics: metrics as unknown as Side["metrics"],
        where: `${hardwareLine(m)}, commit ${m.git?.commit.slice(0, 8) ?? "unknown"}` +
          (m.resumedAt?.length ? `, resumed ${m.resumedAt.length}×` : ""),
        command: `${command.join(" ")} && deno task eval ${dir}`,
      },
    };
  }
  const info = await readJson(
    join(dir, "run.json"),
    `${dir} holds neither our manifest.json nor PyTorch's run.json: run papers/pytorch/<paper>.py first`,
  );
  const metrics = await readJson(
    join(dir, "samples.metrics.json"),
    `deno task eval --samples ${join(dir, "samples.f32")}`,
  );
  const paper = info.paper as string;
  const labels = paper === "cgan" ? ` --labels ${join(dir, "labels.i32")}` : "";
  const resumed = (info.resumedAtEpochs as number[] | undefined)?.length ?? 0;
  const batchSize = (info.hyperparameters as { batch_size: number }).batch_size;
  return {
    paper,
    seed: info.seed as number,
    ours: false,
    versions: `PyTorch ${info.torch} (python ${info.python})`,
    side: {
      name: `PyTorch ${info.torch}, seed ${info.seed}`,
      epochs: info.epochs as number,
      batchSize,
      seconds: info.trainSeconds as number,
      imgPerSec: info.imgPerSec as number,
      metrics: metrics as unknown as Side["metrics"],
      where: `CPU, ${info.threads} thread${info.threads === 1 ? "" : "s"}, ${info.machine}` +
        (resumed ? `, resumed ${resumed}×` : ""),
      command: `python3 papers/pytorch/${paper}.py --epochs ${info.epochs} ` +
        `--batch-size ${batchSize} --seed ${info.seed} ` +
        `--threads ${info.threads} --out ${dir} && deno task eval --samples ` +
        `${join(dir, "samples.f32")}${labels}`,
    },
  };
}

/**
 * Reads our runs and the PyTorch runs (any order; each directory is recognised by its
 * manifest.json or run.json) and writes `results/<paper>/COMPARISON.md`; returns its path. Runs
 * are grouped by schedule (epochs × batch size), longest first, and every group must hold a run
 * of each side: rows at different schedules are never compared with each other.
 */
export async function writeComparison(dirs: string[], root = "results"): Promise<string> {
  const sides: SideRun[] = [];
  for (const dir of dirs) sides.push(await readSide(dir));
  const paper = sides[0].paper;
  for (const [i, s] of sides.entries()) {
    if (s.paper !== paper) {
      throw new UserError(`${dirs[i]} is a ${s.paper} run, ${dirs[0]} a ${paper} run`);
    }
  }
  // Longest schedule first: by epochs, then by batch size (more steps per epoch first).
  const schedules: Schedule[] = [
    ...new Map(sides.map((s) => [scheduleText(s.side), s.side])).values(),
  ].sort((a, b) => b.epochs - a.epochs || a.batchSize - b.batchSize);
  const rows: Side[] = [], spread: string[] = [];
  for (const schedule of schedules) {
    const at = scheduleText(schedule);
    const group = sides.filter((s) => scheduleText(s.side) === at);
    if (!group.some((s) => s.ours)) {
      throw new UserError(
        `no run of ours at ${scheduleWords(schedule)} to compare the PyTorch run with`,
      );
    }
    if (!group.some((s) => !s.ours)) {
      throw new UserError(`no PyTorch run at ${scheduleWords(schedule)} to compare our run with`);
    }
    // Ours first, then by seed: the PyTorch rows of a group show its seed-to-seed spread.
    group.sort((a, b) => Number(b.ours) - Number(a.ours) || a.seed - b.seed);
    rows.push(...group.map((s) => s.side));
    if (group.filter((s) => !s.ours).length > 1) spread.push(at);
  }
  const full = DEFAULT_SCHEDULES[paper];
  const notes = [
    "Our random streams differ from PyTorch's, so equal seeds do not give equal numbers: each row " +
    "is one draw of the same experiment" +
    (spread.length
      ? `, and the PyTorch rows at ${spread.join(" and ")} show the seed-to-seed spread.`
      : "."),
    (full
      ? `Default schedule: ${full.epochs} epochs at batch ${full.batchSize} (${
        scheduleText(full)
      }). `
      : "") +
    schedules.map((e) =>
      full && scheduleText(e) === scheduleText(full)
        ? `Rows at ${scheduleText(e)} are the full schedule.`
        : `Rows at ${
          scheduleText(e)
        } are a short schedule (quick to repeat over seeds; the full one is hours of CPU per run).`
    ).join(" ") +
    (schedules.length > 1
      ? " Rows at different schedules are not comparable with each other."
      : ""),
    "Train times are wall-clock on a 2-core machine that other jobs often shared: an order of " +
    "magnitude, not a benchmark (`deno task bench` is the benchmark).",
    `Both sides of a schedule ran on the same machine (CPU threads per row under "where"); ` +
    `${[...new Set(sides.map((s) => s.versions))].sort().join(", ")}.`,
  ];
  const path = join(root, paper, "COMPARISON.md");
  await writeFileAtomic(path, comparisonMarkdown(paper, rows, notes));
  return path;
}

if (import.meta.main) {
  await runMain(async () => {
    if (Deno.args.length < 2) {
      throw new UserError(
        "usage: deno task comparison <our-run-dir> <pytorch-out-dir> [more runs of either side]",
      );
    }
    console.log(`wrote ${await writeComparison(Deno.args)}`);
  });
}
