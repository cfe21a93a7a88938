/**
 * Second-order gradients (a gradient differentiated again, as WGAN-GP, R1 and path-length
 * regularization do) checked against central finite differences, for the activations whose stock
 * tfjs 4.22 gradients are wrong or throw at second order (fixed in lib/tf.ts).
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";

const ACTS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  tanh: tf.tanh,
  sigmoid: tf.sigmoid,
  exp: tf.exp,
  elu: tf.elu,
  leakyRelu: (x) => tf.leakyRelu(x, 0.2),
  relu: tf.relu,
};

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`second-order gradients match finite differences on ${backend}`, async () => {
    if (backend === "wasm") await import("@tensorflow/tfjs-backend-wasm");
    await tf.setBackend(backend);
    const x = tf.tensor1d([0.3, -0.7, 1.1, -0.2]);
    for (const [name, act] of Object.entries(ACTS)) {
      // g(w) = ‖∂/∂x Σ act(w·x)‖²: its derivative in w needs act's second derivative.
      const g = (w: tf.Tensor) =>
        tf.sum(tf.square(tf.grad((xx: tf.Tensor) => tf.sum(act(tf.mul(xx, w))))(x))) as tf.Scalar;
      const w0 = 0.8, h = 1e-2;
      const analytic = tf.grad(g)(tf.scalar(w0)).dataSync()[0];
      const fd = (g(tf.scalar(w0 + h)).dataSync()[0] - g(tf.scalar(w0 - h)).dataSync()[0]) /
        (2 * h);
      assert.ok(
        Math.abs(analytic - fd) < 2e-3 * (1 + Math.abs(fd)),
        `${name} on ${backend}: analytic ${analytic} vs finite difference ${fd}`,
      );
    }
  });
}

Deno.test("first derivatives of the replaced gradients are the textbook ones", async () => {
  await tf.setBackend("cpu");
  const xs = [-1.5, -0.2, 0.4, 2];
  const grad = (f: (x: tf.Tensor) => tf.Tensor) =>
    Array.from(tf.grad((x: tf.Tensor) => tf.sum(f(x)))(tf.tensor1d(xs)).dataSync());
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const expect: [string, (x: tf.Tensor) => tf.Tensor, (v: number) => number][] = [
    ["tanh", tf.tanh, (v) => 1 - Math.tanh(v) ** 2],
    ["sigmoid", tf.sigmoid, (v) => sig(v) * (1 - sig(v))],
    ["exp", tf.exp, Math.exp],
    ["elu", tf.elu, (v) => (v > 0 ? 1 : Math.exp(v))],
    ["leakyRelu", (x) => tf.leakyRelu(x, 0.2), (v) => (v > 0 ? 1 : 0.2)],
  ];
  for (const [name, f, d] of expect) {
    grad(f).forEach((g, i) => assert.ok(Math.abs(g - d(xs[i])) < 1e-5, `${name}(${xs[i]}): ${g}`));
  }
});

Deno.test("MirrorPad gradient: reflect and symmetric borders fold back (exact for a linear loss)", async () => {
  await tf.setBackend("cpu");
  // The example that exposed the stock gradient: [1, 2, 3, 7, 3] padded by 2 each side, reflect.
  // d/dx Σ w·pad(x): each source element collects the weights of every copy of it.
  const cases: { shape: number[]; pads: [number, number][]; mode: "reflect" | "symmetric" }[] = [
    { shape: [5], pads: [[2, 2]], mode: "reflect" },
    { shape: [5], pads: [[3, 1]], mode: "symmetric" },
    { shape: [2, 4, 5, 3], pads: [[0, 0], [3, 2], [1, 3], [0, 0]], mode: "reflect" },
    { shape: [1, 3, 3, 2], pads: [[0, 0], [2, 3], [3, 0], [0, 0]], mode: "symmetric" },
  ];
  let seed = 1;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  for (const c of cases) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(Array.from({ length: n }, rand), c.shape);
    const paddedShape = c.shape.map((s, i) => s + c.pads[i][0] + c.pads[i][1]);
    const w = tf.tensor(
      Array.from({ length: paddedShape.reduce((a, b) => a * b, 1) }, rand),
      paddedShape,
    );
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.mirrorPad(t, c.pads, c.mode), w)) as tf.Scalar;
    const got = await tf.grad(f)(x).data();
    // Reference: the weight of every padded position whose source is element i (index maps
    // written out per axis from the definition of the padding).
    const src = (j: number, len: number, [b]: [number, number]) => {
      const k = j - b;
      if (k < 0) return c.mode === "reflect" ? -k : -k - 1;
      if (k >= len) return c.mode === "reflect" ? 2 * len - 2 - k : 2 * len - 1 - k;
      return k;
    };
    const wv = await w.data();
    const want = new Float64Array(n);
    const strides = (shape: number[]) =>
      shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const ps = strides(paddedShape), xs = strides(c.shape);
    for (let p = 0; p < wv.length; p++) {
      let i = 0;
      paddedShape.forEach((_, d) => {
        const j = Math.floor(p / ps[d]) % paddedShape[d];
        i += src(j, c.shape[d], c.pads[d]) * xs[d];
      });
      want[i] += wv[p];
    }
    want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-5, `${JSON.stringify(c)} [${i}]`));
    tf.dispose([x, w]);
  }
});
