/**
 * The one place the suite imports TensorFlow.js from.
 *
 * Models are written directly against tfjs-core ops (no tfjs-layers) so each paper script shows its
 * whole algorithm. The `@tensorflow/tfjs` umbrella is imported only for its side effects: the
 * gradient registry and the cpu backend. Its WebGL backend cannot run under Deno (no canvas), so it
 * is removed before anything can pick it.
 *
 * @module
 */
/** The tfjs-core namespace, with the umbrella package's gradients and cpu backend registered. */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core's Node entry registers no gradients (its ESM register_all_gradients cannot load under
// Deno: extensionless imports); the umbrella package's Node bundle registers them all, globally.
import "@tensorflow/tfjs";

if (tf.findBackendFactory("webgl")) tf.removeBackend("webgl");

export { tf };
/** tfjs version string, recorded in every run manifest. */
export const TFJS_VERSION: string = tf.version_core;

// Production mode: no debug checks, and no tfjs console warnings (the cpu backend otherwise
// advertises tfjs-node on first use; our backend choice is explained by lib/backend.ts instead).
tf.enableProdMode();

/**
 * Gradients that stay correct under differentiation, for the penalties that differentiate a
 * gradient (WGAN-GP, R1, path length). In tfjs 4.22 the stock gradients of Tanh, Sigmoid, Exp and
 * Elu reuse the op's saved *output*, which gives silently wrong second derivatives (measured
 * against finite differences), and LeakyRelu's builds `where(greater(x, 0), …)`, which throws
 * "gradient function not found for Greater" when differentiated again. These versions save the
 * input and recompute from it with ops whose own gradients are sound; first derivatives are
 * unchanged. Checked in test/gradients_test.ts.
 */
function registerHigherOrderGradients(): void {
  const one = (dy: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor) => (saved: tf.Tensor[]) => ({
    x: () => tf.mul(dy, f(saved[0])),
  });
  const grads: Record<string, (x: tf.Tensor, attrs: tf.NamedAttrMap) => tf.Tensor> = {
    Tanh: (x) => tf.sub(1, tf.square(tf.tanh(x))),
    Sigmoid: (x) => {
      const s = tf.sigmoid(x);
      return tf.mul(s, tf.sub(1, s));
    },
    Exp: (x) => tf.exp(x),
    // exp(min(x, 0)) written with relu so no comparison op enters the tape.
    Elu: (x) => {
      const pos = tf.step(x);
      return tf.add(pos, tf.mul(tf.sub(1, pos), tf.exp(tf.neg(tf.relu(tf.neg(x))))));
    },
    LeakyRelu: (x, attrs) => {
      const alpha = (attrs as { alpha: number }).alpha;
      return tf.add(alpha, tf.mul(1 - alpha, tf.step(x)));
    },
  };
  for (const [kernelName, derivative] of Object.entries(grads)) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ["x"],
      gradFunc: (dy, saved, attrs) =>
        one(dy as tf.Tensor, (x) => derivative(x, attrs))(saved as tf.Tensor[]),
    });
  }
}
registerHigherOrderGradients();

/**
 * A correct MirrorPad gradient: tfjs 4.22's returns only the centre of dy and drops what the
 * reflected borders contribute (so every reflection-padded conv, as in CycleGAN's generator, would
 * train on wrong gradients). Here each padded axis folds its borders back onto the source rows they
 * copy: "reflect" rows 1…b and n−1−a…n−2, "symmetric" rows 0…b−1 and n−a…n−1. Checked against
 * finite differences in test/gradients_test.ts.
 */
function registerMirrorPadGradient(): void {
  tf.registerGradient({
    kernelName: "MirrorPad",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const x = (saved as tf.Tensor[])[0];
      const { paddings, mode } = attrs as unknown as {
        paddings: [number, number][];
        mode: "reflect" | "symmetric";
      };
      const off = mode === "reflect" ? 1 : 0;
      return {
        x: () => {
          let g = dy as tf.Tensor;
          paddings.forEach(([b, a], axis) => {
            if (b === 0 && a === 0) return;
            const n = x.shape[axis];
            const part = (start: number, len: number) => {
              const begin = g.shape.map(() => 0), size = g.shape.map(() => -1);
              begin[axis] = start;
              size[axis] = len;
              return tf.slice(g, begin, size);
            };
            const at = (before: number, after: number) =>
              g.shape.map((_, i) => (i === axis ? [before, after] : [0, 0]) as [number, number]);
            let out = part(b, n);
            if (b > 0) {
              out = tf.add(out, tf.pad(tf.reverse(part(0, b), axis), at(off, n - b - off)));
            }
            if (a > 0) {
              out = tf.add(out, tf.pad(tf.reverse(part(b + n, a), axis), at(n - a - off, off)));
            }
            g = out;
          });
          return g;
        },
      };
    },
  });
}
registerMirrorPadGradient();
