/**
 * Optimizers with PyTorch's exact update rules (the reference implementations are PyTorch, and
 * tfjs's Adam/RMSprop differ in where epsilon goes and in RMSprop's default decay). Their state is a
 * plain name → tensor map so it checkpoints with the model. On the webgpu backend each variable's
 * update is one fused kernel (lib/kernels/webgpu/optim.ts), on wasm one SIMD pass
 * (lib/kernels/simd_optim.ts).
 *
 * @module
 */
import { tf } from "./tf.ts";
// The fused updates (one dispatch per variable on webgpu, plain tf ops elsewhere); the module
// imports nothing from the webgpu package, so cpu/wasm runs do not load it.
import { fusedAdamStep, fusedRmspropStep } from "./kernels/webgpu/optim.ts";

/** Common optimizer interface: apply gradients for variables, expose state for checkpoints. */
export interface Optimizer {
  /** Applies one update; `grads` holds one gradient per variable, same order as `vars`. */
  step(vars: tf.Variable[], grads: tf.Tensor[]): void;
  /** Optimizer state (moments, step count) as named tensors; copies. */
  state(): Map<string, tf.Tensor>;
  /** Restores state saved by {@link Optimizer.state}. */
  loadState(state: Map<string, tf.Tensor>): void;
  /** Learning rate; mutable so schedules (CycleGAN's linear decay) can change it. */
  lr: number;
  /** Frees the state tensors. */
  dispose(): void;
}

/** Adam (Kingma & Ba 2015) exactly as torch.optim.Adam: eps added to √v̂ after bias correction. */
export class Adam implements Optimizer {
  #m: tf.Variable[] = [];
  #v: tf.Variable[] = [];
  #t = 0;

  /** Adam with learning rate `lr`; `beta1`, `beta2` and `eps` default to PyTorch's. */
  constructor(
    public lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {}

  step(vars: tf.Variable[], grads: tf.Tensor[]): void {
    if (this.#m.length === 0) {
      this.#m = vars.map((v) => tf.variable(tf.zerosLike(v), false));
      this.#v = vars.map((v) => tf.variable(tf.zerosLike(v), false));
    }
    this.#t++;
    const h = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, step: this.#t };
    vars.forEach((p, i) => fusedAdamStep(p, grads[i], this.#m[i], this.#v[i], h));
  }

  state(): Map<string, tf.Tensor> {
    const s = new Map<string, tf.Tensor>([["t", tf.scalar(this.#t)]]);
    this.#m.forEach((m, i) => s.set(`m/${i}`, tf.clone(m)));
    this.#v.forEach((v, i) => s.set(`v/${i}`, tf.clone(v)));
    return s;
  }

  loadState(state: Map<string, tf.Tensor>): void {
    this.dispose();
    this.#t = state.get("t")!.dataSync()[0];
    for (let i = 0; state.has(`m/${i}`); i++) {
      this.#m.push(tf.variable(state.get(`m/${i}`)!, false));
      this.#v.push(tf.variable(state.get(`v/${i}`)!, false));
    }
  }

  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
    this.#m = [];
    this.#v = [];
  }
}

/** RMSprop as torch.optim.RMSprop (alpha 0.99, eps 1e-8 outside the root) — WGAN's optimizer. */
export class RMSprop implements Optimizer {
  #sq: tf.Variable[] = [];

  /** RMSprop with learning rate `lr`, smoothing constant `alpha` and `eps` (PyTorch's defaults). */
  constructor(public lr: number, readonly alpha = 0.99, readonly eps = 1e-8) {}

  step(vars: tf.Variable[], grads: tf.Tensor[]): void {
    if (this.#sq.length === 0) this.#sq = vars.map((v) => tf.variable(tf.zerosLike(v), false));
    const h = { lr: this.lr, alpha: this.alpha, eps: this.eps };
    vars.forEach((p, i) => fusedRmspropStep(p, grads[i], this.#sq[i], h));
  }

  state(): Map<string, tf.Tensor> {
    const s = new Map<string, tf.Tensor>();
    this.#sq.forEach((v, i) => s.set(`sq/${i}`, tf.clone(v)));
    return s;
  }

  loadState(state: Map<string, tf.Tensor>): void {
    this.dispose();
    for (let i = 0; state.has(`sq/${i}`); i++) {
      this.#sq.push(tf.variable(state.get(`sq/${i}`)!, false));
    }
  }

  dispose(): void {
    for (const t of this.#sq) t.dispose();
    this.#sq = [];
  }
}

/**
 * Computes the loss and its gradients w.r.t. `vars`, applies `opt`, and returns the loss value.
 * Extra scalars returned by `f` (e.g. D(x) means) are read back too, in one sync.
 */
export function minimize(
  opt: Optimizer,
  vars: tf.Variable[],
  f: () => tf.Scalar,
): number {
  const { value, grads } = tf.variableGrads(f, vars);
  opt.step(vars, vars.map((v) => grads[v.name]));
  for (const g of Object.values(grads)) g.dispose();
  const out = value.dataSync()[0];
  value.dispose();
  return out;
}
