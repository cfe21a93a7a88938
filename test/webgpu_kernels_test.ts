/**
 * Correctness of our WGSL kernels for the webgpu backend (lib/kernels/webgpu): each is compared with
 * the tfjs cpu backend on small random shapes covering transposes, broadcasting, strides 1 and 2,
 * 'same'/'valid'/explicit padding, odd sizes, dilation, batch 1 and 3, every tile shape and the
 * split-K path; fused Adam and RMSprop are compared with the update rules computed in float64 here,
 * and lib/optim's optimizers on webgpu (fused) with the same optimizers on cpu (tf ops).
 *
 * Runs wherever a WebGPU adapter exists (a software one such as Mesa's llvmpipe is enough) and is
 * skipped otherwise.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { Adam, type Optimizer, RMSprop } from "../lib/optim.ts";
import { countOps } from "../lib/kernels/opcount.ts";
import {
  fusedAdamStep,
  fusedRmspropStep,
  registerWebgpuKernels,
  webgpuKernelCounts,
} from "../lib/kernels/webgpu/mod.ts";
import {
  type GemmTile,
  planGemm,
  setTileOverride,
  tileDims,
  TILES,
} from "../lib/kernels/webgpu/gemm.ts";

// Mesa's Vulkan loader complains on stderr without it.
if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const registered = registerWebgpuKernels();
if (adapter) await tf.setBackend("webgpu");
// Inputs are made on cpu; tfjs moves them to whichever backend runs the op.
await tf.setBackend("cpu");

/** Skipped without an adapter; the WebGPU device lives for the whole process (no sanitizers). */
const gpuTest = { ignore: adapter === null, sanitizeResources: false, sanitizeOps: false };

/** A random input, materialized as a tensor on each backend in turn. */
interface Input {
  shape: number[];
  data: Float32Array;
}

function randn(rng: Rng, shape: number[]): Input {
  return { shape, data: rng.normalArray(shape.reduce((a, b) => a * b, 1)) };
}

/**
 * Runs `f` on `backend` with fresh tensors of `inputs` and returns its outputs as plain arrays.
 * (Reusing one tensor on both backends would need a synchronous GPU read, which tfjs-webgpu cannot
 * do under Deno.)
 */
async function on(
  backend: string,
  inputs: Input[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => f(...inputs.map((x) => tf.tensor(x.data, x.shape))));
  const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outs);
  await tf.setBackend("cpu");
  return data;
}

/** Asserts `got` ≈ `want` elementwise, with an fp32 tolerance scaled by the magnitude of `want`. */
function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= 5e-5 * scale, `${what}: element ${i} is ${got[i]}, cpu says ${want[i]}`);
  }
}

/** Runs `f` on webgpu and cpu and compares every output. */
async function compare(
  what: string,
  inputs: Input[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<void> {
  const [gpu, cpu] = [await on("webgpu", inputs, f), await on("cpu", inputs, f)];
  gpu.forEach((g, i) => assertClose(g, cpu[i], `${what} [output ${i}]`));
}

Deno.test("registers the four kernels, idempotently", gpuTest, () => {
  const names = ["BatchMatMul", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"];
  assert.deepEqual([...registered].sort(), [...names].sort());
  assert.deepEqual(registerWebgpuKernels().sort(), [...names].sort());
});

Deno.test("BatchMatMul matches cpu for every transpose and tile shape", gpuTest, async () => {
  const rng = new Rng(1, "webgpu-matmul");
  webgpuKernelCounts(true);
  // Each tile shape stages A and B with its own thread mapping per memory order (transposes), so
  // these pairs cover every (tile side, slab depth, memory order) combination of both operands;
  // shader compilation on a software rasterizer is too slow to run all sixteen.
  const plan: [GemmTile, boolean, boolean][] = [
    [TILES[0], false, false],
    [TILES[0], true, true],
    [TILES[1], false, false],
    [TILES[1], true, true],
    [TILES[2], true, false],
    [TILES[2], false, true],
    [TILES[3], false, false],
    [TILES[3], true, true],
    [TILES[4], false, true],
    [TILES[4], true, false],
    [TILES[5], false, true],
    [TILES[5], true, false],
  ];
  try {
    for (const [tile, ta, tb] of plan) {
      setTileOverride(tile);
      // Two tiles each way, the second one partial.
      const { BM, BN } = tileDims(tile);
      const m = BM + 1 + rng.int(BM / 2), n = BN + 1 + rng.int(BN / 2), k = 1 + rng.int(40);
      const a = randn(rng, ta ? [k, m] : [m, k]), b = randn(rng, tb ? [n, k] : [k, n]);
      const what = `matmul ${m}x${k}x${n} ta=${ta} tb=${tb} tile ${JSON.stringify(tile)}`;
      await compare(what, [a, b], (a, b) => [tf.matMul(a, b, ta, tb)]);
    }
    // A single row and a single column.
    setTileOverride(null);
    await compare("matmul 1x5x300", [randn(rng, [1, 5]), randn(rng, [5, 300])], (a, b) => [
      tf.matMul(a, b),
    ]);
    await compare("matmul 300x5x1", [randn(rng, [300, 5]), randn(rng, [5, 1])], (a, b) => [
      tf.matMul(a, b),
    ]);
  } finally {
    setTileOverride(null);
  }
  assert.deepEqual(webgpuKernelCounts().BatchMatMul, { ours: plan.length + 2, stock: 0 });
});

Deno.test("BatchMatMul batching, broadcasting and split-K", gpuTest, async () => {
  const rng = new Rng(2, "webgpu-matmul-batch");
  webgpuKernelCounts(true);
  const cases: [number[], number[], boolean, boolean][] = [
    [[3, 9, 7], [7, 8], false, false], // rank 3 × rank 2: b shared by every batch
    [[1, 9, 6], [3, 8, 9], true, true], // a broadcast over b's batch
    [[2, 3, 4, 5], [2, 3, 5, 6], false, false], // rank 4
    [[1, 20, 3000], [1, 3000, 7], false, false], // long K: split into partial sums
    [[30, 2500], [5, 2500], false, true],
  ];
  // The long-K products must really take the split path.
  assert.ok(planGemm(20, 7, 3000, 1, true)!.splits > 1);
  assert.ok(planGemm(30, 5, 2500, 1, true)!.splits > 1);
  for (const [sa, sb, ta, tb] of cases) {
    const what = `matmul ${sa} x ${sb}`;
    await compare(what, [randn(rng, sa), randn(rng, sb)], (a, b) => [tf.matMul(a, b, ta, tb)]);
  }
  assert.deepEqual(webgpuKernelCounts(true).BatchMatMul, { ours: cases.length, stock: 0 });
});

Deno.test("tiny products and NCHW fall back to the stock kernels", gpuTest, async () => {
  const rng = new Rng(6, "webgpu-fallback");
  webgpuKernelCounts(true);
  await compare("matmul 8x50x16", [randn(rng, [8, 50]), randn(rng, [50, 16])], (a, b) => [
    tf.matMul(a, b),
  ]);
  assert.deepEqual(webgpuKernelCounts().BatchMatMul, { ours: 0, stock: 1 });
  const x = randn(rng, [2, 3, 6, 5]), w = randn(rng, [3, 3, 3, 4]);
  await compare("NCHW conv2d", [x, w], (x, w) => [
    tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same", "NCHW"),
  ]);
  assert.deepEqual(webgpuKernelCounts().Conv2D, { ours: 0, stock: 1 });
});

type Pad = "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface ConvCase {
  b: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
  dilation?: number;
}

/** y = conv2d(x, w), dx = conv2dTranspose(dy, w) (Conv2DBackpropInput) and dW via tf.grad. */
async function checkConv(c: ConvCase, rng: Rng, what: string): Promise<void> {
  const x = randn(rng, [c.b, c.h, c.w, c.ci]), w = randn(rng, [c.k, c.k, c.ci, c.co]);
  const d = c.dilation ?? 1;
  const yShape = tf.tidy(() => {
    const [zx, zw]: tf.Tensor[] = [tf.zeros(x.shape), tf.zeros(w.shape)];
    return tf.conv2d(zx as tf.Tensor4D, zw as tf.Tensor4D, c.s, c.pad, "NHWC", d).shape;
  });
  const dy = randn(rng, yShape);
  await compare(`${what} ${JSON.stringify(c)}`, [x, w, dy], (x, w, dy) => {
    const [x4, w4, dy4] = [x, w, dy] as tf.Tensor4D[];
    const y = tf.conv2d(x4, w4, c.s, c.pad, "NHWC", d);
    if (d !== 1) return [y]; // tfjs has no gradients for dilated convs
    const dx = tf.conv2dTranspose(dy4, w4, x4.shape, c.s, c.pad);
    const dw = tf.grad((f) => tf.sum(tf.mul(tf.conv2d(x4, f as tf.Tensor4D, c.s, c.pad), dy4)))(w4);
    return [y, dx, dw];
  });
}

Deno.test("Conv2D and its gradients match cpu", gpuTest, async () => {
  const rng = new Rng(3, "webgpu-conv");
  webgpuKernelCounts(true);
  const cases: ConvCase[] = [
    // Every output has more than 128 elements (smaller ones go to the stock kernels).
    { b: 1, h: 9, w: 5, ci: 3, co: 5, k: 3, s: 1, pad: "same" },
    { b: 3, h: 8, w: 8, ci: 4, co: 6, k: 4, s: 2, pad: 1 }, // DCGAN's k4 s2 p1
    { b: 1, h: 9, w: 7, ci: 5, co: 12, k: 3, s: 2, pad: "valid" },
    { b: 3, h: 9, w: 9, ci: 2, co: 7, k: 4, s: 2, pad: "same" },
    { b: 1, h: 6, w: 11, ci: 3, co: 9, k: 3, s: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    // 4×4 → 1×1, as DCGAN's D head and (transposed) G's first layer.
    { b: 13, h: 4, w: 4, ci: 6, co: 10, k: 4, s: 1, pad: "valid" },
    { b: 8, h: 2, w: 3, ci: 6, co: 8, k: 4, s: 1, pad: 3 }, // more padding than input
    { b: 3, h: 5, w: 6, ci: 6, co: 24, k: 1, s: 2, pad: "same" }, // filter smaller than stride
    { b: 1, h: 10, w: 9, ci: 3, co: 4, k: 3, s: 1, pad: "same", dilation: 2 },
    { b: 1, h: 6, w: 7, ci: 20, co: 24, k: 3, s: 2, pad: 1 }, // wide enough for 64×64 tiles
    { b: 4, h: 7, w: 5, ci: 1, co: 20, k: 3, s: 1, pad: "same" }, // 9-row filter gradient
  ];
  for (const c of cases) await checkConv(c, rng, "conv");
  const counts = webgpuKernelCounts();
  for (const k of ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"]) {
    assert.equal(counts[k].stock, 0, k);
    assert.ok(counts[k].ours >= cases.length - 1, k);
  }
});

Deno.test("conv kernels on the largest tile and with split-K", gpuTest, async () => {
  const rng = new Rng(4, "webgpu-conv-tiles");
  webgpuKernelCounts(true);
  try {
    // The 128×128 tile (these small shapes get narrow or 64×64 ones).
    setTileOverride(TILES[0]);
    await checkConv({ b: 3, h: 11, w: 10, ci: 5, co: 9, k: 4, s: 2, pad: 1 }, rng, "tile 8x8");
  } finally {
    setTileOverride(null);
  }
  // Long reductions: the filter gradient over b·oh·ow = 4800 positions, the input gradient over
  // 3·3·512 taps.
  const big: ConvCase[] = [
    { b: 3, h: 40, w: 40, ci: 2, co: 8, k: 3, s: 1, pad: "same" },
    { b: 1, h: 3, w: 3, ci: 16, co: 512, k: 3, s: 1, pad: "same" },
  ];
  assert.ok(planGemm(3 * 3 * 2, 8, 3 * 40 * 40, 1, true)!.splits > 1);
  assert.ok(planGemm(3 * 3, 16, 3 * 3 * 512, 1, true)!.splits > 1);
  for (const c of big) await checkConv(c, rng, "split-K");
  for (const [k, c] of Object.entries(webgpuKernelCounts())) assert.equal(c.stock, 0, k);
});

Deno.test("fusedAdamStep follows torch.optim.Adam", gpuTest, async () => {
  const rng = new Rng(5, "webgpu-adam");
  const n = 1000;
  const p0 = rng.normalArray(n), grads = [0, 1, 2].map(() => rng.normalArray(n));
  const h = { lr: 2e-3, beta1: 0.5, beta2: 0.999, eps: 1e-8 };
  // float64 reference
  const p = Float64Array.from(p0), m = new Float64Array(n), v = new Float64Array(n);
  grads.forEach((g, t) => {
    const c1 = 1 - h.beta1 ** (t + 1), c2 = 1 - h.beta2 ** (t + 1);
    for (let i = 0; i < n; i++) {
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * g[i];
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
      p[i] -= (h.lr / c1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(c2) + h.eps);
    }
  });
  await tf.setBackend("webgpu");
  const param = tf.variable(tf.tensor1d(p0));
  const before = tf.clone(param); // shares param's buffer: must keep the old values
  const mv = tf.variable(tf.zeros([n])), vv = tf.variable(tf.zeros([n]));
  grads.forEach((g, t) => {
    const gt = tf.tensor1d(g);
    fusedAdamStep(param, gt, mv, vv, { ...h, step: t + 1 });
    gt.dispose();
  });
  const [got, gotM, gotV, kept] = await Promise.all([param, mv, vv, before].map((t) => t.data()));
  tf.dispose([param, before, mv, vv]);
  await tf.setBackend("cpu");
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(got[i] - p[i]) <= 1e-6 * (1 + Math.abs(p[i])), `param ${i}`);
    assert.ok(Math.abs(gotM[i] - m[i]) <= 1e-6 * (1 + Math.abs(m[i])), `m ${i}`);
    assert.ok(Math.abs(gotV[i] - v[i]) <= 1e-6 * (1 + Math.abs(v[i])), `v ${i}`);
    assert.equal(kept[i], p0[i]);
  }
});

Deno.test("fusedRmspropStep follows torch.optim.RMSprop", gpuTest, async () => {
  const rng = new Rng(6, "webgpu-rmsprop");
  const n = 777;
  const p0 = rng.normalArray(n), grads = [0, 1, 2].map(() => rng.normalArray(n));
  const h = { lr: 5e-3, alpha: 0.99, eps: 1e-8 };
  const p = Float64Array.from(p0), sq = new Float64Array(n);
  for (const g of grads) {
    for (let i = 0; i < n; i++) {
      sq[i] = h.alpha * sq[i] + (1 - h.alpha) * g[i] * g[i];
      p[i] -= h.lr * g[i] / (Math.sqrt(sq[i]) + h.eps);
    }
  }
  await tf.setBackend("webgpu");
  const param = tf.variable(tf.tensor1d(p0)), sv = tf.variable(tf.zeros([n]));
  for (const g of grads) {
    const gt = tf.tensor1d(g);
    fusedRmspropStep(param, gt, sv, h);
    gt.dispose();
  }
  const [got, gotSq] = await Promise.all([param.data(), sv.data()]);
  tf.dispose([param, sv]);
  await tf.setBackend("cpu");
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(got[i] - p[i]) <= 1e-6 * (1 + Math.abs(p[i])), `param ${i}`);
    assert.ok(Math.abs(gotSq[i] - sq[i]) <= 1e-6 * (1 + Math.abs(sq[i])), `sq ${i}`);
  }
});

Deno.test("lib/optim Adam and RMSprop on webgpu (fused) match cpu (tf ops)", gpuTest, async () => {
  const rng = new Rng(8, "webgpu-optim");
  const shapes = [[3, 5], [7], [2, 2, 3, 4]];
  const init = shapes.map((s) => rng.normalArray(s.reduce((a, b) => a * b, 1)));
  const grads = [0, 1, 2, 3].map(() => init.map((x) => rng.normalArray(x.length)));
  let lastDispatches = -1;
  const run = async (backend: string, make: () => Optimizer) => {
    await tf.setBackend(backend);
    const opt = make();
    const vars = shapes.map((s, i) => tf.variable(tf.tensor(init[i], s)));
    for (const gs of grads) {
      const g = gs.map((x, i) => tf.tensor(x, shapes[i]));
      const { dispatches } = await countOps(() => opt.step(vars, g));
      // Fused: one dispatch per variable once the state exists.
      if (backend === "webgpu") lastDispatches = dispatches;
      tf.dispose(g);
    }
    const out = await Promise.all(vars.map((v) => v.data()));
    tf.dispose(vars);
    opt.dispose();
    return out;
  };
  const makers: [string, () => Optimizer][] = [
    ["Adam", () => new Adam(1e-2, 0.5, 0.999)],
    ["RMSprop", () => new RMSprop(5e-3)],
  ];
  for (const [name, make] of makers) {
    const gpu = await run("webgpu", make);
    assert.equal(lastDispatches, shapes.length, `${name}: one dispatch per variable`);
    const cpu = await run("cpu", make);
    cpu.forEach((c, j) =>
      c.forEach((x, i) => {
        assert.ok(Math.abs(gpu[j][i] - x) <= 1e-5 * (1 + Math.abs(x)), `${name} var ${j}[${i}]`);
      })
    );
  }
});

/** Training-mode batch norm from plain tf ops (the reference the fused kernels must match). */
function bnReference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(tf.mul(tf.sub(x, mean), tf.mul(tf.rsqrt(tf.add(variance, eps)), gamma)), beta);
}

Deno.test(
  "fused batch norm: values, first and second derivatives match tf ops on cpu",
  gpuTest,
  async () => {
    const { fusedBatchNormTrain } = await import("../lib/kernels/webgpu/batchnorm.ts");
    const rng = new Rng(9, "webgpu-bn");
    for (const shape of [[3, 5, 4, 7], [6, 9], [2, 3, 3, 300]]) {
      const c = shape.at(-1)!, n = shape.reduce((a, b) => a * b, 1);
      const xs = rng.normalArray(n, 0.5, 2), gs = rng.normalArray(c, 1, 0.3);
      const bs = rng.normalArray(c), ws = rng.normalArray(n);
      const eps = 1e-5;
      const results: Record<string, Float32Array[]> = {};
      for (const backend of ["webgpu", "cpu"]) {
        await tf.setBackend(backend);
        const x = tf.tensor(xs, shape), gamma = tf.tensor1d(gs), beta = tf.tensor1d(bs);
        const w = tf.tensor(ws, shape);
        const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          backend === "webgpu" ? fusedBatchNormTrain(x, g, b, eps).y : bnReference(x, g, b, eps);
        const loss = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(x, g, b), w));
        const y = bn(x, gamma, beta);
        const grads = tf.grads(loss)([x, gamma, beta]);
        // Second order: d/dx of |∂loss/∂x|², a penalty through the normalization.
        const penalty = (x: tf.Tensor) =>
          tf.sum(tf.square(tf.grad((x) => loss(x, gamma, beta))(x)));
        const second = tf.grad(penalty)(x);
        results[backend] = await Promise.all(
          [y, ...grads, second].map((t) => t.data() as Promise<Float32Array>),
        );
        tf.dispose([x, gamma, beta, w, y, ...grads, second]);
      }
      const names = ["y", "dx", "dgamma", "dbeta", "d2x"];
      results.cpu.forEach((want, k) => {
        const got = results.webgpu[k];
        const scale = Math.max(...want.map(Math.abs));
        want.forEach((v, i) =>
          assert.ok(
            Math.abs(got[i] - v) <= 2e-4 * (1 + scale),
            `${names[k]} [${shape}] ${i}: ${got[i]} vs ${v}`,
          )
        );
      });
    }
    await tf.setBackend("cpu");
  },
);

Deno.test(
  "lib/nn BatchNorm on webgpu: fused, same outputs and running statistics as cpu, fewer dispatches",
  gpuTest,
  async () => {
    const { BatchNorm } = await import("../lib/nn.ts");
    const rng = new Rng(10, "webgpu-bn-module");
    const xs = rng.normalArray(4 * 6 * 6 * 16, 1, 3);
    const out: Record<string, Float32Array[]> = {};
    let dispatches = 0;
    for (const backend of ["webgpu", "cpu"]) {
      await tf.setBackend(backend);
      const bn = new BatchNorm(new Rng(1), 16, { eps: 0.8 });
      const x = tf.tensor4d(xs, [4, 6, 6, 16]);
      const counted = await countOps(() =>
        tf.variableGrads(() => tf.sum(tf.square(bn.apply(x, { training: true }))) as tf.Scalar)
      );
      if (backend === "webgpu") dispatches = counted.dispatches;
      const g = counted.result.grads;
      out[backend] = await Promise.all(
        [bn.runningMean, bn.runningVar, g[bn.gamma.name], g[bn.beta.name]].map((t) =>
          t.data() as Promise<Float32Array>
        ),
      );
      tf.dispose([x, counted.result.value, ...Object.values(g)]);
      bn.dispose();
    }
    out.cpu.forEach((want, k) =>
      want.forEach((v, i) =>
        assert.ok(Math.abs(out.webgpu[k][i] - v) <= 1e-3 * (1 + Math.abs(v)), `${k} ${i}`)
      )
    );
    // Forward stats + apply, backward sums + dx, the running-statistics update and the loss: the
    // op-by-op version takes over 40.
    assert.ok(dispatches < 30, `${dispatches} dispatches`);
    await tf.setBackend("cpu");
  },
);
