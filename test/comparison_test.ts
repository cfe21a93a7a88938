import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SCHEDULES, writeComparison } from "../lib/comparison.ts";
import { PAPER_CONFIG as CGAN } from "../papers/cgan.ts";
import { PAPER_CONFIG as GAN } from "../papers/gan.ts";
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
    config: { epochs: 10, batchSize: 64 },
    trainSeconds: 754,
    imgPerSec: 795.6,
    command: ["deno", "task", "reproduce", "cgan", "--epochs", "10"],
  });
  await Deno.writeTextFile(join(ours, "manifest.json"), JSON.stringify(m));
  await Deno.writeTextFile(join(ours, "metrics.json"), JSON.stringify(metrics(12.345, 0.9012)));
  const info = {
    paper: "cgan",
    hyperparameters: { lr: 1e-4, batch_size: 64 },
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
  const path = await writeComparison([ours, torch], root);
  assert.equal(path, join(root, "cgan", "COMPARISON.md"));
  const md = await Deno.readTextFile(path);
  assert.match(
    md,
    /\| ganrepro \(Deno \+ tfjs\), seed 0 \| 10 × 64 \| 12\.35 \| 8\.50 ± 0\.10 \| 10\/10 \(0\.990\) \| 90\.1 % \| 13 min \(796 img\/s\)/,
  );
  assert.match(
    md,
    /\| PyTorch 2\.13\.0\+cpu, seed 0 \| 10 × 64 \| 10\.50 \| .* \| 95\.0 % \| 7 min \(1496 img\/s\) \| CPU, 1 thread, x86_64 \|/,
  );
  // Made at batch 64, not today's default 32: the command spells the batch size out.
  assert.match(md, /deno task reproduce cgan --epochs 10 --batch-size 64 && deno task eval /);
  assert.match(
    md,
    /python3 papers\/pytorch\/cgan\.py --epochs 10 --batch-size 64 --seed 0 --threads 1 .*--labels .*labels\.i32/,
  );
  assert.match(
    md,
    /Default schedule: 50 epochs at batch 32 \(50 × 32\)\. Rows at 10 × 64 are a short/,
  );
  // More PyTorch seeds: one row each, and the note says they show the spread.
  const torch1 = join(tmp, "torch1");
  await Deno.mkdir(torch1);
  await Deno.writeTextFile(join(torch1, "run.json"), JSON.stringify({ ...info, seed: 1 }));
  await Deno.writeTextFile(join(torch1, "samples.metrics.json"), JSON.stringify(metrics(9.75)));
  const two = await Deno.readTextFile(await writeComparison([torch1, ours, torch], root));
  assert.match(two, /\| PyTorch 2\.13\.0\+cpu, seed 1 \| 10 × 64 \| 9\.75 \|/);
  assert.match(two, /PyTorch rows at 10 × 64 show the seed-to-seed spread/);
  const order = (md: string) =>
    [...md.matchAll(/^\| (ganrepro|PyTorch)[^|]*seed (\d) \| (\d+ × \d+) \|/gm)]
      .map((r) => `${r[1]} ${r[2]} @${r[3]}`);
  assert.deepEqual(order(two), ["ganrepro 0 @10 × 64", "PyTorch 0 @10 × 64", "PyTorch 1 @10 × 64"]);
  // The full schedule beside it: its own group first, never compared across schedules.
  const ours50 = join(tmp, "ours50"), torch50 = join(tmp, "torch50");
  await Deno.mkdir(ours50);
  await Deno.mkdir(torch50);
  await Deno.writeTextFile(
    join(ours50, "manifest.json"),
    JSON.stringify({
      ...m,
      config: { epochs: 50, batchSize: 32 },
      command: ["deno", "task", "reproduce", "cgan"],
    }),
  );
  await Deno.writeTextFile(join(ours50, "metrics.json"), JSON.stringify(metrics(3.25, 0.99)));
  await Deno.writeTextFile(
    join(torch50, "run.json"),
    JSON.stringify({
      ...info,
      epochs: 50,
      hyperparameters: { batch_size: 32 },
      resumedAtEpochs: [17],
    }),
  );
  await Deno.writeTextFile(join(torch50, "samples.metrics.json"), JSON.stringify(metrics(2.5)));
  const all = await Deno.readTextFile(
    await writeComparison([torch, ours, torch50, torch1, ours50], root),
  );
  assert.deepEqual(order(all), [
    "ganrepro 0 @50 × 32",
    "PyTorch 0 @50 × 32",
    "ganrepro 0 @10 × 64",
    "PyTorch 0 @10 × 64",
    "PyTorch 1 @10 × 64",
  ]);
  assert.match(
    all,
    /\| PyTorch 2\.13\.0\+cpu, seed 0 \| 50 × 32 \| 2\.50 \|.*CPU, 1 thread, x86_64, resumed 1× \|/,
  );
  assert.match(all, /Both sides of a schedule ran on the same machine \(CPU threads per row/);
  assert.match(all, /Rows at 50 × 32 are the full schedule\. Rows at 10 × 64 are a short/);
  // A schedule with one side only is refused, as is another paper's run.
  await assert.rejects(
    () => writeComparison([ours, torch, torch50], root),
    /no run of ours at 50 epochs of batch 32 to compare the PyTorch run with/,
  );
  await assert.rejects(
    () => writeComparison([ours, torch, ours50], root),
    /no PyTorch run at 50 epochs of batch 32 to compare our run with/,
  );
  // Same epochs at another batch size is another schedule: it needs its own pair.
  const ours32 = join(tmp, "ours32");
  await Deno.mkdir(ours32);
  await Deno.writeTextFile(
    join(ours32, "manifest.json"),
    JSON.stringify({ ...m, config: { epochs: 10, batchSize: 32 } }),
  );
  await Deno.writeTextFile(join(ours32, "metrics.json"), JSON.stringify(metrics(7)));
  await assert.rejects(
    () => writeComparison([ours, torch, ours32], root),
    /no PyTorch run at 10 epochs of batch 32 to compare our run with/,
  );
  await Deno.writeTextFile(join(torch1, "run.json"), JSON.stringify({ ...info, paper: "gan" }));
  await assert.rejects(
    () => writeComparison([ours, torch1], root),
    /torch1 is a gan run, .* a cgan run/,
  );
  await assert.rejects(
    () => writeComparison([ours, tmp], root),
    /holds neither our manifest\.json nor PyTorch's run\.json/,
  );
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("COMPARISON.md's default schedules are the papers' own configs", () => {
  assert.deepEqual(DEFAULT_SCHEDULES.gan, { epochs: GAN.epochs, batchSize: GAN.batchSize });
  assert.deepEqual(DEFAULT_SCHEDULES.cgan, { epochs: CGAN.epochs, batchSize: CGAN.batchSize });
});
