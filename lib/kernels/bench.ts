/**
 * Benchmark of the training kernels and of full GAN training steps (the MLP GAN of gan/cgan, two
 * DCGANs) on the cpu, wasm and blas backends.
 *
 *     deno task bench [--backend cpu,wasm,blas] [--threads 2] [--batch 64] [--quick]
 *                     [--only kernels,optim,steps] [--model mlp,dcgan28,dcgan64] [--profile]
 *     deno task bench --backend webgpu [--step-batch 64,256] [--torch FILE]   (webgpu/bench.ts)
 *
 * Prints one JSON object per line:
 * - `{kind:"kernel", backend, kernel, variant, shape, gflops, ms, cpuMs}` for Conv2D,
 *   Conv2DBackpropInput, Conv2DBackpropFilter and MatMul on the DCGAN layer shapes; on wasm both
 *   the stock kernel and ours (plus the alternatives we rejected) where they exist;
 * - `{kind:"step", backend, threads, model, batch, stepsPerSec, imgPerSec, gflopsEffective,
 *   msPerStep, cpuMsPerStep, kernelsPerStep, usPerKernel, ...}` for a full D+G step (forward,
 *   backward and Adam update of both nets, with lib/optim.ts's Adam), nets built here from plain
 *   tfjs ops;
 * - `{kind:"optimizer", backend, model, params, optimizer, variant, ms, cpuMs}`: one Adam or
 *   RMSprop update of all the model's parameters, as tf ops and as the fused pass lib/optim.ts
 *   runs (wasm and blas);
 * - `{kind:"profile", ...}` (with `--profile`): milliseconds per kernel name over one step;
 * - `{kind:"speedup", model, ...}`: images/s of our wasm path over the stock cpu backend, and of
 *   blas over wasm, from the same run.
 *
 * Times are the best of several repetitions. Wall time (`ms`, and every rate) is what you get on
 * this machine now; `cpuMs` is the process CPU time of the best run, which on a shared machine
 * is the better estimate of the uncontended single-thread time (with threads it sums over
 * threads). FLOPs are analytic: 2·MACs for a forward pass and 3× that for forward+backward.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { tf } from "../tf.ts";
import { Rng } from "../random.ts";
import { enableWasmThreads, registerFastKernels, setBlas, useKernelVariant } from "./mod.ts";
import { selectBackend } from "../backend.ts";
import { countOps } from "./opcount.ts";
import { Adam, minimize } from "../optim.ts";
import { adamStepOps, rmspropStepOps } from "./simd_optim.ts";
import { fusedAdamStep, fusedRmspropStep } from "./webgpu/optim.ts";
import {
  conv2DBackpropFilterDilated,
  conv2DBackpropFilterIm2col,
  conv2DBackpropInputCol2im,
  conv2DBackpropInputPhases,
  type KernelArgs,
} from "./wasm.ts";

type Shape4 = [number, number, number, number];

/** A conv layer as the conv2d it is (a conv2dTranspose is the same geometry read backwards). */
interface ConvLayer {
  name: string;
  x: Shape4;
  filter: Shape4;
  stride: number;
  pad: "same" | "valid" | number;
}

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

function outShape(l: ConvLayer, batch: number): Shape4 {
  const [, h, w] = l.x;
  const k = l.filter[0], s = l.stride;
  const size = (n: number) =>
    l.pad === "same"
      ? Math.ceil(n / s)
      : l.pad === "valid"
      ? Math.floor((n - k) / s) + 1
      : Math.floor((n + 2 * l.pad - k) / s) + 1;
  return [batch, size(h), size(w), l.filter[3]];
}

/** 2·MACs of one forward pass of the layer for the whole batch. */
function convFlops(l: ConvLayer, batch: number): number {
  const [, oh, ow, co] = outShape(l, batch);
  const [kh, kw, ci] = l.filter;
  return 2 * batch * oh * ow * kh * kw * ci * co;
}

/** Best wall time and best process CPU time (ms) of `reps` runs of `f`, after one warm-up run
 * unless `warmUp` is false (the cpu backend: too slow to run anything twice). */
function best(f: () => void, reps: number, warmUp = true): { ms: number; cpuMs: number } {
  if (warmUp) f();
  let ms = Infinity, cpuMs = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    ms = Math.min(ms, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs = Math.min(cpuMs, (c.user + c.system) / 1000);
  }
  return { ms, cpuMs };
}

const padAttr = (p: ConvLayer["pad"]) =>
  typeof p === "number" ? [[0, 0], [p, p], [p, p], [0, 0]] as tf.backend_util.ExplicitPadding : p;

/** Filter gradient by the dilated-conv trick, with stock wasm ops — the alternative we measured. */
function filterGradDilated(x: tf.Tensor4D, dy: tf.Tensor4D, l: ConvLayer): tf.Tensor {
  return tf.tidy(() => {
    const k = l.filter[0], s = l.stride, [, h] = l.x, [, oh] = dy.shape;
    const total = Math.max(0, (oh - 1) * s + k - h);
    const top = typeof l.pad === "number" ? l.pad : l.pad === "same" ? Math.floor(total / 2) : 0;
    const bottom = k + (oh - 1) * s - h - top;
    const xT = tf.transpose(x, [3, 1, 2, 0]); // Ci plays the batch, B the channels
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // dy plays the filter [OH, OW, B, Co]
    const pads: tf.backend_util.ExplicitPadding = [[0, 0], [top, bottom], [top, bottom], [0, 0]];
    const r = tf.conv2d(xT as tf.Tensor4D, dyT as tf.Tensor4D, 1, pads, "NHWC", s);
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}

function benchKernels(
  backend: string,
  model: string,
  layers: ConvLayer[],
  batch: number,
  reps: number,
) {
  const rng = new Rng(1, "bench-kernels");
  for (const l of layers) {
    const xShape: Shape4 = [batch, l.x[1], l.x[2], l.x[3]];
    const yShape = outShape(l, batch);
    const x = rng.randn(xShape) as tf.Tensor4D;
    const w = rng.randn(l.filter) as tf.Tensor4D;
    const dy = rng.randn(yShape) as tf.Tensor4D;
    const flops = convFlops(l, batch);
    const shape = {
      model,
      layer: l.name,
      x: xShape,
      filter: l.filter,
      stride: l.stride,
      pad: l.pad,
    };
    const attrs = { strides: l.stride, pad: padAttr(l.pad), dataFormat: "NHWC" } as const;
    const run = (name: string, inputs: tf.NamedTensorMap, extra: Record<string, unknown>) => () =>
      tf.dispose(
        tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as unknown as tf.NamedAttrMap),
      );
    const report = (kernel: string, variant: string, f: () => void) => {
      const { ms, cpuMs } = best(f, reps, backend !== "cpu");
      emit({
        kind: "kernel",
        backend,
        kernel,
        variant,
        shape,
        gflops: flops / ms / 1e6,
        ms,
        cpuMs,
      });
    };
    const fwd = run("Conv2D", { x, filter: w }, { dilations: 1 });
    const bwdIn = run("Conv2DBackpropInput", { dy, filter: w }, { inputShape: xShape });
    const bwdFilter = run("Conv2DBackpropFilter", { x, dy }, { filterShape: l.filter });
    report("Conv2D", backend === "blas" ? "blas: im2col + sgemm" : "stock", fwd);
    if (backend === "wasm") {
      useKernelVariant("Conv2DBackpropInput", "stock");
      report("Conv2DBackpropInput", "stock", bwdIn);
      useKernelVariant("Conv2DBackpropInput", "fast");
      report("Conv2DBackpropInput", "ours", bwdIn);
      const wasm = tf.backend();
      const direct =
        (fn: (a: KernelArgs) => tf.TensorInfo, inputs: tf.NamedTensorMap, extra: object) => () => {
          const a = { ...attrs, ...extra } as unknown as tf.NamedAttrMap;
          wasm.disposeData(fn({ inputs, attrs: a, backend: wasm }).dataId);
        };
      report(
        "Conv2DBackpropInput",
        "alt: stride phases",
        direct(conv2DBackpropInputPhases, { dy, filter: w }, { inputShape: xShape }),
      );
      report(
        "Conv2DBackpropInput",
        "alt: gemm+col2im",
        direct(conv2DBackpropInputCol2im, { dy, filter: w }, { inputShape: xShape }),
      );
      report("Conv2DBackpropFilter", "ours", bwdFilter);
      report(
        "Conv2DBackpropFilter",
        "alt: dilated conv",
        direct(conv2DBackpropFilterDilated, { x, dy }, { filterShape: l.filter }),
      );
      report(
        "Conv2DBackpropFilter",
        "alt: im2col gemm",
        direct(conv2DBackpropFilterIm2col, { x, dy }, { filterShape: l.filter }),
      );
      report(
        "Conv2DBackpropFilter",
        "alt: dilated conv, stock transposes",
        () => tf.dispose(filterGradDilated(x, dy, l)),
      );
    } else {
      const v = backend === "blas" ? "blas: im2col + sgemm" : "stock";
      report("Conv2DBackpropInput", v, bwdIn);
      report("Conv2DBackpropFilter", v, bwdFilter);
    }
    tf.dispose([x, w, dy]);
  }
}

function benchMatMul(backend: string, model: string, shapes: number[][], reps: number) {
  const rng = new Rng(2, "bench-matmul");
  for (const [m, k, n] of shapes) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
      const a = rng.randn(ta ? [k, m] : [m, k]), b = rng.randn(tb ? [n, k] : [k, n]);
      const variants = backend === "wasm" && (ta || tb) ? ["stock", "fast"] : ["stock"];
      for (const v of variants) {
        if (backend === "wasm") useKernelVariant("BatchMatMul", v as "stock" | "fast");
        const { ms, cpuMs } = best(
          () => tf.dispose(tf.matMul(a, b, ta, tb)),
          reps,
          backend !== "cpu",
        );
        emit({
          kind: "kernel",
          backend,
          kernel: "MatMul",
          variant: backend === "blas"
            ? "blas: sgemm"
            : v === "fast"
            ? "ours (JS transpose + gemm)"
            : "stock",
          shape: { model, m, k, n, transposeA: ta, transposeB: tb },
          gflops: (2 * m * k * n) / ms / 1e6,
          ms,
          cpuMs,
        });
      }
      if (backend === "wasm") useKernelVariant("BatchMatMul", "fast");
      tf.dispose([a, b]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal DCGANs in plain tfjs ops, for the training-step benchmark.

interface Net {
  vars: tf.Variable[];
  apply: (x: tf.Tensor) => tf.Tensor;
}

interface GanSpec {
  /** Conv layers of D, then the transposed-conv layers of G given as the convs they mirror. */
  d: ConvLayer[];
  g: ConvLayer[];
  /** Per-image MACs of dense layers in D and G. */
  denseD: number;
  denseG: number;
  build: (rng: Rng) => { D: Net; G: Net; zDim: number; image: number[] };
}

/** Batch norm over all axes but the last, with learned scale and offset. */
function batchNorm(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable): tf.Tensor {
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), gamma), beta);
}

/** conv2d / conv2dTranspose on untyped-rank tensors (the nets below keep plain tf.Tensor). */
function conv(x: tf.Tensor, w: tf.Tensor, s: number, pad: ConvLayer["pad"]): tf.Tensor {
  return tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, padAttr(pad));
}

function deconv(x: tf.Tensor, w: tf.Tensor, out: Shape4, s: number, pad: ConvLayer["pad"]) {
  return tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, out, s, padAttr(pad) as "same");
}

function weight(rng: Rng, shape: number[]): tf.Variable {
  return tf.variable(rng.randn(shape, 0, 0.02));
}

function bnVars(c: number): [tf.Variable, tf.Variable] {
  return [tf.variable(tf.ones([c])), tf.variable(tf.zeros([c]))];
}

/** DCGAN for 28×28 MNIST: G 100 → 7×7×128 → 14×14×64 → 28×28×1, D the mirror image. */
const DCGAN28: GanSpec = {
  d: [
    {
      name: "D1 28x28x1->14x14x64",
      x: [0, 28, 28, 1],
      filter: [4, 4, 1, 64],
      stride: 2,
      pad: "same",
    },
    {
      name: "D2 14x14x64->7x7x128",
      x: [0, 14, 14, 64],
      filter: [4, 4, 64, 128],
      stride: 2,
      pad: "same",
    },
  ],
  g: [
    {
      name: "G1 7x7x128->14x14x64",
      x: [0, 14, 14, 64],
      filter: [4, 4, 64, 128],
      stride: 2,
      pad: "same",
    },
    {
      name: "G2 14x14x64->28x28x1",
      x: [0, 28, 28, 1],
      filter: [4, 4, 1, 64],
      stride: 2,
      pad: "same",
    },
  ],
  denseD: 7 * 7 * 128,
  denseG: 100 * 7 * 7 * 128,
  build(rng) {
    const gW0 = weight(rng, [100, 7 * 7 * 128]), [gG0, gB0] = bnVars(7 * 7 * 128);
    const gW1 = weight(rng, [4, 4, 64, 128]), [gG1, gB1] = bnVars(64);
    const gW2 = weight(rng, [4, 4, 1, 64]);
    const dW1 = weight(rng, [4, 4, 1, 64]), dW2 = weight(rng, [4, 4, 64, 128]);
    const [dG2, dB2] = bnVars(128);
    const dW3 = weight(rng, [7 * 7 * 128, 1]), dB3 = tf.variable(tf.zeros([1]));
    const G: Net = {
      vars: [gW0, gG0, gB0, gW1, gG1, gB1, gW2],
      apply: (z) => {
        const b = z.shape[0];
        let h = tf.relu(batchNorm(tf.matMul(z, gW0), gG0, gB0));
        h = tf.reshape(h, [b, 7, 7, 128]);
        h = tf.relu(batchNorm(deconv(h, gW1, [b, 14, 14, 64], 2, "same"), gG1, gB1));
        return tf.tanh(deconv(h, gW2, [b, 28, 28, 1], 2, "same"));
      },
    };
    const D: Net = {
      vars: [dW1, dW2, dG2, dB2, dW3, dB3],
      apply: (x) => {
        let h = tf.leakyRelu(conv(x, dW1, 2, "same"), 0.2);
        h = tf.leakyRelu(batchNorm(conv(h, dW2, 2, "same"), dG2, dB2), 0.2);
        return tf.add(tf.matMul(tf.reshape(h, [x.shape[0], 7 * 7 * 128]), dW3), dB3);
      },
    };
    return { D, G, zDim: 100, image: [28, 28, 1] };
  },
};

/** The MLP GAN of papers/gan.ts and cgan.ts (PyTorch-GAN's): G 100 → 128 → 256 → 512 → 1024 →
 * 784 with batch norm after all but the first hidden layer, D 784 → 512 → 256 → 1, LeakyReLU. */
const MLP: GanSpec = (() => {
  const g = [100, 128, 256, 512, 1024, 784], d = [784, 512, 256, 1];
  const macs = (w: number[]) => w.slice(1).reduce((s, n, i) => s + w[i] * n, 0);
  return {
    d: [],
    g: [],
    denseD: macs(d),
    denseG: macs(g),
    build(rng: Rng) {
      const layer = (i: number, o: number) => [weight(rng, [i, o]), tf.variable(tf.zeros([o]))];
      const gW = g.slice(1).map((o, i) => layer(g[i], o));
      const gBn = g.slice(2, -1).map((c) => bnVars(c));
      const dW = d.slice(1).map((o, i) => layer(d[i], o));
      const G: Net = {
        vars: [...gW.flat(), ...gBn.flat()],
        apply: (z) => {
          let h = z;
          gW.forEach(([w, b], i) => {
            h = tf.add(tf.matMul(h, w), b);
            if (i === gW.length - 1) h = tf.tanh(h);
            else h = tf.leakyRelu(i === 0 ? h : batchNorm(h, ...gBn[i - 1]), 0.2);
          });
          return h;
        },
      };
      const D: Net = {
        vars: dW.flat(),
        apply: (x) => {
          let h = tf.reshape(x, [x.shape[0], 784]);
          dW.forEach(([w, b], i) => {
            h = tf.add(tf.matMul(h, w), b);
            if (i < dW.length - 1) h = tf.leakyRelu(h, 0.2);
          });
          return h;
        },
      };
      return { D, G, zDim: 100, image: [28, 28, 1] };
    },
  };
})();

/** DCGAN for 64×64×3 (Radford et al.): nz 100, ngf = ndf = 64, k4 s2 p1, 4→64 and 64→4. */
const DCGAN64: GanSpec = {
  d: [
    { name: "D1 64x64x3->32x32x64", x: [0, 64, 64, 3], filter: [4, 4, 3, 64], stride: 2, pad: 1 },
    {
      name: "D2 32x32x64->16x16x128",
      x: [0, 32, 32, 64],
      filter: [4, 4, 64, 128],
      stride: 2,
      pad: 1,
    },
    {
      name: "D3 16x16x128->8x8x256",
      x: [0, 16, 16, 128],
      filter: [4, 4, 128, 256],
      stride: 2,
      pad: 1,
    },
    { name: "D4 8x8x256->4x4x512", x: [0, 8, 8, 256], filter: [4, 4, 256, 512], stride: 2, pad: 1 },
    {
      name: "D5 4x4x512->1x1x1",
      x: [0, 4, 4, 512],
      filter: [4, 4, 512, 1],
      stride: 1,
      pad: "valid",
    },
  ],
  g: [
    {
      name: "G1 1x1x100->4x4x512",
      x: [0, 4, 4, 512],
      filter: [4, 4, 512, 100],
      stride: 1,
      pad: "valid",
    },
    { name: "G2 4x4x512->8x8x256", x: [0, 8, 8, 256], filter: [4, 4, 256, 512], stride: 2, pad: 1 },
    {
      name: "G3 8x8x256->16x16x128",
      x: [0, 16, 16, 128],
      filter: [4, 4, 128, 256],
      stride: 2,
      pad: 1,
    },
    {
      name: "G4 16x16x128->32x32x64",
      x: [0, 32, 32, 64],
      filter: [4, 4, 64, 128],
      stride: 2,
      pad: 1,
    },
    { name: "G5 32x32x64->64x64x3", x: [0, 64, 64, 3], filter: [4, 4, 3, 64], stride: 2, pad: 1 },
  ],
  denseD: 0,
  denseG: 0,
  build(rng) {
    const chans = [512, 256, 128, 64];
    const gW = [weight(rng, [4, 4, 512, 100])];
    const gBn = [bnVars(512)];
    for (let i = 1; i < 4; i++) {
      gW.push(weight(rng, [4, 4, chans[i], chans[i - 1]]));
      gBn.push(bnVars(chans[i]));
    }
    gW.push(weight(rng, [4, 4, 3, 64]));
    const dChans = [3, 64, 128, 256, 512];
    const dW = dChans.slice(1).map((c, i) => weight(rng, [4, 4, dChans[i], c]));
    const dBn = [null, bnVars(128), bnVars(256), bnVars(512)];
    const dOut = weight(rng, [4, 4, 512, 1]);
    const G: Net = {
      vars: [...gW, ...gBn.flat()],
      apply: (z) => {
        const b = z.shape[0];
        let h: tf.Tensor = tf.reshape(z, [b, 1, 1, 100]);
        h = tf.relu(batchNorm(deconv(h, gW[0], [b, 4, 4, 512], 1, "valid"), ...gBn[0]));
        for (let i = 1; i < 4; i++) {
          const size = 4 << i;
          h = tf.relu(batchNorm(deconv(h, gW[i], [b, size, size, chans[i]], 2, 1), ...gBn[i]));
        }
        return tf.tanh(deconv(h, gW[4], [b, 64, 64, 3], 2, 1));
      },
    };
    const D: Net = {
      vars: [...dW, ...dBn.slice(1).flat() as tf.Variable[], dOut],
      apply: (x) => {
        let h = x;
        for (let i = 0; i < 4; i++) {
          h = conv(h, dW[i], 2, 1);
          const bn = dBn[i];
          if (bn != null) h = batchNorm(h, ...bn);
          h = tf.leakyRelu(h, 0.2);
        }
        return tf.reshape(conv(h, dOut, 1, "valid"), [x.shape[0], 1]);
      },
    };
    return { D, G, zDim: 100, image: [64, 64, 3] };
  },
};

/** Forward FLOPs per image: [D, G]. */
function perImageFlops(spec: GanSpec): [number, number] {
  const conv = (ls: ConvLayer[]) => ls.reduce((s, l) => s + convFlops(l, 1), 0);
  return [conv(spec.d) + 2 * spec.denseD, conv(spec.g) + 2 * spec.denseG];
}

/**
 * Times full D+G training steps; returns ms per step (best of `steps`, after one warm-up step if
 * `warmUp`). With `profile`, also returns the time per kernel name of one more step.
 */
async function benchStep(
  spec: GanSpec,
  batch: number,
  steps: number,
  warmUp: boolean,
  profile = false,
): Promise<{ ms: number; cpuMs: number; ops: number; kernels?: Record<string, number> }> {
  const rng = new Rng(3, "bench-step");
  const { D, G, zDim, image } = spec.build(rng);
  const real = rng.rand([batch, ...image], -1, 1);
  // The papers' optimizer (lib/optim.ts: torch's Adam, fused per backend) and loss read-back.
  const optD = new Adam(2e-4, 0.5), optG = new Adam(2e-4, 0.5);
  // Non-saturating GAN loss with logits: softplus(-l) = -log σ(l), softplus(l) = -log(1-σ(l)).
  const step = () => {
    const z1 = rng.randn([batch, zDim]), z2 = rng.randn([batch, zDim]);
    minimize(optD, D.vars, () => {
      const fake = G.apply(z1);
      return tf.add(
        tf.mean(tf.softplus(tf.neg(D.apply(real)))),
        tf.mean(tf.softplus(D.apply(fake))),
      );
    });
    minimize(optG, G.vars, () => tf.mean(tf.softplus(tf.neg(D.apply(G.apply(z2))))));
    tf.dispose([z1, z2]);
  };
  const { ms, cpuMs } = best(step, steps, warmUp);
  const { kernels: ops } = await countOps(step);
  let kernels: Record<string, number> | undefined;
  if (profile) {
    const info = await tf.profile(step);
    const totals: Record<string, number> = {};
    for (const k of info.kernels) {
      totals[k.name] = (totals[k.name] ?? 0) + (await k.kernelTimeMs as number);
    }
    kernels = Object.fromEntries(
      Object.entries(totals).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +v.toFixed(2)]),
    );
  }
  tf.dispose([real, ...D.vars, ...G.vars]);
  optD.dispose();
  optG.dispose();
  return { ms, cpuMs, ops, kernels };
}

/**
 * Times one optimizer update of all of a model's parameters: the op-by-op tf ops against the
 * fused pass lib/optim.ts uses on this backend (one SIMD pass per variable on wasm/blas).
 */
function benchOptim(backend: string, model: string, spec: GanSpec, reps: number): void {
  const rng = new Rng(5, "bench-optim");
  const { D, G } = spec.build(rng);
  const vars = [...D.vars, ...G.vars];
  const params = vars.reduce((s, v) => s + v.size, 0);
  const grads = vars.map((v) => rng.randn(v.shape));
  const state = () => vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const [m, v] = [state(), state()];
  let t = 0;
  const adam = (step: typeof adamStepOps) => () => {
    const h = { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, step: ++t };
    vars.forEach((p, i) => step(p, grads[i], m[i], v[i], h));
  };
  const rms = (step: typeof rmspropStepOps) => () =>
    vars.forEach((p, i) => step(p, grads[i], m[i], { lr: 5e-5, alpha: 0.99, eps: 1e-8 }));
  const rows = [
    ["adam", "ops", adam(adamStepOps)],
    ["adam", "fused", adam(fusedAdamStep)],
    ["rmsprop", "ops", rms(rmspropStepOps)],
    ["rmsprop", "fused", rms(fusedRmspropStep)],
  ] as const;
  const ms: Record<string, number> = {};
  for (const [optimizer, variant, f] of rows) {
    const r = best(f, reps);
    ms[`${optimizer}/${variant}`] = r.ms;
    emit({ kind: "optimizer", backend, model, params, optimizer, variant, ...r });
  }
  for (const optimizer of ["adam", "rmsprop"]) {
    const ratio = ms[`${optimizer}/ops`] / ms[`${optimizer}/fused`];
    emit({ kind: "speedup", model, of: `fused ${optimizer}`, over: "tf ops", backend, ratio });
  }
  tf.dispose([...vars, ...grads, ...m, ...v]);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backend: { type: "string", multiple: true },
      threads: { type: "string", default: "2" },
      batch: { type: "string" },
      quick: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      only: { type: "string", default: "kernels,optim,steps" },
      model: { type: "string", default: "mlp,dcgan28,dcgan64" },
      // Passed on to the webgpu bench (lib/kernels/webgpu/bench.ts).
      torch: { type: "string" },
      "step-batch": { type: "string" },
      reps: { type: "string" },
      steps: { type: "string" },
    },
  });
  const parts = new Set(values.only.split(","));
  const wanted = new Set(values.model.split(","));
  const backends = (values.backend ?? ["cpu,wasm,blas"]).flatMap((b) => b.split(",")).filter((b) =>
    b
  );
  for (const b of backends) {
    if (!["cpu", "wasm", "blas", "webgpu"].includes(b)) throw new Error(`unknown backend ${b}`);
  }
  if (backends.includes("webgpu")) {
    // The GPU bench has its own layer set (DCGAN 64×64), variants and PyTorch-anchor ratio.
    if (backends.length > 1) throw new Error("--backend webgpu runs alone");
    const { main: webgpuMain } = await import("./webgpu/bench.ts");
    const passOn = ["batch", "only", "torch", "step-batch", "reps", "steps"].flatMap((k) => {
      const v = (values as Record<string, unknown>)[k];
      return v === undefined || v === false ? [] : [`--${k}`, String(v)];
    });
    return webgpuMain(passOn);
  }
  const quick = values.quick;
  const batch = quick ? 16 : Number(values.batch ?? 64);
  const reps = quick ? 2 : 5;
  const models = ([["mlp", MLP], ["dcgan28", DCGAN28], ["dcgan64", DCGAN64]] as [
    string,
    GanSpec,
  ][])
    .filter(([name]) => wanted.has(name));
  const imgPerSec: Record<string, Record<string, number>> = {};

  for (const backend of backends) {
    let threads = 1;
    setBlas(null);
    if (backend === "wasm") {
      registerFastKernels();
      const t = await enableWasmThreads(Number(values.threads));
      threads = t.threads;
      if (t.error) emit({ kind: "note", backend, threads, error: t.error });
    } else if (backend === "blas") {
      // The wasm backend (threaded if wasm ran first) with every GEMM on OpenBLAS.
      let choice;
      try {
        choice = await selectBackend("blas", Number(values.threads));
      } catch (e) {
        if (values.backend) throw e; // asked for by name: its absence is an error
        emit({ kind: "note", backend, skipped: (e as Error).message });
        continue;
      }
      threads = choice.threads ?? 1;
      emit({ kind: "note", backend, threads, config: choice.device });
    } else {
      await tf.setBackend(backend);
    }
    // The cpu backend's Conv2DBackpropFilter runs at ~0.03 GFLOP/s: tiny batches only.
    const kBatch = backend === "cpu" ? 2 : batch;
    for (const [name, spec] of models) {
      if (backend === "cpu" && quick && name === "dcgan64") continue;
      // D and G share layer geometries; bench each distinct one once.
      const seen = new Set<string>();
      const layers = [...spec.d, ...spec.g].filter((l) => {
        const key = JSON.stringify([l.x, l.filter, l.stride, l.pad]);
        return !seen.has(key) && seen.add(key) != null;
      });
      const kReps = backend === "cpu" ? 1 : reps;
      if (parts.has("kernels")) {
        benchKernels(backend, name, layers, kBatch, kReps);
        if (name === "mlp") {
          // The biggest layer, forward (no transposes) and both gradients.
          benchMatMul(backend, name, [[kBatch, 512, 1024], [kBatch, 1024, 784]], kReps);
        } else if (spec.denseG > 0) {
          benchMatMul(backend, name, [[kBatch, 100, 6272], [kBatch, 6272, 1]], kReps);
        }
      }
      if (parts.has("optim") && backend !== "cpu") benchOptim(backend, name, spec, reps);
      if (!parts.has("steps")) continue;
      const sBatch = backend === "cpu" ? (name === "dcgan64" ? 2 : 4) : batch;
      const steps = backend === "cpu" ? 1 : quick ? 2 : 5;
      const { ms, cpuMs, ops, kernels } = await benchStep(
        spec,
        sBatch,
        steps,
        backend !== "cpu",
        values.profile,
      );
      const [fd, fg] = perImageFlops(spec);
      const flops = sBatch * (4 * fg + 9 * fd);
      (imgPerSec[name] ??= {})[backend] = (sBatch * 1000) / ms;
      emit({
        kind: "step",
        backend,
        threads,
        model: name,
        batch: sBatch,
        stepsPerSec: 1000 / ms,
        imgPerSec: (sBatch * 1000) / ms,
        gflopsEffective: flops / ms / 1e6,
        msPerStep: ms,
        cpuMsPerStep: cpuMs,
        gflopsPerCpuSecond: flops / cpuMs / 1e6,
        kernelsPerStep: ops,
        usPerKernel: (ms * 1000) / ops,
        flopModel: "per image 4·G_fwd + 9·D_fwd (D step: G fwd + D fwd+bwd on real and fake; " +
          "G step: G and D fwd+bwd), fwd = 2·MACs",
        timing: backend === "cpu"
          ? "one step, no warm-up, at a small batch (the cpu backend is too slow for more)"
          : `best of ${steps} steps after one warm-up`,
        ...(name === "dcgan28" ? { mnistEpochMinutes: 60000 / ((sBatch * 1000) / ms) / 60 } : {}),
      });
      if (kernels) {
        emit({
          kind: "profile",
          backend,
          threads,
          model: name,
          batch: sBatch,
          msPerKernel: kernels,
        });
      }
    }
  }
  for (const [name, r] of Object.entries(imgPerSec)) {
    if (r.blas != null && r.wasm != null) {
      emit({
        kind: "speedup",
        model: name,
        of: "blas (wasm + OpenBLAS sgemm)",
        over: "wasm + lib/kernels",
        imgPerSecRatio: r.blas / r.wasm,
        note: "images/s, same batch",
      });
    }
    if (r.cpu != null && r.wasm != null) {
      emit({
        kind: "speedup",
        model: name,
        of: "wasm + lib/kernels",
        over: "cpu (stock)",
        imgPerSecRatio: r.wasm / r.cpu,
        note: "images/s; cpu measured at a small batch, wasm at the full batch",
      });
    }
  }
}

if (import.meta.main) await main();
