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
