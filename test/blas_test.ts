/**
 * `--backend blas`: the native CBLAS sgemm (lib/kernels/blas.ts) against a float64 loop, and the
 * wasm backend's GEMMs and convolutions routed through it (lib/kernels/wasm.ts) against the tfjs
 * cpu backend. Needs OpenBLAS (Debian: libopenblas0-pthread; .ci/run installs it); without it the
 * tests are skipped with a note, unless GANREPRO_REQUIRE_BLAS=1 (set by CI) makes that a failure.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Rng } from "../lib/random.ts";
import { registerFastKernels, setBlas } from "../lib/kernels/mod.ts";
import { type Blas, blasPath, loadBlas } from "../lib/kernels/blas.ts";
import { setScratchLimit } from "../lib/kernels/wasm.ts";
import { selectBackend } from "../lib/backend.ts";
import { assertArrayClose, CONV_CASES, convLabel, outputsOn } from "./fixtures.ts";

let lib: Blas | null = null;
let why = "";
try {
  lib = loadBlas(1);
} catch (e) {
  why = (e as Error).message;
}
if (!lib) {
  if (Deno.env.get("GANREPRO_REQUIRE_BLAS") === "1") throw new Error(why);
  console.error(`blas_test: skipped (${why})`);
}
const ignore = lib == null;

registerFastKernels();
await tf.setBackend("cpu");
const rng = new Rng(11, "blas-test");

/** Runs `f` on cpu and on wasm+BLAS; asserts every output agrees to fp32 accuracy. */
async function compare(what: string, f: () => tf.Tensor[]): Promise<void> {
  const want = await outputsOn("cpu", f);
  setBlas(lib);
  let got: Float32Array[];
  try {
    got = await outputsOn("wasm", f);
  } finally {
    setBlas(null);
  }
  want.forEach((w, i) => assertArrayClose(got[i], w, `${what} [output ${i}]`));
}

Deno.test({
  name: "blas sgemm: all transposes, offsets into one buffer, beta accumulation",
  ignore,
  fn() {
    const heap = new Float32Array(20000).map((_, i) => Math.sin(0.37 * i));
    const orig = heap.slice();
    const [m, n, k] = [37, 53, 29];
    const ao = 3, bo = 2001, co = 9001;
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      for (const beta of [0, 1]) {
        const before = heap.slice(co, co + m * n);
        lib!.sgemm(ta, tb, m, n, k, heap, ao, heap, bo, heap, co, beta);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = beta * before[i * n + j];
            for (let p = 0; p < k; p++) {
              const a = ta ? orig[ao + p * m + i] : orig[ao + i * k + p];
              const b = tb ? orig[bo + j * k + p] : orig[bo + p * n + j];
              s += a * b;
            }
            assert.ok(Math.abs(heap[co + i * n + j] - s) < 1e-5, `ta=${ta} tb=${tb} (${i},${j})`);
          }
        }
        // Nothing outside C was written.
        assert.equal(heap[co - 1], orig[co - 1]);
        assert.equal(heap[co + m * n], orig[co + m * n]);
      }
    }
  },
});

Deno.test({
  name: "blas: a GEMM is bit-identical when repeated with the same thread count",
  ignore,
  fn() {
    const [m, n, k] = [300, 200, 517];
    const a = new Float32Array(m * k).map((_, i) => Math.sin(i));
    const b = new Float32Array(k * n).map((_, i) => Math.cos(1.3 * i));
    for (const threads of [1, 2]) {
      loadBlas(threads);
      const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
      lib!.sgemm(false, true, m, n, k, a, 0, b, 0, c1, 0);
      lib!.sgemm(false, true, m, n, k, a, 0, b, 0, c2, 0);
      assert.deepEqual(c1, c2, `${threads} thread(s)`);
    }
    loadBlas(1);
  },
});

Deno.test({
  name: "blas matMul (transposes, batches, broadcast batch, k = 0) matches cpu",
  ignore,
  async fn() {
    const a = rng.randn([5, 7]), b = rng.randn([7, 3]), bt = rng.randn([3, 7]);
    const at = rng.randn([7, 5]), dy = rng.randn([5, 3]);
    const a3 = rng.randn([2, 5, 7]), b3t = rng.randn([2, 3, 7]), b1 = rng.randn([1, 7, 4]);
    const e1 = tf.zeros([4, 0]), e2 = tf.zeros([0, 6]);
    await compare("matMul", () => [
      tf.matMul(a, b),
      tf.matMul(at, b, true, false),
      tf.matMul(a, bt, false, true),
      tf.matMul(at, bt, true, true),
      tf.matMul(a3, b3t, false, true),
      tf.matMul(a3, b1),
      tf.matMul(e1, e2),
      ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q), dy)))([a, b]),
    ]);
    tf.dispose([a, b, bt, at, dy, a3, b3t, b1, e1, e2]);
  },
});

Deno.test({
  name: "blas conv2d forward, input and filter gradients match cpu (also batch-chunked)",
  ignore,
  async fn() {
    for (const limit of [Infinity, 200]) {
      // A cap of 200 floats forces one image per GEMM: the chunk loop and beta accumulation.
      const old = setScratchLimit(limit === Infinity ? 64 * 1024 * 1024 : limit);
      try {
        for (const c of CONV_CASES) {
          const x = rng.randn([c.batch, c.h, c.w, c.ci]) as tf.Tensor4D;
          const w = rng.randn([c.k, c.k, c.ci, c.co]) as tf.Tensor4D;
          const pad = c.pad as "same";
          const dy = rng.randn(tf.conv2d(x, w, c.s, pad).shape);
          await compare(`conv ${convLabel(c)} cap ${limit}`, () => {
            const f = (p: tf.Tensor, q: tf.Tensor) =>
              tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, c.s, pad);
            return [
              f(x, w),
              ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(p, q), dy)))([x, w]),
            ];
          });
          tf.dispose([x, w, dy]);
        }
      } finally {
        setScratchLimit(old);
      }
    }
  },
});

Deno.test({
  name: "blas conv2dTranspose (DCGAN generator layer) forward and gradients match cpu",
  ignore,
  async fn() {
    const z = rng.randn([3, 4, 4, 5]) as tf.Tensor4D;
    const w = rng.randn([4, 4, 3, 5]) as tf.Tensor4D;
    const outShape: [number, number, number, number] = [3, 8, 8, 3];
    const dy = rng.randn(outShape);
    await compare("conv2dTranspose", () => {
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, outShape, 2, "same");
      return [
        f(z, w),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy)))([z, w]),
      ];
    });
    tf.dispose([z, w, dy]);
  },
});

Deno.test({
  name: "blas kernels free all their intermediates",
  ignore,
  async fn() {
    await tf.setBackend("wasm");
    setBlas(lib);
    try {
      const be = tf.backend();
      const x = rng.randn([2, 9, 7, 3]) as tf.Tensor4D;
      const w = rng.randn([4, 4, 3, 5]) as tf.Tensor4D;
      const a = rng.randn([4, 3]);
      const before = be.numDataIds();
      tf.tidy(() => {
        tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, "same")))
        )([x, w]);
        tf.matMul(a, a, true, false);
      });
      assert.equal(be.numDataIds(), before);
      tf.dispose([x, w, a]);
    } finally {
      setBlas(null);
      await tf.setBackend("cpu");
    }
  },
});

Deno.test({
  name: "selectBackend('blas') names the library and its threads; 'wasm' turns BLAS off again",
  ignore,
  async fn() {
    const choice = await selectBackend("blas", 2);
    assert.equal(choice.name, "blas");
    assert.equal(choice.threads, 2);
    assert.match(choice.device, /OpenBLAS|\//);
    assert.equal(tf.getBackend(), "wasm");
    // With BLAS on, the wasm GEMM differs from XNNPACK's in the last bits at most; after selecting
    // plain wasm again it must be XNNPACK's result exactly, i.e. BLAS is really off.
    const a = rng.randn([64, 300]), b = rng.randn([300, 50]);
    const viaBlas = tf.matMul(a, b).dataSync();
    await selectBackend("wasm", 1);
    const viaWasm = tf.matMul(a, b).dataSync();
    setBlas(lib);
    const again = tf.matMul(a, b).dataSync();
    setBlas(null);
    assert.deepEqual(again, viaBlas);
    assert.notDeepEqual(viaWasm, viaBlas);
    assert.ok(blasPath().length > 0);
    loadBlas(1);
    tf.dispose([a, b]);
    await tf.setBackend("cpu");
  },
});
