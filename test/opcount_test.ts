import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { countOps } from "../lib/kernels/opcount.ts";
import { Adam } from "../lib/optim.ts";

Deno.test("countOps counts every kernel call, forward and backward, and restores the engine", async () => {
  await tf.setBackend("cpu");
  const a = tf.tensor1d([1, 2, 3]), b = tf.tensor1d([4, 5, 6]);
  const fwd = await countOps(() => tf.tidy(() => tf.sum(tf.mul(tf.add(a, b), a))));
  assert.equal(fwd.kernels, 3); // Add, Mul, Sum
  assert.equal(fwd.dispatches, 0);
  assert.deepEqual(Array.from(await fwd.result.data()), [1 * 5 + 2 * 7 + 3 * 9]);
  // The gradient of sum(x²) is 2x: more kernels than the forward alone.
  const x = tf.variable(tf.tensor1d([1, 2]));
  const grad = await countOps(() => tf.variableGrads(() => tf.sum(tf.square(x)) as tf.Scalar));
  assert.ok(grad.kernels > 2, `forward+backward ran ${grad.kernels} kernels`);
  assert.deepEqual(Array.from(await grad.result.grads[x.name].data()), [2, 4]);
  // Adam costs a fixed number of ops per variable off WebGPU (one fused dispatch on it).
  const y = tf.variable(tf.tensor1d([3, 4])), g = tf.onesLike(x);
  const opt1 = new Adam(0.1), opt2 = new Adam(0.1);
  const one = await countOps(() => opt1.step([x], [g]));
  const two = await countOps(() => opt2.step([x, y], [g, g]));
  assert.ok(one.kernels >= 10, `${one.kernels}`);
  assert.equal(two.kernels, 2 * one.kernels);
  // Restored: counting stops after the call.
  const after = await countOps(() => 0);
  tf.add(a, b).dispose();
  assert.equal(after.kernels, 0);
  opt1.dispose();
  opt2.dispose();
  tf.dispose([a, b, x, y, g, fwd.result, grad.result.value, ...Object.values(grad.result.grads)]);
});

Deno.test("withoutSyncReads: kernel outputs cannot be read synchronously, host tensors can", async () => {
  const { withoutSyncReads } = await import("./fixtures.ts");
  await tf.setBackend("cpu");
  await withoutSyncReads(async () => {
    const host = tf.tensor1d([1, 2]);
    assert.deepEqual(Array.from(host.dataSync()), [1, 2]);
    const out = tf.add(host, 1);
    assert.throws(() => out.dataSync(), /unavailable on WebGPU/);
    assert.deepEqual(Array.from(await out.data()), [2, 3]);
    tf.dispose([host, out]);
  });
  const out = tf.add(tf.tensor1d([1]), 1);
  assert.deepEqual(Array.from(out.dataSync()), [2]); // restored
  out.dispose();
});
