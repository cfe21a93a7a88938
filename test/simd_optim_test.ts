/**
 * The fused WebAssembly SIMD optimizer passes (lib/kernels/simd_optim.ts) against the op-by-op
 * updates they replace: bit for bit, on the wasm backend, over sizes with and without a JS tail,
 * several steps, and values from tiny to large — and the shared-memory variant of the module
 * (the threaded wasm build's) against the same update written out in float32 JS arithmetic.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { registerFastKernels } from "../lib/kernels/mod.ts";
import {
  type AdamHyper,
  adamStepOps,
  optimizerModule,
  type RmspropHyper,
  rmspropStepOps,
  wasmAdamStep,
  wasmRmspropStep,
} from "../lib/kernels/simd_optim.ts";

registerFastKernels();

const SIZES = [1, 3, 4, 7, 64, 1001, 4099];

/** Gaussian values times a per-element scale spanning 1e-6…1e3, with a few exact zeros. */
function values(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = i % 17 === 5 ? 0 : rng.normal() * 10 ** (rng.uniform() * 9 - 6);
  }
  return out;
}

/** Bit patterns, so -0 vs 0 and NaN payloads would count as differences. */
const bits = (t: tf.Tensor) =>
  new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer);

Deno.test("wasm SIMD Adam equals the op-by-op Adam bit for bit", async () => {
  await tf.setBackend("wasm");
  const rng = new Rng(7);
  for (const n of SIZES) {
    const p0 = values(rng, n);
    const [pa, pb] = [tf.variable(tf.tensor1d(p0)), tf.variable(tf.tensor1d(p0))];
    const [ma, mb, va, vb] = [0, 0, 0, 0].map(() => tf.variable(tf.zeros([n])));
    const hypers: Omit<AdamHyper, "step">[] = [
      { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 },
      { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      { lr: 1e-4, beta1: 0, beta2: 0.9, eps: 1e-3 },
    ];
    for (let step = 1; step <= 6; step++) {
      const h = { ...hypers[step % 3], step };
      const g = tf.tensor1d(values(rng, n));
      assert.ok(wasmAdamStep(pa, g, ma, va, h), "the fused pass runs on wasm");
      adamStepOps(pb, g, mb, vb, h);
      g.dispose();
      for (const [a, b, what] of [[pa, pb, "param"], [ma, mb, "m"], [va, vb, "v"]] as const) {
        assert.deepEqual(bits(a), bits(b), `${what}, n=${n}, step ${step}`);
      }
    }
    tf.dispose([pa, pb, ma, mb, va, vb]);
  }
});

Deno.test("wasm SIMD RMSprop equals the op-by-op RMSprop bit for bit", async () => {
  await tf.setBackend("wasm");
  const rng = new Rng(8);
  for (const n of SIZES) {
    const p0 = values(rng, n);
    const [pa, pb] = [tf.variable(tf.tensor1d(p0)), tf.variable(tf.tensor1d(p0))];
    const [sa, sb] = [tf.variable(tf.zeros([n])), tf.variable(tf.zeros([n]))];
    for (let step = 1; step <= 5; step++) {
      const h: RmspropHyper = { lr: step % 2 ? 5e-5 : 1e-2, alpha: 0.99, eps: 1e-8 };
      const g = tf.tensor1d(values(rng, n));
      assert.ok(wasmRmspropStep(pa, g, sa, h));
      rmspropStepOps(pb, g, sb, h);
      g.dispose();
      assert.deepEqual(bits(pa), bits(pb), `param, n=${n}, step ${step}`);
      assert.deepEqual(bits(sa), bits(sb), `sq, n=${n}, step ${step}`);
    }
    tf.dispose([pa, pb, sa, sb]);
  }
});

Deno.test("the fused passes decline off wasm and leave the variables untouched", async () => {
  await tf.setBackend("cpu");
  const p = tf.variable(tf.tensor1d([1, 2])), m = tf.variable(tf.zeros([2]));
  const v = tf.variable(tf.zeros([2])), g = tf.tensor1d([0.5, -0.5]);
  const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1 };
  assert.equal(wasmAdamStep(p, g, m, v, h), false);
  assert.equal(wasmRmspropStep(p, g, m, { lr: 0.1, alpha: 0.99, eps: 1e-8 }), false);
  assert.deepEqual(Array.from(p.dataSync()), [1, 2]);
  tf.dispose([p, m, v, g]);
});

Deno.test("the shared-memory module (threaded wasm build) runs Adam in float32", () => {
  const bytes = optimizerModule(true);
  assert.ok(WebAssembly.validate(bytes));
  assert.ok(WebAssembly.validate(optimizerModule(false)));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
  const { adam } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })
    .exports as { adam: (...a: number[]) => void };
  const n = 8, rng = new Rng(3);
  const heap = new Float32Array(memory.buffer);
  // p, g, m, v at floats 0, 8, 16, 24; outputs at 32, 40, 48 (byte offsets ×4).
  for (const base of [0, 8, 16, 24]) heap.set(values(rng, n), base);
  const k = [0.5, 0.5, 0.999, 0.001, Math.sqrt(0.001), 1e-8, 2e-4 / 0.5].map(Math.fround);
  adam(0, 32, 64, 96, 128, 160, 192, n * 4, ...k);
  const f = Math.fround, [b1, omb1, b2, omb2, rc2, eps, lrc1] = k;
  for (let i = 0; i < n; i++) {
    const g = heap[8 + i];
    const m = f(f(heap[16 + i] * b1) + f(g * omb1));
    const v = f(f(heap[24 + i] * b2) + f(f(g * g) * omb2));
    const p = f(heap[i] - f(f(m * lrc1) / f(f(f(Math.sqrt(v)) / rc2) + eps)));
    assert.deepEqual([heap[32 + i], heap[40 + i], heap[48 + i]], [p, m, v], `element ${i}`);
  }
});
