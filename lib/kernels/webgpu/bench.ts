/**
 * Benchmark of our webgpu kernels against the stock tfjs-backend-webgpu ones, and of a full DCGAN
 * 64×64 training step.
 *
 *     deno run --allow-read --allow-env lib/kernels/webgpu/bench.ts
 *         [--batch N] [--step-batch 64,256] [--reps 3] [--only kernels,steps] [--torch FILE]
 *
 * Prints one JSON object per line:
 * - `{kind:"device", adapter, fallback}` first;
 * - `{kind:"kernel", backend:"webgpu", kernel, variant, shape, gflops, ms}` for Conv2D,
 *   Conv2DBackpropInput and Conv2DBackpropFilter on the DCGAN 64×64 layer shapes (k4 s2 p1,
 *   channels 3→64→128→256→512, then the k4 valid 512→1 head) and MatMul 512³ in three transpose
 *   modes, `variant` "stock" or "ours";
 * - `{kind:"step", backend:"webgpu", variant, model, batch, stepsPerSec, imgPerSec,
 *   gflopsEffective, msPerStep, kernelsPerStep, dispatchesPerStep, usPerDispatch}` for a D+G step
 *   (forward, backward, Adam on both nets) with the stock kernels and op-by-op Adam, with our
 *   kernels, and with ours plus lib/optim's fused Adam and the fused batch norm — per batch of `--step-batch`. With
 *   `--torch FILE` (the output of ../shared/anchors/torch_dcgan_bench.py for the same batches, run
 *   in the same command on the same GPU) each step record also has `torchImgPerSec` and
 *   `ratioToTorch`; then `{kind:"ops", kernelsByName}`: which tfjs kernels one step runs. On a lent GPU, with a kit from ../shared/gpu/prepare.sh:
 *
 *       for b in 64 256; do python3 torch_dcgan_bench.py $b; done > torch.txt &&
 *         bash .gpu/run.sh bench.js --torch torch.txt
 *
 * Times are per call, from `reps` calls queued back to back after a warm-up (which compiles the
 * shaders) and one read-back at the end. Defaults: batch 64 on a hardware adapter; batch 8 for
 * kernels and 2 for steps on a software one (Mesa llvmpipe runs shaders on the CPU: its numbers
 * compare stock with ours on this machine and say nothing about a GPU). FLOPs are analytic, 2·MACs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../../tf.ts";
import { Rng } from "../../random.ts";
import { Adam } from "../../optim.ts";
import { registerWebgpuKernels, unregisterWebgpuKernels } from "./mod.ts";
import { adamStepOps } from "./optim.ts";
import { countOps } from "../opcount.ts";
import { fusedBatchNormTrain } from "./batchnorm.ts";

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

/** A conv layer of the DCGAN 64×64 discriminator (the generator runs the same ones transposed). */
interface Layer {
  name: string;
  /** Input height/width and channels, output channels. */
  hw: number;
  ci: number;
  co: number;
  stride: number;
  pad: number | "valid";
}

const LAYERS: Layer[] = [
  { name: "conv1", hw: 64, ci: 3, co: 64, stride: 2, pad: 1 },
  { name: "conv2", hw: 32, ci: 64, co: 128, stride: 2, pad: 1 },
  { name: "conv3", hw: 16, ci: 128, co: 256, stride: 2, pad: 1 },
  { name: "conv4", hw: 8, ci: 256, co: 512, stride: 2, pad: 1 },
  { name: "head", hw: 4, ci: 512, co: 1, stride: 1, pad: "valid" },
];

const outHW = (l: Layer) => l.pad === "valid" ? (l.hw - 4) / l.stride + 1 : l.hw / l.stride;
/** 2·MACs of the layer's forward conv for a batch (each gradient costs the same). */
const layerFlops = (l: Layer, b: number) => 2 * b * outHW(l) ** 2 * l.co * 16 * l.ci;

/** Milliseconds per call of `f`, from `reps` calls after one warm-up, synchronized by a read. */
async function timeMs(f: () => tf.Tensor, reps: number): Promise<number> {
  const warm = f();
  await warm.data();
  warm.dispose();
  const t0 = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < reps; i++) {
    last?.dispose();
    last = f();
  }
  await last!.data();
  last!.dispose();
  return (performance.now() - t0) / reps;
}

/** Runs `body` once with the stock kernels and once with ours, in that order. */
async function bothVariants(body: (variant: string) => Promise<void>): Promise<void> {
  unregisterWebgpuKernels();
  await body("stock");
  registerWebgpuKernels();
  await body("ours");
}

async function benchKernels(batch: number, reps: number): Promise<void> {
  const rng = new Rng(1, "bench-webgpu");
  for (const l of LAYERS) {
    const o = outHW(l);
    const x = rng.randn([batch, l.hw, l.hw, l.ci]), w = rng.randn([4, 4, l.ci, l.co]);
    const dy = rng.randn([batch, o, o, l.co]);
    const attrs = { strides: l.stride, pad: l.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
    const calls: [string, tf.NamedTensorMap, Record<string, unknown>][] = [
      ["Conv2D", { x, filter: w }, { dilations: 1 }],
      ["Conv2DBackpropInput", { dy, filter: w }, { inputShape: x.shape }],
      ["Conv2DBackpropFilter", { x, dy }, { filterShape: w.shape }],
    ];
    const flops = layerFlops(l, batch);
    const shape = { layer: l.name, x: x.shape, filter: w.shape, stride: l.stride, pad: l.pad };
    for (const [kernel, inputs, extra] of calls) {
      const run = () =>
        tf.engine().runKernel(kernel, inputs, {
          ...attrs,
          ...extra,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
      await bothVariants(async (variant) => {
        const ms = await timeMs(run, reps);
        emit({
          kind: "kernel",
          backend: "webgpu",
          kernel,
          variant,
          shape,
          gflops: flops / ms / 1e6,
          ms,
        });
      });
    }
    tf.dispose([x, w, dy]);
  }
  const n = 512;
  for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
    const a = rng.randn([n, n]), b = rng.randn([n, n]);
    await bothVariants(async (variant) => {
      const ms = await timeMs(() => tf.matMul(a, b, ta, tb), reps);
      const shape = { m: n, k: n, n, transposeA: ta, transposeB: tb };
      emit({
        kind: "kernel",
        backend: "webgpu",
        kernel: "MatMul",
        variant,
        shape,
        gflops: (2 * n ** 3) / ms / 1e6,
        ms,
      });
    });
    tf.dispose([a, b]);
  }
}

// ---------------------------------------------------------------------------------------------
// DCGAN 64×64 (Radford et al. 2016) in plain ops, for the step benchmark.

interface Net {
  vars: tf.Variable[];
  apply(x: tf.Tensor4D): tf.Tensor4D;
}

/** Whether {@link batchNorm} uses our fused kernels (lib/kernels/webgpu/batchnorm.ts). */
let fuseBatchNorm = false;

/** Training-mode batch norm over N, H, W with learned scale and offset. */
function batchNorm(x: tf.Tensor4D, gamma: tf.Variable, beta: tf.Variable): tf.Tensor4D {
  if (fuseBatchNorm) {
    const r = fusedBatchNormTrain(x, gamma, beta, 1e-5);
    tf.dispose([r.mean, r.variance]);
    return r.y as tf.Tensor4D;
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm4d(
    x,
    mean as tf.Tensor1D,
    variance as tf.Tensor1D,
    beta as tf.Tensor1D,
    gamma as tf.Tensor1D,
    1e-5,
  );
}

function makeNets(rng: Rng): { G: Net; D: Net } {
  const v = (shape: number[], std = 0.02) => tf.variable(rng.randn(shape, 0, std));
  const ones = (n: number) => tf.variable(tf.ones([n]));
  const zeros = (n: number) => tf.variable(tf.zeros([n]));
  const chans = [512, 256, 128, 64];
  // G: 1×1×100 → 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×3 (transposed convs).
  const gW = [v([4, 4, 512, 100]), v([4, 4, 256, 512]), v([4, 4, 128, 256]), v([4, 4, 64, 128])];
  const gOut = v([4, 4, 3, 64]);
  const gBn = chans.map((c) => [ones(c), zeros(c)] as const);
  const G: Net = {
    vars: [...gW, gOut, ...gBn.flat()],
    apply(z) {
      const b = z.shape[0];
      let h = z;
      gW.forEach((w, i) => {
        const size = 4 * 2 ** i;
        const y = tf.conv2dTranspose(
          h,
          w as tf.Tensor4D,
          [b, size, size, chans[i]],
          i ? 2 : 1,
          i ? 1 : "valid",
        );
        h = tf.relu(batchNorm(y, gBn[i][0], gBn[i][1]));
      });
      return tf.tanh(tf.conv2dTranspose(h, gOut as tf.Tensor4D, [b, 64, 64, 3], 2, 1));
    },
  };
  const dW = LAYERS.map((l) => v([4, 4, l.ci, l.co]));
  const dBn = LAYERS.slice(1, 4).map((l) => [ones(l.co), zeros(l.co)] as const);
  const D: Net = {
    vars: [...dW, ...dBn.flat()],
    apply(x) {
      let h = x;
      LAYERS.forEach((l, i) => {
        h = tf.conv2d(h, dW[i] as tf.Tensor4D, l.stride, l.pad);
        if (i > 0 && i < 4) h = batchNorm(h, dBn[i - 1][0], dBn[i - 1][1]);
        if (i < 4) h = tf.leakyRelu(h, 0.2);
      });
      return h;
    },
  };
  return { G, D };
}

/** Adam as separate tf ops (a dozen dispatches per variable): the baseline for the fused one. */
class OpsAdam {
  #m: tf.Variable[] = [];
  #v: tf.Variable[] = [];
  #t = 0;
  constructor(readonly lr: number, readonly beta1: number) {}
  step(vars: tf.Variable[], grads: tf.Tensor[]): void {
    if (this.#t++ === 0) {
      this.#m = vars.map((p) => tf.variable(tf.zerosLike(p), false));
      this.#v = vars.map((p) => tf.variable(tf.zerosLike(p), false));
    }
    const h = { lr: this.lr, beta1: this.beta1, beta2: 0.999, eps: 1e-8, step: this.#t };
    vars.forEach((p, i) => adamStepOps(p, grads[i], this.#m[i], this.#v[i], h));
  }
  dispose(): void {
    tf.dispose([...this.#m, ...this.#v]);
  }
}

/**
 * Milliseconds per D+G step (best of `steps` after a warm-up step), and the tfjs kernels and GPU
 * dispatches of one more step.
 */
async function stepMs(
  batch: number,
  steps: number,
  fused: boolean,
): Promise<{ ms: number; kernels: number; dispatches: number; byKernel: Record<string, number> }> {
  fuseBatchNorm = fused;
  const rng = new Rng(3, "bench-webgpu-step");
  const { G, D } = makeNets(rng);
  // lib/optim's Adam is the fused one on webgpu.
  const optD = fused ? new Adam(2e-4, 0.5) : new OpsAdam(2e-4, 0.5);
  const optG = fused ? new Adam(2e-4, 0.5) : new OpsAdam(2e-4, 0.5);
  const real = rng.rand([batch, 64, 64, 3], -1, 1) as tf.Tensor4D;
  const bce = (logits: tf.Tensor, label: number) =>
    tf.mean(tf.softplus(label ? tf.neg(logits) : logits));
  const step = async () => {
    const z = rng.randn([batch, 1, 1, 100]) as tf.Tensor4D;
    const d = tf.variableGrads(
      () => tf.add(bce(D.apply(real), 1), bce(D.apply(tf.tidy(() => G.apply(z))), 0)) as tf.Scalar,
      D.vars,
    );
    optD.step(D.vars, D.vars.map((v) => d.grads[v.name]));
    const g = tf.variableGrads(() => bce(D.apply(G.apply(z)), 1) as tf.Scalar, G.vars);
    optG.step(G.vars, G.vars.map((v) => g.grads[v.name]));
    await g.value.data();
    tf.dispose([z, d.value, g.value, ...Object.values(d.grads), ...Object.values(g.grads)]);
  };
  await step();
  let best = Infinity;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    best = Math.min(best, performance.now() - t0);
  }
  const { kernels, dispatches, byKernel } = await countOps(step);
  tf.dispose([real, ...G.vars, ...D.vars]);
  optD.dispose();
  optG.dispose();
  return { ms: best, kernels, dispatches, byKernel };
}

/**
 * Reads the PyTorch anchor's output lines (`torch R=64 B=64 ms/step=12.4 img/s=5155`, from
 * ../shared/anchors/torch_dcgan_bench.py run in the same command): batch → img/s at 64×64.
 */
export function parseTorchAnchor(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split("\n")) {
    const m = line.match(/^torch R=(\d+) B=(\d+) ms\/step=[\d.]+ img\/s=([\d.]+)/);
    if (m && Number(m[1]) === 64) out.set(Number(m[2]), Number(m[3]));
  }
  return out;
}

/** Entry point; `args` as on the command line. */
export async function main(args: string[] = Deno.args): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      batch: { type: "string" },
      "step-batch": { type: "string" },
      reps: { type: "string", default: "3" },
      steps: { type: "string", default: "2" },
      only: { type: "string", default: "kernels,steps" },
      torch: { type: "string" },
    },
  });
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no WebGPU adapter");
  const software = adapter.info.isFallbackAdapter;
  emit({
    kind: "device",
    adapter: adapter.info.description || adapter.info.vendor,
    fallback: software,
  });
  const torch = values.torch ? parseTorchAnchor(await Deno.readTextFile(values.torch)) : null;
  await tf.setBackend("webgpu");
  const parts = new Set(values.only.split(","));
  const reps = Number(values.reps);
  if (parts.has("kernels")) await benchKernels(Number(values.batch ?? (software ? 8 : 64)), reps);
  if (!parts.has("steps")) return;
  const batches = (values["step-batch"] ?? (software ? "2" : "64,256")).split(",").map(Number);
  // Per image: D step = G fwd + D fwd+bwd on real and fake, G step = G and D fwd+bwd; a
  // backward pass costs two forwards. Each net's forward is the five layers' convs.
  const fwd = LAYERS.reduce((s, l) => s + layerFlops(l, 1), 0);
  for (const batch of batches) {
    const flops = batch * (4 * fwd + 9 * fwd);
    const variants: [string, boolean][] = [
      ["stock", false],
      ["ours", false],
      ["ours+fusedAdam+BN", true],
    ];
    for (const [variant, fused] of variants) {
      if (variant === "stock") unregisterWebgpuKernels();
      else registerWebgpuKernels();
      const { ms, kernels, dispatches, byKernel } = await stepMs(
        batch,
        Number(values.steps),
        fused,
      );
      const imgPerSec = (batch * 1000) / ms;
      const anchor = torch?.get(batch);
      emit({
        kind: "step",
        backend: "webgpu",
        variant,
        model: "dcgan64",
        batch,
        stepsPerSec: 1000 / ms,
        imgPerSec,
        gflopsEffective: flops / ms / 1e6,
        msPerStep: ms,
        kernelsPerStep: kernels,
        dispatchesPerStep: dispatches,
        usPerDispatch: (ms * 1000) / dispatches,
        ...(anchor ? { torchImgPerSec: anchor, ratioToTorch: imgPerSec / anchor } : {}),
      });
      if (fused) emit({ kind: "ops", variant, model: "dcgan64", batch, kernelsByName: byKernel });
    }
  }
}

if (import.meta.main) await main();
