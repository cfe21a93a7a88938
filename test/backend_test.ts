import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { selectBackend } from "../lib/backend.ts";
import { UserError } from "../lib/fsutil.ts";

Deno.test("explicit cpu and wasm backends are selected and say so", async () => {
  const cpu = await selectBackend("cpu");
  assert.equal(cpu.name, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.equal(cpu.reason, "requested");
  const wasm = await selectBackend("wasm");
  assert.equal(wasm.name, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.ok(wasm.kernels.includes("BatchMatMul"), `our kernels: ${wasm.kernels}`);
});

Deno.test("auto picks a working backend and explains the choice", async () => {
  const choice = await selectBackend("auto");
  assert.match(choice.reason, /^auto: /);
  // Without tfjs-node in ./node_modules and without a hardware GPU (CI, these machines), auto must
  // fall through to blas where OpenBLAS loads (CI installs it), else wasm, and name the reason;
  // with a hardware adapter it picks webgpu.
  if (choice.name === "wasm") assert.match(choice.reason, /no tfjs-node.*no native BLAS/);
  if (choice.name === "blas") assert.match(choice.reason, /no tfjs-node.*GEMMs on /);
  if (choice.name !== "webgpu" && Deno.env.get("GANREPRO_REQUIRE_BLAS") === "1") {
    assert.equal(choice.name, "blas", choice.reason);
  }
  if (choice.name === "webgpu") assert.ok(choice.device.length > 0);
  assert.ok(["tensorflow", "webgpu", "blas", "wasm"].includes(choice.name));
  assert.equal(tf.getBackend(), choice.name === "blas" ? "wasm" : choice.name);
});

Deno.test("tensorflow backend without tfjs-node installed is a clear error", async () => {
  await assert.rejects(
    () => selectBackend("tensorflow"),
    (e: unknown) => e instanceof UserError && /tfjs-node/.test(e.message),
  );
});

Deno.test("the same computation agrees across cpu and wasm to float32 rounding", async () => {
  const run = async (b: "cpu" | "wasm") => {
    await selectBackend(b);
    const x = tf.tensor2d(Array.from({ length: 64 * 50 }, (_, i) => Math.sin(i)), [64, 50]);
    const w = tf.tensor2d(Array.from({ length: 50 * 30 }, (_, i) => Math.cos(i * 0.7)), [50, 30]);
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(x, w as tf.Tensor2D))))(w);
    return Array.from(g.dataSync());
  };
  const a = await run("cpu"), b = await run("wasm");
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-3 * (1 + Math.abs(a[i])));
});
