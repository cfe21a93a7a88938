import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../lib/tf.ts";
import { FileIOHandler, hasCheckpoint, loadCheckpoint, saveCheckpoint } from "../lib/checkpoint.ts";
import { writeFileAtomic } from "../lib/fsutil.ts";
import type { BackendChoice } from "../lib/backend.ts";
import { etaSeconds, formatDuration } from "../lib/run.ts";

Deno.test("ETA: remaining steps at the measured rate, counted from the resume point", () => {
  assert.equal(etaSeconds(10, 0, 5, 20), 30);
  assert.equal(etaSeconds(10, 100, 105, 120), 30); // resumed at 100: 5 steps took 10 s
  assert.equal(etaSeconds(0, 7, 7, 20), Infinity);
  assert.equal(etaSeconds(10, 0, 20, 20), 0);
  // Weighted: steps 0–1 cost 10 units each, the rest 1.
  const work = (s: number) => 10 * Math.min(s, 2) + Math.max(s - 2, 0);
  assert.equal(etaSeconds(20, 0, 2, 12, work), 10);
  assert.deepEqual([5, 59.6, 61, 3600, 3725, Infinity].map(formatDuration), [
    "5s",
    "1m00s",
    "1m01s",
    "1h00m",
    "1h02m",
    "?",
  ]);
});

Deno.test("checkpoint round trip keeps tensors (float32 and int32) and JSON state", async () => {
  const dir = await Deno.makeTempDir();
  const t = new Map<string, tf.Tensor>([
    ["G/w", tf.tensor2d([[1.5, -2], [3, 4e-8]])],
    ["step", tf.scalar(12, "int32")],
  ]);
  assert.equal(await hasCheckpoint(dir), false);
  await saveCheckpoint(dir, t, { step: 12, rng: [1, 2, 3, 4] });
  assert.equal(await hasCheckpoint(dir), true);
  const back = await loadCheckpoint(dir);
  assert.deepEqual(back.tensors.get("G/w")!.arraySync(), [[1.5, -2], [3, 4e-8].map(Math.fround)]);
  assert.equal(back.tensors.get("step")!.dtype, "int32");
  assert.deepEqual(back.state, { step: 12, rng: [1, 2, 3, 4] });
  // Saving again replaces the weights file and removes the old one.
  await saveCheckpoint(dir, t, { step: 13 });
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.equal(files.filter((f) => f.endsWith(".bin")).length, 1);
  assert.deepEqual((await loadCheckpoint(dir)).state, { step: 13 });
});

Deno.test("corrupt checkpoints give clear errors", async () => {
  const dir = await Deno.makeTempDir();
  await saveCheckpoint(dir, new Map([["a", tf.ones([4])]]), {});
  const json = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  const bin = join(dir, json.weightsManifest[0].paths[0]);
  await Deno.writeFile(bin, new Uint8Array(5));
  await assert.rejects(() => loadCheckpoint(dir), /weights file has 5 bytes, expected 16/);
  await writeFileAtomic(join(dir, "model.json"), "{not json");
  await assert.rejects(() => new FileIOHandler(dir).load(), /corrupt checkpoint .*not JSON/);
  await assert.rejects(() => loadCheckpoint(join(dir, "nope")), /no checkpoint at/);
});

Deno.test("writeFileAtomic leaves no temp files and replaces content whole", async () => {
  const dir = await Deno.makeTempDir();
  const p = join(dir, "sub", "x.json");
  await writeFileAtomic(p, "one");
  await writeFileAtomic(p, new TextEncoder().encode("two"));
  assert.equal(await Deno.readTextFile(p), "two");
  assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), ["x.json"]);
});

Deno.test({
  name: "TrainLoop: SIGTERM during a loop that never awaits I/O still stops it with a checkpoint",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    // Imported here, not at the top: experiment.ts registers the wasm backend, which would take
    // priority over cpu for the other tests of this file.
    const { Run } = await import("../lib/run.ts");
    const { TrainLoop } = await import("../lib/experiment.ts");
    const { Linear } = await import("../lib/nn.ts");
    const { Rng } = await import("../lib/random.ts");
    const dir = await Deno.makeTempDir();
    const backend: BackendChoice = { name: "cpu", reason: "test", device: "", kernels: [] };
    const run = await Run.open({
      paper: "t",
      runId: "t",
      dir,
      config: {},
      seed: 0,
      backend,
      resume: false,
    });
    const state = {
      modules: { m: new Linear(new Rng(0, "init"), 2, 2) },
      optimizers: {},
      rngs: {},
    };
    const loop = TrainLoop.create(run, state, {
      label: "t",
      stepsPerEpoch: 40,
      epochs: 1,
      logEvery: 40,
      checkpointEvery: 40,
    });
    let stoppedAt = -1;
    try {
      while (loop.running) {
        // Pure compute: no awaited I/O, like a training step whose reads resolve at once.
        let x = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < 150) x += Math.sqrt(x + 1);
        if (loop.step === 3) Deno.kill(Deno.pid, "SIGTERM");
        if (!(await loop.after({ x }, 1, 0.001))) {
          stoppedAt = loop.step;
          break;
        }
      }
      // The loop offers the event loop a turn once a second: with 150 ms steps it stops a few
      // steps after the signal (and never, without those turns, before the end at step 40).
      assert.ok(stoppedAt > 3 && stoppedAt <= 25, `stopped at ${stoppedAt}`);
      assert.equal(Deno.exitCode, 143);
      assert.ok(await hasCheckpoint(join(dir, "checkpoint")));
      const ckpt = await loadCheckpoint(join(dir, "checkpoint"));
      assert.equal(Number(ckpt.state.step), stoppedAt);
    } finally {
      Deno.exitCode = 0; // the stop set 143 for the process; this test process must still pass
    }
  },
});
