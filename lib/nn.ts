/**
 * Minimal neural-network building blocks on tfjs-core, PyTorch-flavoured.
 *
 * Each layer owns named `tf.Variable`s and an `apply` method; a {@link Module} collects its layers'
 * variables under path names ("fc1/weight") used by checkpoints and optimizers. Initializers draw
 * from our seeded {@link Rng} rather than tfjs's initializers, so the same seed gives the same
 * weights on every backend (tfjs layer initializers have been reported to ignore `seed`, #7104).
 * Default initializations mirror PyTorch's, because the reference implementations are PyTorch.
 *
 * Tensors are NHWC (tfjs's native layout); conv weights are [kh, kw, in, out].
 *
 * @module
 */
import { tf } from "./tf.ts";
import { canFuseBatchNorm, fusedBatchNormTrain } from "./kernels/webgpu/batchnorm.ts";
import { Rng } from "./random.ts";

/** A trainable or buffer tensor of a module, with its path name. */
export interface NamedVariable {
  /** Path name, e.g. "fc1/weight": its key in checkpoints and optimizer state. */
  name: string;
  /** The variable itself. */
  variable: tf.Variable;
  /** False for buffers such as BatchNorm running statistics. */
  trainable: boolean;
}

/** Whether a forward pass is in training mode (batch-stat BatchNorm, active dropout). */
export interface ForwardOptions {
  /** True in training mode (batch-statistics BatchNorm, active dropout). */
  training: boolean;
  /** BatchNorm in training mode updates its running statistics unless this is false. */
  updateStats?: boolean;
  /** Source of dropout masks; required when training with dropout. */
  rng?: Rng;
}

/** Base class: registers variables and sub-layers under names. */
export class Module {
  #vars: NamedVariable[] = [];

  /** Registers a tensor as a variable under `name` (the tensor is kept, not copied). */
  protected param(name: string, value: tf.Tensor, trainable = true): tf.Variable {
    const variable = tf.variable(value, trainable);
    value.dispose();
    this.#vars.push({ name, variable, trainable });
    return variable;
  }

  /** Registers the variables of a child module under `prefix/`. */
  protected child<M extends Module>(prefix: string, m: M): M {
    for (const v of m.namedVariables()) this.#vars.push({ ...v, name: `${prefix}/${v.name}` });
    return m;
  }

  /** All variables (trainable parameters and buffers such as BatchNorm running stats). */
  namedVariables(): NamedVariable[] {
    return this.#vars;
  }

  /** Trainable variables only, in registration order. */
  trainableVariables(): tf.Variable[] {
    return this.#vars.filter((v) => v.trainable).map((v) => v.variable);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.trainableVariables().reduce((a, v) => a + v.size, 0);
  }

  /** Frees all variables. */
  dispose(): void {
    for (const v of this.#vars) v.variable.dispose();
  }
}

/** Initializer: fills a tensor of `shape` from `rng`. */
export type Init = (shape: number[], rng: Rng) => tf.Tensor;

/** N(mean, std²) initializer — DCGAN's N(0, 0.02). */
export function normalInit(std: number, mean = 0): Init {
  return (shape, rng) => rng.randn(shape, mean, std);
}

/** U(-bound, bound) initializer. */
export function uniformInit(bound: number): Init {
  return (shape, rng) => rng.rand(shape, -bound, bound);
}

/** Constant initializer. */
export function constantInit(value: number): Init {
  return (shape) => tf.fill(shape, value);
}

/**
 * PyTorch's default for Linear/Conv weights and biases: kaiming_uniform(a=√5) reduces to
 * U(±1/√fan_in), and the bias uses the same bound.
 */
export function torchDefaultInit(fanIn: number): Init {
  return uniformInit(1 / Math.sqrt(fanIn));
}

/** Options shared by the weight layers. */
export interface WeightInitOptions {
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Weight initializer (default {@link torchDefaultInit}, PyTorch's). */
  weightInit?: Init;
  /** Bias initializer (default {@link torchDefaultInit}, PyTorch's). */
  biasInit?: Init;
}

/** Fully connected layer y = xW + b (W is [in, out]). */
export class Linear extends Module {
  /** Weight W, [in, out]. */
  readonly weight: tf.Variable;
  /** Bias b, [out]; absent when `bias` is false. */
  readonly bias?: tf.Variable;

  /** A layer from `inFeatures` to `outFeatures`; `rng` draws the initial values. */
  constructor(rng: Rng, inFeatures: number, outFeatures: number, opts: WeightInitOptions = {}) {
    super();
    const def = torchDefaultInit(inFeatures);
    this.weight = this.param("weight", (opts.weightInit ?? def)([inFeatures, outFeatures], rng));
    if (opts.bias ?? true) {
      this.bias = this.param("bias", (opts.biasInit ?? def)([outFeatures], rng));
    }
  }

  /** xW + b for `x` of shape [B, in]; returns [B, out]. */
  apply(x: tf.Tensor): tf.Tensor2D {
    const y = tf.matMul(x as tf.Tensor2D, this.weight as tf.Tensor2D) as tf.Tensor2D;
    return this.bias ? tf.add(y, this.bias) as typeof y : y;
  }
}

/** Padding: tfjs's "same"/"valid", or PyTorch-style symmetric integer padding. */
export type Padding = "same" | "valid" | number;

/** 2-D convolution, NHWC, weight [k, k, in, out]. */
export class Conv2d extends Module {
  /** Weight, [k, k, in, out]. */
  readonly weight: tf.Variable;
  /** Bias, [out]; absent when `bias` is false. */
  readonly bias?: tf.Variable;

  /**
   * A `kernel`×`kernel` convolution from `inChannels` to `outChannels` channels (stride default 1,
   * padding default 0); `rng` draws the initial values.
   */
  constructor(
    rng: Rng,
    inChannels: number,
    outChannels: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly padding: Padding = 0,
    opts: WeightInitOptions = {},
  ) {
    super();
    const def = torchDefaultInit(inChannels * kernel * kernel);
    this.weight = this.param(
      "weight",
      (opts.weightInit ?? def)([kernel, kernel, inChannels, outChannels], rng),
    );
    if (opts.bias ?? true) {
      this.bias = this.param("bias", (opts.biasInit ?? def)([outChannels], rng));
    }
  }

  /** Convolves NHWC `x` (integer padding: that many zeros on each side of height and width). */
  apply(x: tf.Tensor): tf.Tensor4D {
    const pad = typeof this.padding === "number"
      ? [[0, 0], [this.padding, this.padding], [this.padding, this.padding], [0, 0]] as [
        [number, number],
        [number, number],
        [number, number],
        [number, number],
      ]
      : this.padding;
    const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, pad);
    return this.bias ? tf.add(y, this.bias) as typeof y : y;
  }
}

/**
 * Transposed convolution with PyTorch semantics: output size (in − 1)·stride − 2·padding + kernel.
 * Integer padding is done as a "valid" transposed conv followed by a crop, which is exactly what
 * PyTorch's `padding` means for ConvTranspose2d. Weight is [k, k, out, in] (tfjs's layout).
 */
export class ConvTranspose2d extends Module {
  /** Weight, [k, k, out, in] (tfjs's layout). */
  readonly weight: tf.Variable;
  /** Bias, [out]; absent when `bias` is false. */
  readonly bias?: tf.Variable;

  /**
   * A `kernel`×`kernel` transposed convolution from `inChannels` to `outChannels` channels (stride
   * default 1, padding default 0); `rng` draws the initial values, with PyTorch's fan_in of
   * out·k·k.
   */
  constructor(
    rng: Rng,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly padding: Padding = 0,
    opts: WeightInitOptions = {},
  ) {
    super();
    // PyTorch computes ConvTranspose fan_in from weight dim 1, i.e. out_channels·k·k.
    const def = torchDefaultInit(outChannels * kernel * kernel);
    this.weight = this.param(
      "weight",
      (opts.weightInit ?? def)([kernel, kernel, outChannels, inChannels], rng),
    );
    if (opts.bias ?? true) {
      this.bias = this.param("bias", (opts.biasInit ?? def)([outChannels], rng));
    }
  }

  /** Upsamples NHWC `x`: (in − 1)·stride − 2·padding + kernel per side ("same": in·stride). */
  apply(x: tf.Tensor): tf.Tensor4D {
    const [b, h, w] = x.shape;
    const k = this.kernel, s = this.stride;
    let y: tf.Tensor4D;
    // PyTorch padding p with 2p = k − s is exactly tfjs's "same" (output in·s), without the crop.
    if (
      this.padding === "same" || (typeof this.padding === "number" && 2 * this.padding === k - s)
    ) {
      y = tf.conv2dTranspose(
        x as tf.Tensor4D,
        this.weight as tf.Tensor4D,
        [b, h * s, w * s, this.outChannels],
        s,
        "same",
      );
    } else {
      const p = this.padding === "valid" ? 0 : this.padding;
      const fullH = (h - 1) * s + k, fullW = (w - 1) * s + k;
      y = tf.conv2dTranspose(
        x as tf.Tensor4D,
        this.weight as tf.Tensor4D,
        [b, fullH, fullW, this.outChannels],
        s,
        "valid",
      );
      if (p > 0) y = tf.slice(y, [0, p, p, 0], [b, fullH - 2 * p, fullW - 2 * p, this.outChannels]);
    }
    return this.bias ? tf.add(y, this.bias) as typeof y : y;
  }
}

/** Options of {@link BatchNorm}. PyTorch defaults: eps 1e-5, momentum 0.1, affine. */
export interface BatchNormOptions {
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
  /** Weight of the batch statistics in the running averages (default 0.1). */
  momentum?: number;
  /** Scale initializer (default constant 1). */
  gammaInit?: Init;
  /** Shift initializer (default constant 0). */
  betaInit?: Init;
}

/**
 * Batch normalization over all axes but the last (BatchNorm1d on [B, F], BatchNorm2d on NHWC).
 * Training mode normalizes with the biased batch variance and updates running stats with the
 * unbiased one, as PyTorch does.
 */
export class BatchNorm extends Module {
  /** Learned scale γ, [features]. */
  readonly gamma: tf.Variable;
  /** Learned shift β, [features]. */
  readonly beta: tf.Variable;
  /** Running mean, [features]; a buffer (not trained), used in eval mode. */
  readonly runningMean: tf.Variable;
  /** Running unbiased variance, [features]; a buffer (not trained), used in eval mode. */
  readonly runningVar: tf.Variable;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of the batch statistics in the running averages. */
  readonly momentum: number;

  /** A layer over `features` channels (the last axis); `rng` feeds the initializers. */
  constructor(rng: Rng, features: number, opts: BatchNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.gamma = this.param("gamma", (opts.gammaInit ?? constantInit(1))([features], rng));
    this.beta = this.param("beta", (opts.betaInit ?? constantInit(0))([features], rng));
    this.runningMean = this.param("running_mean", tf.zeros([features]), false);
    this.runningVar = this.param("running_var", tf.ones([features]), false);
  }

  /**
   * Normalizes with batch statistics in training mode (updating the running ones unless
   * `opts.updateStats` is false), with the running statistics otherwise.
   */
  apply(x: tf.Tensor, opts: ForwardOptions): tf.Tensor {
    if (!opts.training) return this.normalize(x, this.runningMean, this.runningVar);
    // On WebGPU: four fused dispatches instead of ~35 ops (lib/kernels/webgpu/batchnorm.ts).
    const fused = canFuseBatchNorm(x)
      ? fusedBatchNormTrain(x, this.gamma, this.beta, this.eps)
      : null;
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = fused ?? tf.moments(x, axes);
    if (opts.updateStats ?? true) {
      const n = x.size / x.shape[x.shape.length - 1];
      tf.tidy(() => {
        // Not part of the loss, so no gradient reaches the running stats.
        const m = this.momentum;
        const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
        this.runningMean.assign(
          tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)),
        );
        this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(unbiased, m)));
      });
    }
    if (fused) {
      tf.dispose([fused.mean, fused.variance]);
      return fused.y;
    }
    return this.normalize(x, mean, variance);
  }

  /**
   * (x − mean)·γ/√(var + eps) + β with broadcasting elementwise ops rather than tf.batchNorm:
   * same values, but its gradient is plain sums, while tf.batchNorm's gradient tiles tensors and
   * the wasm backend's Tile is slow (a quarter of a DCGAN G backward pass).
   */
  private normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor): tf.Tensor {
    const scale = tf.mul(tf.rsqrt(tf.add(variance, this.eps)), this.gamma);
    return tf.add(tf.mul(tf.sub(x, mean), scale), this.beta);
  }
}

/** Embedding table, N(0, 1) init as in PyTorch. Lookup is a gather (its gradient is a scatter). */
export class Embedding extends Module {
  /** The table, [count, dim]. */
  readonly weight: tf.Variable;

  /** A table of `count` vectors of length `dim`, drawn N(0, 1) from `rng`. */
  constructor(rng: Rng, count: number, dim: number) {
    super();
    this.weight = this.param("weight", rng.randn([count, dim]));
  }

  /** The table's rows at `indices` (cast to int32). */
  apply(indices: tf.Tensor): tf.Tensor2D {
    return tf.gather(this.weight, tf.cast(indices, "int32")) as tf.Tensor2D;
  }
}

/** Inverted dropout (scaled by 1/(1−p) in training) with masks from our seeded Rng. */
export function dropout(x: tf.Tensor, p: number, opts: ForwardOptions): tf.Tensor {
  if (!opts.training || p === 0) return x;
  if (!opts.rng) throw new Error("dropout in training mode needs opts.rng");
  const keep = new Float32Array(x.size);
  for (let i = 0; i < keep.length; i++) keep[i] = opts.rng.uniform() >= p ? 1 / (1 - p) : 0;
  return tf.mul(x, tf.tensor(keep, x.shape));
}

/** LeakyReLU with the given negative slope (0.2 throughout the GAN literature). */
export function leakyRelu(x: tf.Tensor, slope = 0.2): tf.Tensor {
  return tf.leakyRelu(x, slope);
}

/** Reads every variable of `m` into a plain name → tensor map (copies). */
export function stateDict(m: Module, prefix = ""): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const v of m.namedVariables()) out.set(prefix + v.name, tf.clone(v.variable));
  return out;
}

/** Assigns tensors from a name → tensor map into `m`'s variables; every variable must be present. */
export function loadStateDict(m: Module, state: Map<string, tf.Tensor>, prefix = ""): void {
  for (const v of m.namedVariables()) {
    const t = state.get(prefix + v.name);
    if (!t) throw new Error(`checkpoint is missing ${prefix + v.name}`);
    if (t.shape.join() !== v.variable.shape.join()) {
      throw new Error(
        `checkpoint ${prefix + v.name} has shape [${t.shape}], model expects [${v.variable.shape}]`,
      );
    }
    v.variable.assign(t);
  }
}
