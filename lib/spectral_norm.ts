/**
 * Spectral normalization (Miyato et al., "Spectral Normalization for Generative Adversarial
 * Networks", ICLR 2018): a layer wrapper that uses W̄ = W / σ(W) in place of its weight, where σ(W)
 * is the largest singular value of W, so every wrapped layer is 1-Lipschitz (Section 2.1).
 *
 * σ is estimated by power iteration (the paper's Algorithm 1), one step per training-mode forward
 * pass, warm-started from the previous step's vectors — as the authors' Chainer code and PyTorch's
 * `torch.nn.utils.spectral_norm` do:
 *
 *   ṽ ← Mᵀũ / ‖Mᵀũ‖,   ũ ← Mṽ / ‖Mṽ‖,   σ(W) ≈ ũᵀ M ṽ
 *
 * with M the weight as a [d_out, d_in] matrix; a conv weight is reshaped to [d_out, d_in·k·k]
 * (Appendix, "spectral normalization of convolutional layers"). Our weights are stored as
 * [d_in, d_out] (Linear) and [k, k, d_in, d_out] (Conv2d), i.e. `reshape(W, [-1, d_out])` is Mᵀ
 * with its columns permuted, which has the same singular values; so ũ ∈ R^{d_out} and
 * ṽ ∈ R^{d_in·k·k} as in the paper.
 *
 * ũ and ṽ are non-trainable variables (PyTorch's `weight_u`/`weight_v` buffers): they are saved in
 * checkpoints, so a resumed run continues the same power iteration. The gradient treats them as
 * constants (Algorithm 1 differentiates W/σ with ũ, ṽ fixed): the new vectors are assigned to the
 * variables and σ is computed from copies of those variables, which the tape sees as leaves.
 * Inference-mode forward passes (and `updateStats: false`) use the stored vectors without updating
 * them, like PyTorch in `eval()`.
 *
 * @module
 */
import { tf } from "./tf.ts";
import type { Rng } from "./random.ts";
import { Conv2d, type ForwardOptions, Linear, Module } from "./nn.ts";

/** The layers that can be wrapped: the discriminator layers of SNGAN. */
export type SpectralNormLayer = Linear | Conv2d;

/** Options of {@link SpectralNorm}. */
export interface SpectralNormOptions {
  /** Added to norms before dividing, as PyTorch's `normalize(eps=1e-12)`. */
  eps?: number;
}

/** x / max(‖x‖₂, eps) for a vector. */
function normalize(x: tf.Tensor, eps: number): tf.Tensor {
  return tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x))), eps));
}

/**
 * Wraps a {@link Linear} or {@link Conv2d} layer so that its forward pass uses W / σ(W).
 *
 * Variable names: the layer's own under `layer/` (`layer/weight`, `layer/bias`) and the power
 * iteration vectors `u` [d_out] and `v` [d_in·k·k].
 */
export class SpectralNorm<L extends SpectralNormLayer> extends Module {
  /** The wrapped layer; its `weight` variable is the unnormalized W the optimizer trains. */
  readonly layer: L;
  /** Left singular vector estimate ũ ∈ R^{d_out} (non-trainable, checkpointed). */
  readonly u: tf.Variable;
  /** Right singular vector estimate ṽ ∈ R^{d_in·k·k} (non-trainable, checkpointed). */
  readonly v: tf.Variable;
  /** Added to norms before dividing (default 1e-12, as PyTorch). */
  readonly eps: number;

  /** `rng` draws the initial ũ ~ N(0, I), normalized (as PyTorch); ṽ starts at Mᵀũ/‖Mᵀũ‖. */
  constructor(rng: Rng, layer: L, opts: SpectralNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-12;
    this.layer = this.child("layer", layer);
    const out = layer.weight.shape[layer.weight.shape.length - 1];
    const u0 = rng.randn([out]);
    const u = tf.tidy(() => normalize(u0, this.eps));
    const v = tf.tidy(() => normalize(tf.matMul(this.matrixT(), tf.reshape(u, [-1, 1])), this.eps));
    u0.dispose();
    this.u = this.param("u", u, false);
    this.v = this.param("v", tf.reshape(v, [-1]), false);
    v.dispose();
  }

  /** Mᵀ: the weight as a [d_in·k·k, d_out] matrix (a view of the variable, so W's gradient flows). */
  matrixT(): tf.Tensor2D {
    const w = this.layer.weight;
    return tf.reshape(w, [-1, w.shape[w.shape.length - 1]]);
  }

  /** One power-iteration step: updates ũ and ṽ in place. Nothing here is differentiated. */
  powerIteration(): void {
    tf.tidy(() => {
      const mT = this.matrixT();
      const v = normalize(tf.matMul(mT, tf.reshape(this.u, [-1, 1])), this.eps); // Mᵀũ
      const u = normalize(tf.matMul(tf.reshape(v, [1, -1]), mT), this.eps); // (Mṽ)ᵀ = ṽᵀMᵀ
      this.v.assign(tf.reshape(v, [-1]));
      this.u.assign(tf.reshape(u, [-1]));
    });
  }

  /**
   * σ(W) ≈ ũᵀ M ṽ = ṽᵀ Mᵀ ũ from the stored vectors, as a scalar that is differentiable in W
   * (ũ, ṽ enter as constants: copies, so a later power step cannot change what the tape saved).
   */
  sigma(): tf.Scalar {
    const u = tf.reshape(tf.clone(this.u), [-1, 1]);
    const v = tf.reshape(tf.clone(this.v), [1, -1]);
    return tf.reshape(tf.matMul(tf.matMul(v, this.matrixT()), u), []) as tf.Scalar;
  }

  /**
   * W / σ(W) in the layer's weight shape. In training mode (unless `updateStats` is false) one
   * power-iteration step runs first, as in the paper's Algorithm 1.
   */
  normalizedWeight(opts: ForwardOptions): tf.Tensor {
    if (opts.training && (opts.updateStats ?? true)) this.powerIteration();
    return tf.div(this.layer.weight, this.sigma());
  }

  /** The wrapped layer's forward pass with W̄ = W / σ(W) in place of W. */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    const w = this.normalizedWeight(opts);
    const l = this.layer;
    let y: tf.Tensor;
    if (l instanceof Linear) {
      y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
    } else {
      const p = l.padding;
      const pad = typeof p === "number"
        ? [[0, 0], [p, p], [p, p], [0, 0]] as [
          [number, number],
          [number, number],
          [number, number],
          [number, number],
        ]
        : p;
      y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, l.stride, pad);
    }
    return l.bias ? tf.add(y, l.bias) : y;
  }
}
