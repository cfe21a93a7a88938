import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { Adam, RMSprop } from "../lib/optim.ts";

await tf.setBackend("cpu");

/** torch.optim.Adam's update written out for one scalar. */
function refAdam(p: number, grads: number[], lr: number, b1: number, b2: number, eps: number) {
  let m = 0, v = 0;
  grads.forEach((g, i) => {
    const t = i + 1;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const mhat = m / (1 - b1 ** t), vhat = v / (1 - b2 ** t);
    p -= lr * mhat / (Math.sqrt(vhat) + eps);
  });
  return p;
}

Deno.test("Adam follows torch.optim.Adam's formula (eps outside the root, bias-corrected)", () => {
  const grads = [0.5, -1.5, 2.0, 1e-4];
  for (const eps of [1e-8, 0.1]) {
    const v = tf.variable(tf.scalar(1.0));
    const opt = new Adam(0.01, 0.5, 0.999, eps);
    for (const g of grads) opt.step([v], [tf.scalar(g)]);
    const want = refAdam(1.0, grads, 0.01, 0.5, 0.999, eps);
    assert.ok(Math.abs(v.dataSync()[0] - want) < 1e-6, `${v.dataSync()[0]} vs ${want}`);
  }
});

Deno.test("RMSprop follows torch.optim.RMSprop (alpha 0.99, eps outside the root)", () => {
  const v = tf.variable(tf.tensor1d([1, -2]));
  const opt = new RMSprop(5e-2);
  const gs = [[1, 2], [-3, 0.5], [0.1, 0.1]];
  for (const g of gs) opt.step([v], [tf.tensor1d(g)]);
  const want = [1, -2].map((p0, j) => {
    let p = p0, sq = 0;
    for (const g of gs) {
      sq = 0.99 * sq + 0.01 * g[j] * g[j];
      p -= 5e-2 * g[j] / (Math.sqrt(sq) + 1e-8);
    }
    return p;
  });
  const got = v.dataSync();
  want.forEach((w, j) => assert.ok(Math.abs(got[j] - w) < 1e-5, `${got[j]} vs ${w}`));
});

Deno.test("optimizer state round trip continues identically (resume)", () => {
  for (const make of [() => new Adam(0.1, 0.5), () => new RMSprop(0.1)]) {
    const a = tf.variable(tf.tensor1d([1, 2, 3])), b = tf.variable(tf.tensor1d([1, 2, 3]));
    const oa = make(), ob = make();
    const g1 = tf.tensor1d([0.3, -0.2, 1]), g2 = tf.tensor1d([-1, 0.5, 0.25]);
    oa.step([a], [g1]);
    ob.step([b], [g1]);
    const restored = make();
    restored.loadState(ob.state());
    oa.step([a], [g2]);
    restored.step([b], [g2]);
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  }
});
