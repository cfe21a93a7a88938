/**
 * Correctness of the wasm training kernels (lib/kernels): every kernel we register is compared
 * with the tfjs cpu backend on random shapes, and the filter gradient is also checked against
 * central finite differences of a float64 convolution written out here.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { registerFastKernels } from "../lib/kernels/mod.ts";
import {
  im2colT,
  sumMiddleAxis,
  swapOuterAxes,
  swapOuterInner,
  transpose2d,
} from "../lib/kernels/layout.ts";
import {
  conv2DBackpropFilterDilated,
  conv2DBackpropFilterIm2col,
  conv2DBackpropInputCol2im,
  conv2DBackpropInputPhases,
  type KernelArgs,
  setScratchLimit,
} from "../lib/kernels/wasm.ts";
import {
  assertArrayClose,
  CONV_CASES,
  convLabel,
  explicit,
  outputsOn,
  type Pad,
} from "./fixtures.ts";

const registered = registerFastKernels();
// Inputs are made on cpu (wasm has a higher priority and would otherwise be picked uninitialized);
// tfjs moves them to whichever backend runs the op.
await tf.setBackend("cpu");

/** Runs `f` on cpu and wasm and compares all outputs. */
async function compare(what: string, f: () => tf.Tensor[]): Promise<void> {
  const want = await outputsOn("cpu", f);
  const got = await outputsOn("wasm", f);
  want.forEach((w, i) => assertArrayClose(got[i], w, `${what} [output ${i}]`));
}

const rng = new Rng(7, "kernels-test");
Deno.test("layout loops match their index definitions on plain arrays", () => {
  const [a, m, c] = [5, 3, 19]; // 19 > the 16-wide transpose tile
  const n = a * m * c;
  const heap = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) heap[i] = i + 1;
  const dst = heap.subarray(n, 2 * n);
  transpose2d(heap, 0, n, a * m, c);
  for (let r = 0; r < a * m; r++) {
    for (let k = 0; k < c; k++) assert.equal(dst[k * a * m + r], heap[r * c + k]);
  }
  swapOuterAxes(heap, 0, n, a, m, c);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < m; j++) {
      for (let k = 0; k < c; k++) assert.equal(dst[(j * a + i) * c + k], heap[(i * m + j) * c + k]);
    }
  }
  swapOuterInner(heap, 0, n, a, m, c);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < m; j++) {
      for (let k = 0; k < c; k++) assert.equal(dst[(k * m + j) * a + i], heap[(i * m + j) * c + k]);
    }
  }
  sumMiddleAxis(heap, 0, n, a, m, c, 0.5);
  for (let i = 0; i < a; i++) {
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += heap[(i * m + j) * c + k];
      assert.equal(dst[i * c + k], s * 0.5);
    }
  }
  // im2colT of a 1×4×3×2 image, 2×2 kernel, stride 2, one row/col of padding on top/left.
  const g = {
    batch: 1,
    inHeight: 4,
    inWidth: 3,
    inChannels: 2,
    outHeight: 3,
    outWidth: 2,
    filterHeight: 2,
    filterWidth: 2,
    strideHeight: 2,
    strideWidth: 2,
    padTop: 1,
    padLeft: 1,
  };
  im2colT(heap, 0, n, g);
  const x = (h: number, w: number, ch: number) =>
    h < 0 || h >= 4 || w < 0 || w >= 3 ? 0 : heap[(h * 3 + w) * 2 + ch];
  for (let kh = 0; kh < 2; kh++) {
    for (let kw = 0; kw < 2; kw++) {
      for (let ch = 0; ch < 2; ch++) {
        for (let oh = 0; oh < 3; oh++) {
          for (let ow = 0; ow < 2; ow++) {
            const row = (kh * 2 + kw) * 2 + ch;
            assert.equal(dst[row * 6 + oh * 2 + ow], x(oh * 2 - 1 + kh, ow * 2 - 1 + kw, ch));
          }
        }
      }
    }
  }
});

Deno.test("registerFastKernels registers the four missing kernels and is idempotent", () => {
  for (
    const k of [
      "Conv2DBackpropFilter",
      "DepthwiseConv2dNativeBackpropInput",
      "DepthwiseConv2dNativeBackpropFilter",
      "UnsortedSegmentSum",
    ]
  ) {
    assert.ok(registered.includes(k), k);
    assert.ok(tf.getKernel(k, "wasm") != null, `${k} registered`);
  }
  const before = tf.getKernel("Conv2DBackpropFilter", "wasm");
  assert.deepEqual(registerFastKernels(), registered);
  assert.equal(tf.getKernel("Conv2DBackpropFilter", "wasm"), before);
});

Deno.test("conv2d input and filter gradients match cpu", async () => {
  for (const c of CONV_CASES) {
    const x = rng.randn([c.batch, c.h, c.w, c.ci]) as tf.Tensor4D;
    const w = rng.randn([c.k, c.k, c.ci, c.co]) as tf.Tensor4D;
    const outShape = tf.conv2d(x, w, c.s, c.pad).shape;
    const dy = rng.randn(outShape);
    await compare(convLabel(c), () => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), dy));
      return tf.grads(f)([x, w]);
    });
    tf.dispose([x, w, dy]);
  }
});

Deno.test("conv2dTranspose forward and gradients (DCGAN generator layer) match cpu", async () => {
  const cases = [
    { batch: 3, h: 4, w: 4, ci: 5, co: 3, k: 4, s: 2, pad: "same" as const },
    { batch: 1, h: 7, w: 5, ci: 4, co: 2, k: 3, s: 2, pad: "same" as const },
    { batch: 2, h: 7, w: 7, ci: 8, co: 4, k: 4, s: 2, pad: explicit(1, 1, 1, 1) },
    { batch: 3, h: 3, w: 3, ci: 6, co: 2, k: 5, s: 1, pad: "valid" as const },
  ];
  for (const c of cases) {
    // z: [B, h, w, ci] is the layer input; the filter is [k, k, co, ci] (out channels first).
    const z = rng.randn([c.batch, c.h, c.w, c.ci]) as tf.Tensor4D;
    const w = rng.randn([c.k, c.k, c.co, c.ci]) as tf.Tensor4D;
    const ho = c.pad === "valid" ? (c.h - 1) * c.s + c.k : c.h * c.s;
    const wo = c.pad === "valid" ? (c.w - 1) * c.s + c.k : c.w * c.s;
    const outShape: [number, number, number, number] = [c.batch, ho, wo, c.co];
    const dy = rng.randn(outShape);
    await compare(`transpose ${JSON.stringify(c)}`, () => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, outShape, c.s, c.pad);
      const [gz, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([
        z,
        w,
      ]);
      return [f(z, w), gz, gw];
    });
    tf.dispose([z, w, dy]);
  }
});

Deno.test("depthwise conv gradients match cpu", async () => {
  const cases = [
    { batch: 3, h: 7, w: 5, c: 3, m: 1, k: 3, s: 1, pad: "same" as Pad },
    { batch: 1, h: 7, w: 5, c: 2, m: 2, k: 3, s: 2, pad: "same" as Pad },
    { batch: 3, h: 8, w: 9, c: 4, m: 1, k: 4, s: 2, pad: "valid" as Pad },
    { batch: 2, h: 9, w: 9, c: 2, m: 3, k: 5, s: 2, pad: explicit(2, 2, 1, 2) },
  ];
  for (const c of cases) {
    const x = rng.randn([c.batch, c.h, c.w, c.c]) as tf.Tensor4D;
    const w = rng.randn([c.k, c.k, c.c, c.m]) as tf.Tensor4D;
    const outShape = tf.depthwiseConv2d(x, w, c.s, c.pad).shape;
    const dy = rng.randn(outShape);
    await compare(`depthwise ${JSON.stringify(c)}`, () => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), dy));
      return tf.grads(f)([x, w]);
    });
    tf.dispose([x, w, dy]);
  }
});

Deno.test("unsortedSegmentSum and the gather (embedding) gradient match cpu", async () => {
  const x = rng.randn([12, 3, 2]);
  const ids = tf.tensor1d([0, 4, 4, 1, 0, 3, 3, 3, 0, 1, 4, 2], "int32");
  const table = rng.randn([10, 6]);
  const labels = tf.tensor1d([3, 3, 0, 9, 5, 3, 1], "int32");
  const dy = rng.randn([7, 6]);
  const xi = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], "int32");
  await compare("unsortedSegmentSum", () => [
    tf.unsortedSegmentSum(x, ids, 6),
    tf.unsortedSegmentSum(x, ids, 3), // ids >= numSegments are dropped
    tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, labels), dy)))(table),
    tf.cast(tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0], "int32"), 2), "float32"),
  ]);
  tf.dispose([x, ids, table, labels, dy, xi]);
});

Deno.test("matMul with transposes (dense-layer gradients) matches cpu", async () => {
  const a = rng.randn([5, 7]),
    b = rng.randn([7, 3]),
    bt = rng.randn([3, 7]),
    at = rng.randn([7, 5]);
  const a3 = rng.randn([2, 5, 7]), b3t = rng.randn([2, 3, 7]);
  const dy = rng.randn([5, 3]);
  // Shapes where computing Cᵀ = op(B)ᵀ·op(A)ᵀ copies fewer elements (the swapped path).
  const wide = rng.randn([40, 30]), thin = rng.randn([2, 30]), thinT = rng.randn([30, 2]);
  const thin3 = rng.randn([3, 2, 30]), tall = rng.randn([30, 40]);
  await compare("matMul", () => [
    tf.matMul(thin, wide, false, true),
    tf.matMul(tall, thinT, true, false),
    tf.matMul(thin3, wide, false, true),
    tf.matMul(a, b),
    tf.matMul(at, b, true, false),
    tf.matMul(a, bt, false, true),
    tf.matMul(at, bt, true, true),
    tf.matMul(a3, b3t, false, true),
    ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q), dy)))([a, b]),
  ]);
  tf.dispose([a, b, bt, at, a3, b3t, dy, wide, thin, thinT, thin3, tall]);
});

Deno.test("sum and mean over leading and middle axes (batch-norm moments) match cpu", async () => {
  const x = rng.randn([4, 5, 3, 6]);
  const g = rng.randn([4, 5, 3, 6]);
  await compare("reductions", () => [
    tf.sum(x, [0, 1, 2]),
    tf.mean(x, [0, 1, 2], true),
    tf.mean(x, [1, 2]),
    tf.sum(x, 0),
    tf.sum(x, [1]),
    tf.mean(x, -1), // innermost: stock kernel
    tf.sum(x, [0, 2]), // not contiguous: stock kernel
    tf.sum(x),
    tf.moments(x, [0, 1, 2]).variance,
    tf.clone(x), // Identity
    tf.cast(x, "float32"),
    tf.cast(tf.cast(tf.mul(x, 3), "int32"), "float32"),
    tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, [0, 1, 2]), tf.sum(g, [0, 1, 2]))))(x),
  ]);
  tf.dispose([x, g]);
});

/** L(w) = Σ conv2d(x, w) · dy in float64, straight from the definition (an independent reference). */
function lossF64(
  x: Float32Array,
  w: Float64Array,
  dy: Float32Array,
  [B, H, W, C]: number[],
  [K, Co]: number[],
  s: number,
  [pt, pl]: number[],
  [OH, OW]: number[],
): number {
  let total = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let co = 0; co < Co; co++) {
          let y = 0;
          for (let kh = 0; kh < K; kh++) {
            for (let kw = 0; kw < K; kw++) {
              const ih = oh * s - pt + kh, iw = ow * s - pl + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              for (let c = 0; c < C; c++) {
                y += x[((b * H + ih) * W + iw) * C + c] * w[((kh * K + kw) * C + c) * Co + co];
              }
            }
          }
          total += y * dy[((b * OH + oh) * OW + ow) * Co + co];
        }
      }
    }
  }
  return total;
}

Deno.test("conv2d filter gradient on wasm matches central finite differences", async () => {
  const [B, H, W, C, K, Co, s] = [2, 5, 4, 2, 3, 3, 2];
  // 'same' with stride 2: out = ceil(5/2) x ceil(4/2); total pad rows = (3-1)*2+3-5 = 2 -> top 1,
  // cols = (2-1)*2+3-4 = 1 -> left 0.
  const [OH, OW, pt, pl] = [3, 2, 1, 0];
  const x = rng.normalArray(B * H * W * C);
  const w = rng.normalArray(K * K * C * Co);
  const dy = rng.normalArray(B * OH * OW * Co);
  await tf.setBackend("wasm");
  const [dw] = tf.tidy(() => {
    const xt = tf.tensor4d(x, [B, H, W, C]);
    const dyt = tf.tensor4d(dy, [B, OH, OW, Co]);
    const f = (wt: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, wt as tf.Tensor4D, s, "same"), dyt));
    return [tf.grad(f)(tf.tensor4d(w, [K, K, C, Co]))];
  }).map((t) => t.dataSync());
  const h = 1e-3;
  const w64 = Float64Array.from(w);
  for (let i = 0; i < w64.length; i++) {
    const orig = w64[i];
    w64[i] = orig + h;
    const up = lossF64(x, w64, dy, [B, H, W, C], [K, Co], s, [pt, pl], [OH, OW]);
    w64[i] = orig - h;
    const down = lossF64(x, w64, dy, [B, H, W, C], [K, Co], s, [pt, pl], [OH, OW]);
    w64[i] = orig;
    const fd = (up - down) / (2 * h);
    assert.ok(
      Math.abs(dw[i] - fd) <= 1e-4 * Math.max(1, Math.abs(fd)),
      `dw[${i}] ${dw[i]} vs ${fd}`,
    );
  }
});

Deno.test("alternative conv gradient kernels (bench variants) match cpu", async () => {
  type Alt = (a: KernelArgs) => tf.TensorInfo;
  for (const c of CONV_CASES) {
    const x = rng.randn([c.batch, c.h, c.w, c.ci]) as tf.Tensor4D;
    const w = rng.randn([c.k, c.k, c.ci, c.co]) as tf.Tensor4D;
    const dy = rng.randn(tf.conv2d(x, w, c.s, c.pad).shape);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), dy));
    const [dx, dw] = await outputsOn("cpu", () => tf.grads(f)([x, w]));
    await tf.setBackend("wasm");
    const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC" };
    const run = (fn: Alt, inputs: tf.NamedTensorMap, extra: object) => {
      const be = tf.backend();
      const out = fn({ inputs, attrs: { ...attrs, ...extra } as tf.NamedAttrMap, backend: be });
      const data = be.readSync(out.dataId) as Float32Array;
      be.disposeData(out.dataId);
      return data;
    };
    const inShape = { inputShape: x.shape };
    assertArrayClose(
      run(conv2DBackpropInputPhases, { dy, filter: w }, inShape),
      dx,
      `phases ${convLabel(c)}`,
    );
    assertArrayClose(
      run(conv2DBackpropInputCol2im, { dy, filter: w }, inShape),
      dx,
      `col2im ${convLabel(c)}`,
    );
    assertArrayClose(
      run(conv2DBackpropFilterIm2col, { x, dy }, { filterShape: w.shape }),
      dw,
      `im2col ${convLabel(c)}`,
    );
    assertArrayClose(
      run(conv2DBackpropFilterDilated, { x, dy }, { filterShape: w.shape }),
      dw,
      `dilated ${convLabel(c)}`,
    );
    tf.dispose([x, w, dy]);
  }
});

Deno.test("batch-chunked im2col / col2im paths match cpu", async () => {
  // A cap of 200 floats forces one image per GEMM, covering the chunk loop and row copies.
  const old = setScratchLimit(200);
  try {
    const x = rng.randn([3, 9, 7, 2]) as tf.Tensor4D;
    const w = rng.randn([3, 3, 2, 4]) as tf.Tensor4D;
    const dy = rng.randn(tf.conv2d(x, w, 2, "same").shape);
    await compare(
      "chunked",
      () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"), dy))
        )([x, w]),
    );
    tf.dispose([x, w, dy]);
  } finally {
    setScratchLimit(old);
  }
});

Deno.test("wasm kernels free all their intermediates", async () => {
  await tf.setBackend("wasm");
  const be = tf.backend();
  const x = rng.randn([2, 9, 7, 3]) as tf.Tensor4D;
  const w = rng.randn([4, 4, 3, 5]) as tf.Tensor4D;
  const dw = rng.randn([3, 3, 3, 2]) as tf.Tensor4D;
  const emb = rng.randn([6, 4]);
  const ids = tf.tensor1d([1, 5, 1], "int32");
  const a = rng.randn([4, 3]);
  const before = be.numDataIds();
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => {
      tf.grads((p: tf.Tensor, q: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, "same")))
      )([x, w]);
      tf.grads((p: tf.Tensor, q: tf.Tensor) =>
        tf.sum(tf.square(tf.depthwiseConv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, "same")))
      )([x, dw]);
      tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))))(emb);
      tf.matMul(a, a, true, false);
      tf.sum(tf.mean(x, [0, 1, 2]));
      tf.cast(tf.clone(x), "float32");
    });
  }
  assert.equal(be.numDataIds(), before);
  tf.dispose([x, w, dw, emb, ids, a]);
});

Deno.test("threaded wasm build starts under Deno and its gradients match cpu", async () => {
  // In a subprocess: the thread pool is created once per process, at backend initialization.
  const dir = await Deno.makeTempDir();
  const script = `${dir}/threads.ts`;
  const url = (p: string) => JSON.stringify(import.meta.resolve(p));
  const config = new URL("../deno.json", import.meta.url).pathname;
  await Deno.writeTextFile(
    script,
    `import { tf } from ${url("../lib/tf.ts")};
import { enableWasmThreads, registerFastKernels } from ${url("../lib/kernels/mod.ts")};
import { Rng } from ${url("../lib/random.ts")};
registerFastKernels();
await tf.setBackend("cpu");
const rng = new Rng(5, "threads");
const x = rng.randn([4, 12, 12, 16]), w = rng.randn([4, 4, 16, 32]);
const f = (a, b) => tf.sum(tf.square(tf.conv2d(a, b, 2, "same")));
const want = tf.grads(f)([x, w]).map((t) => t.dataSync());
const status = await enableWasmThreads(2);
const got = tf.grads(f)([x, w]).map((t) => t.dataSync());
let err = 0;
for (let i = 0; i < want.length; i++) {
  const scale = Math.max(1, ...want[i].map(Math.abs));
  want[i].forEach((v, j) => { err = Math.max(err, Math.abs(v - got[i][j]) / scale); });
}
console.log(JSON.stringify({ ...status, backend: tf.getBackend(), err }));
`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--no-check", "--config", config, script],
  }).output();
  await Deno.remove(dir, { recursive: true });
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text.split("\n").at(-1)!);
  assert.equal(r.error, undefined);
  assert.equal(r.backend, "wasm");
  assert.equal(r.threads, 2);
  assert.ok(r.err < 2e-5, `max error relative to the largest gradient: ${r.err}`);
});
