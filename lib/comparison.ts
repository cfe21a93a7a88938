/**
 * Side by side with the source material: `results/<paper>/COMPARISON.md` from one of our runs and
 * one run of the PyTorch script in papers/pytorch/ with the same hyperparameters and epochs, both
 * scored by the same metrics (`deno task eval`).
 *
 *     deno task comparison <our-run-dir> <pytorch-out-dir> [more pytorch-out-dirs, e.g. other seeds]
 *
 * The PyTorch directory holds what papers/pytorch/common.py writes (run.json, samples.f32) plus
 * samples.metrics.json from `deno task eval --samples`.
 *
 * @module
 */
import { join } from "node:path";
import { runMain } from "./cli.ts";
import { readJsonFile, UserError, writeFileAtomic } from "./fsutil.ts";
import { Run } from "./run.ts";
import { hardwareLine, humanDuration } from "./reference.ts";

interface Side {
  name: string;
  epochs: number;
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

/** Renders COMPARISON.md for `paper` from our side and the PyTorch runs (one row each). */
export function comparisonMarkdown(
  paper: string,
  ours: Side,
  torch: Side[],
  notes: string[],
): string {
  const row = (s: Side) => {
    const m = s.metrics;
    return `| ${s.name} | ${s.epochs} | ${m.fid.toFixed(2)} | ${m.is.mean.toFixed(2)} ± ${
      m.is.std.toFixed(2)
    } | ${m.coverage.classesCovered}/10 (${m.coverage.normalizedEntropy.toFixed(3)}) | ${
      m.labelAccuracy === undefined ? "—" : `${(100 * m.labelAccuracy).toFixed(1)} %`
    } | ${humanDuration(s.seconds)} (${Math.round(s.imgPerSec)} img/s) | ${s.where} |`;
  };
  return [
    `# ${paper}: this suite vs the PyTorch reference`,
    "",
    "Same hyperparameters and epochs on both sides; both sample sets (10,000 samples, G in eval",
    "mode) are scored by the same code (`deno task eval`: our MNIST classifier's feature space — FD is",
    "a Fréchet distance there, not Inception FID; IS max 10; classes covered with the normalized",
    "entropy of the class histogram; label accuracy for conditional samples).",
    "",
    "| implementation | epochs | FD ↓ | IS ↑ | classes | label acc | train time | where |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    row(ours),
    ...torch.map(row),
    "",
    "Reproduce:",
    "",
    "```sh",
    ours.command,
    ...torch.map((t) => t.command),
    "```",
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
}

/** Reads our run and the PyTorch runs and writes `results/<paper>/COMPARISON.md`; returns its path. */
export async function writeComparison(
  ourDir: string,
  torchDirs: string | string[],
  root = "results",
): Promise<string> {
  const dirs = typeof torchDirs === "string" ? [torchDirs] : torchDirs;
  const m = await Run.readManifest(ourDir);
  const ourMetrics = await readJson(join(ourDir, "metrics.json"), `deno task eval ${ourDir}`);
  const cfg = m.config as { epochs?: number };
  const torch: Side[] = [];
  const seeds: number[] = [];
  let version = "";
  for (const torchDir of dirs) {
    const info = await readJson(join(torchDir, "run.json"), "run papers/pytorch/<paper>.py first");
    const torchMetrics = await readJson(
      join(torchDir, "samples.metrics.json"),
      `deno task eval --samples ${join(torchDir, "samples.f32")}`,
    );
    if (info.paper !== m.paper) {
      throw new UserError(`${torchDir} is a ${info.paper} run, ${ourDir} a ${m.paper} run`);
    }
    if (cfg.epochs !== info.epochs) {
      throw new UserError(`epochs differ: ours ${cfg.epochs}, PyTorch ${info.epochs}`);
    }
    const labels = m.paper === "cgan" ? ` --labels ${join(torchDir, "labels.i32")}` : "";
    seeds.push(info.seed as number);
    version = `PyTorch ${info.torch} (python ${info.python})`;
    torch.push({
      name: `PyTorch ${info.torch}, seed ${info.seed}`,
      epochs: info.epochs as number,
      seconds: info.trainSeconds as number,
      imgPerSec: info.imgPerSec as number,
      metrics: torchMetrics as unknown as Side["metrics"],
      where: `CPU, ${info.threads} thread${info.threads === 1 ? "" : "s"}, ${info.machine}`,
      command: `python3 papers/pytorch/${m.paper}.py --epochs ${info.epochs} --seed ${info.seed} ` +
        `--threads ${info.threads} --out ${torchDir} && deno task eval --samples ` +
        `${join(torchDir, "samples.f32")}${labels}`,
    });
  }
  const ours: Side = {
    name: `ganrepro (Deno + tfjs), seed ${m.seed}`,
    epochs: cfg.epochs!,
    seconds: m.trainSeconds,
    imgPerSec: m.imgPerSec ?? 0,
    metrics: ourMetrics as unknown as Side["metrics"],
    where: `${hardwareLine(m)}, commit ${m.git?.commit.slice(0, 8) ?? "unknown"}`,
    command: `${m.command.join(" ")} && deno task eval ${ourDir}`,
  };
  const notes = [
    "Our random streams differ from PyTorch's, so equal seeds do not give equal numbers: each row " +
    "is one draw of the same experiment" +
    (seeds.length > 1 ? ", and the PyTorch rows show the seed-to-seed spread." : "."),
    `Default schedule: ${m.paper === "gan" || m.paper === "cgan" ? 200 : "?"} epochs. ` +
    (cfg.epochs === 200
      ? "This is the full schedule."
      : `This comparison is at ${cfg.epochs} epochs (the full schedule is hours of CPU on each side).`),
    `All rows on the same machine, one CPU thread each where stated; ${version}, ` +
    `Deno ${m.versions.deno}, tfjs ${m.versions.tfjs}.`,
  ];
  const path = join(root, m.paper, "COMPARISON.md");
  await writeFileAtomic(path, comparisonMarkdown(m.paper, ours, torch, notes));
  return path;
}

if (import.meta.main) {
  await runMain(async () => {
    const [ourDir, ...torchDirs] = Deno.args;
    if (!ourDir || torchDirs.length === 0) {
      throw new UserError("usage: deno task comparison <our-run-dir> <pytorch-out-dir>...");
    }
    console.log(`wrote ${await writeComparison(ourDir, torchDirs)}`);
  });
}
