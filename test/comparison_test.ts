import assert from "node:assert/strict";
import { join } from "node:path";
import { writeComparison } from "../lib/comparison.ts";
import { fakeManifest } from "./fixtures.ts";

const metrics = (fid: number, acc?: number) => ({
  fid,
  is: { mean: 8.5, std: 0.1 },
  coverage: { classesCovered: 10, normalizedEntropy: 0.99 },
  ...(acc === undefined ? {} : { labelAccuracy: acc }),
});

Deno.test("COMPARISON.md: both sides' metrics, times and the commands that made them", async () => {
  const tmp = await Deno.makeTempDir();
  const ours = join(tmp, "ours"), torch = join(tmp, "torch"), root = join(tmp, "results");
  await Deno.mkdir(ours);
  await Deno.mkdir(torch);
  const m = fakeManifest({
    paper: "cgan",
    config: { epochs: 10 },
    trainSeconds: 754,
    imgPerSec: 795.6,
    command: ["deno", "task", "reproduce", "cgan", "--epochs", "10"],
  });
  await Deno.writeTextFile(join(ours, "manifest.json"), JSON.stringify(m));
  await Deno.writeTextFile(join(ours, "metrics.json"), JSON.stringify(metrics(12.345, 0.9012)));
  const info = {
    paper: "cgan",
    epochs: 10,
    seed: 0,
    threads: 1,
    torch: "2.13.0+cpu",
    python: "3.11.7",
    machine: "x86_64",
    trainSeconds: 401,
    imgPerSec: 1496.3,
  };
  await Deno.writeTextFile(join(torch, "run.json"), JSON.stringify(info));
  await Deno.writeTextFile(
    join(torch, "samples.metrics.json"),
    JSON.stringify(metrics(10.5, 0.95)),
  );
  const path = await writeComparison(ours, torch, root);
  assert.equal(path, join(root, "cgan", "COMPARISON.md"));
  const md = await Deno.readTextFile(path);
  assert.match(
    md,
    /\| ganrepro \(Deno \+ tfjs\), seed 0 \| 10 \| 12\.35 \| 8\.50 ± 0\.10 \| 10\/10 \(0\.990\) \| 90\.1 % \| 13 min \(796 img\/s\)/,
  );
  assert.match(
    md,
    /\| PyTorch 2\.13\.0\+cpu, seed 0 \| 10 \| 10\.50 \| .* \| 95\.0 % \| 7 min \(1496 img\/s\) \| CPU, 1 thread, x86_64 \|/,
  );
  assert.match(md, /deno task reproduce cgan --epochs 10 && deno task eval /);
  assert.match(
    md,
    /python3 papers\/pytorch\/cgan\.py --epochs 10 --seed 0 --threads 1 .*--labels .*labels\.i32/,
  );
  assert.match(md, /at 10 epochs/);
  // More PyTorch seeds: one row each, and the note says they show the spread.
  const torch1 = join(tmp, "torch1");
  await Deno.mkdir(torch1);
  await Deno.writeTextFile(join(torch1, "run.json"), JSON.stringify({ ...info, seed: 1 }));
  await Deno.writeTextFile(join(torch1, "samples.metrics.json"), JSON.stringify(metrics(9.75)));
  const two = await Deno.readTextFile(await writeComparison(ours, [torch, torch1], root));
  assert.match(two, /\| PyTorch 2\.13\.0\+cpu, seed 1 \| 10 \| 9\.75 \|/);
  assert.match(two, /seed-to-seed spread/);
  // Different schedules are not compared.
  await Deno.writeTextFile(join(torch, "run.json"), JSON.stringify({ ...info, epochs: 20 }));
  await assert.rejects(
    () => writeComparison(ours, torch, root),
    /epochs differ: ours 10, PyTorch 20/,
  );
  await Deno.remove(tmp, { recursive: true });
});
