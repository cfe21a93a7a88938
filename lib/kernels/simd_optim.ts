/**
 * Fused optimizer updates for the tfjs `wasm` backend (and so `--backend blas`): one pass of a
 * tiny WebAssembly SIMD function over each variable, instead of the dozen tf ops of
 * {@link adamStepOps}, each of which reads and writes the whole tensor. For the MLP GANs (2.4 M
 * parameters, batch 64) the op-by-op Adam was ~30 % of a training step on the wasm heap; the
 * fused pass moves the same bytes once.
 *
 * The function runs in the wasm backend's own memory (it imports the backend's
 * `WebAssembly.Memory`), so nothing is copied. It does the op-by-op update's float32 operations
 * in the same order — IEEE add, mul, div and sqrt are correctly rounded per lane — so results are
 * bit-identical to the tf-ops path and to every reference made before it existed. The last
 * `n mod 4` elements run in JS: a double-precision result of one add, mul, div or sqrt of float32
 * operands, rounded to float32, equals the float32 operation (53 ≥ 2·24 + 2 bits), so
 * `Math.fround` after each step reproduces it exactly.
 *
 * The module is assembled here from a few dozen opcodes rather than shipped as a binary, so what
 * runs is readable in this file.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** Adam hyper-parameters for one step, as torch.optim.Adam. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count, for the bias corrections. */
  step: number;
}

/** RMSprop hyper-parameters, as torch.optim.RMSprop (no momentum, not centered). */
export interface RmspropHyper {
  lr: number;
  alpha: number;
  eps: number;
}

/**
 * The Adam step as separate tf ops (about a dozen kernels): m ← β₁m + (1−β₁)g,
 * v ← β₂v + (1−β₂)g², param ← param − (lr/c₁)·m / (√v/√c₂ + ε), cₖ = 1 − βₖ^step. What runs on
 * cpu, and the order of float32 operations every fused version keeps.
 */
export function adamStepOps(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  h: AdamHyper,
): void {
  const c1 = 1 - h.beta1 ** h.step, c2 = 1 - h.beta2 ** h.step;
  tf.tidy(() => {
    const mNew = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
    const vNew = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
    m.assign(mNew);
    v.assign(vNew);
    const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(c2)), h.eps);
    param.assign(tf.sub(param, tf.div(tf.mul(mNew, h.lr / c1), denom)));
  });
}

/** The RMSprop step as tf ops: s ← αs + (1−α)g², param ← param − lr·g / (√s + ε). */
export function rmspropStepOps(
  param: tf.Variable,
  grad: tf.Tensor,
  sq: tf.Variable,
  h: RmspropHyper,
): void {
  tf.tidy(() => {
    const sqNew = tf.add(tf.mul(sq, h.alpha), tf.mul(tf.square(grad), 1 - h.alpha));
    sq.assign(sqNew);
    param.assign(tf.sub(param, tf.div(tf.mul(grad, h.lr), tf.add(tf.sqrt(sqNew), h.eps))));
  });
}

// ---- A minimal WebAssembly encoder: just what the two functions below need. ----

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
/** Opcodes (core and SIMD, the latter after the 0xfd prefix). */
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  simd: 0xfd,
  load: 0x00,
  store: 0x0b,
  splat: 0x13,
  sqrt: 0xe3,
  add: 0xe4,
  sub: 0xe5,
  mul: 0xe6,
  div: 0xe7,
} as const;

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** A length-prefixed vector or name. */
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/**
 * An expression over f32x4 values, compiled to stack code: a local, a load at pointer local `ptr`
 * plus the running byte offset, or an operation.
 */
type Expr =
  | { local: number }
  | { load: number }
  | { op: "add" | "sub" | "mul" | "div"; a: Expr; b: Expr }
  | { op: "sqrt"; a: Expr };

/** The function-building context: byte-offset local, first free local, emitted code. */
class Fn {
  code: number[] = [];
  locals: number[] = [];
  constructor(readonly nParams: number, readonly offset: number) {}
  /** Declares a local of `type`, returns its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.nParams + this.locals.length - 1;
  }
  simd(opcode: number, ...imm: number[]): void {
    this.code.push(op.simd, ...uleb(opcode), ...imm);
  }
  /** Address `ptr + offset` on the stack. */
  address(ptr: number): void {
    this.code.push(op.get, ptr, op.get, this.offset, op.i32Add);
  }
  expr(e: Expr): void {
    if ("local" in e) this.code.push(op.get, e.local);
    else if ("load" in e) {
      this.address(e.load);
      this.simd(op.load, 2, 0); // memarg: align 2^2 (float32 data), offset 0
    } else if (e.op === "sqrt") {
      this.expr(e.a);
      this.simd(op.sqrt);
    } else {
      this.expr(e.a);
      this.expr(e.b);
      this.simd(op[e.op]);
    }
  }
  /** `local = e`. */
  set(local: number, e: Expr): void {
    this.expr(e);
    this.code.push(op.set, local);
  }
  /** Stores `e` at `ptr + offset`. */
  store(ptr: number, e: Expr): void {
    this.address(ptr);
    this.expr(e);
    this.simd(op.store, 2, 0);
  }
  /** Splats f32 param `p` into a new v128 local. */
  splat(p: number): Expr {
    const l = this.local(V128);
    this.code.push(op.get, p);
    this.simd(op.splat);
    this.code.push(op.set, l);
    return { local: l };
  }
  /** Wraps the emitted body in `for (offset = 0; offset < end; offset += 16)`. */
  loopTo(end: number, body: () => void): void {
    this.code.push(op.block, 0x40, op.loop, 0x40);
    this.code.push(op.get, this.offset, op.get, end, op.i32GeU, op.brIf, 1);
    body();
    this.code.push(op.get, this.offset, op.i32Const, 16, op.i32Add, op.set, this.offset);
    this.code.push(op.br, 0, op.end, op.end);
  }
  /** The code-section entry. */
  encode(): number[] {
    const groups = this.locals.map((t) => [...uleb(1), t]);
    const body = [...vec(groups), ...this.code, op.end];
    return [...uleb(body.length), ...body];
  }
}

const add = (a: Expr, b: Expr): Expr => ({ op: "add", a, b });
const sub = (a: Expr, b: Expr): Expr => ({ op: "sub", a, b });
const mul = (a: Expr, b: Expr): Expr => ({ op: "mul", a, b });
const div = (a: Expr, b: Expr): Expr => ({ op: "div", a, b });
const sqrt = (a: Expr): Expr => ({ op: "sqrt", a });

/**
 * adam(p, g, m, v, pOut, mOut, vOut, bytes, β₁, 1−β₁, β₂, 1−β₂, √c₂, ε, lr/c₁): byte pointers,
 * `bytes` a multiple of 16, then the float32 constants exactly as the tf-ops path rounds them.
 */
function adamFunction(): { params: number[]; fn: Fn } {
  const params = [...Array(8).fill(I32), ...Array(7).fill(F32)];
  const f = new Fn(params.length, params.length);
  f.local(I32); // the byte offset, local `params.length`
  const [p, g, m, v, pOut, mOut, vOut, bytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [b1, omb1, b2, omb2, rc2, eps, lrc1] = [8, 9, 10, 11, 12, 13, 14].map((i) => f.splat(i));
  const gl = f.local(V128), mNew = f.local(V128), vNew = f.local(V128);
  f.loopTo(bytes, () => {
    f.set(gl, { load: g });
    const G = { local: gl };
    f.set(mNew, add(mul({ load: m }, b1), mul(G, omb1)));
    f.store(mOut, { local: mNew });
    f.set(vNew, add(mul({ load: v }, b2), mul(mul(G, G), omb2)));
    f.store(vOut, { local: vNew });
    const denom = add(div(sqrt({ local: vNew }), rc2), eps);
    f.store(pOut, sub({ load: p }, div(mul({ local: mNew }, lrc1), denom)));
  });
  return { params, fn: f };
}

/** rmsprop(p, g, sq, pOut, sqOut, bytes, α, 1−α, lr, ε). */
function rmspropFunction(): { params: number[]; fn: Fn } {
  const params = [...Array(6).fill(I32), ...Array(4).fill(F32)];
  const f = new Fn(params.length, params.length);
  f.local(I32);
  const [p, g, sq, pOut, sqOut, bytes] = [0, 1, 2, 3, 4, 5];
  const [alpha, oma, lr, eps] = [6, 7, 8, 9].map((i) => f.splat(i));
  const gl = f.local(V128), sqNew = f.local(V128);
  f.loopTo(bytes, () => {
    f.set(gl, { load: g });
    const G = { local: gl };
    f.set(sqNew, add(mul({ load: sq }, alpha), mul(mul(G, G), oma)));
    f.store(sqOut, { local: sqNew });
    f.store(pOut, sub({ load: p }, div(mul(G, lr), add(sqrt({ local: sqNew }), eps))));
  });
  return { params, fn: f };
}

/** The module's bytes; `shared` must match the imported memory (threaded wasm build). */
export function optimizerModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const fns = [adamFunction(), rmspropFunction()];
  const types = fns.map(({ params }) => [0x60, ...vec(params.map((t) => [t])), ...vec([])]);
  // Limits: shared memories must declare a maximum; 65536 pages (4 GiB) admits any.
  const limits = shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const imports = [[...name("env"), ...name("memory"), 0x02, ...limits]];
  const exports = ["adam", "rmsprop"].map((s, i) => [...name(s), 0x00, i]);
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(fns.map((_, i) => [i]))),
    ...section(7, vec(exports)),
    ...section(10, vec(fns.map(({ fn }) => fn.encode()))),
  ]);
}

interface OptimizerExports {
  adam(...args: number[]): void;
  rmsprop(...args: number[]): void;
}

/** The backend's wasm memory (Emscripten field names; the threaded build imports its memory). */
function wasmMemory(backend: BackendWasm): WebAssembly.Memory | null {
  const m = backend.wasm as unknown as {
    wasmMemory?: WebAssembly.Memory;
    asm?: { memory?: WebAssembly.Memory };
  };
  return m.wasmMemory ?? m.asm?.memory ?? null;
}

const instances = new WeakMap<WebAssembly.Memory, OptimizerExports>();

function instanceFor(memory: WebAssembly.Memory): OptimizerExports {
  let exp = instances.get(memory);
  if (!exp) {
    const shared = typeof SharedArrayBuffer !== "undefined" &&
      memory.buffer instanceof SharedArrayBuffer;
    const module = new WebAssembly.Module(optimizerModule(shared));
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    exp = instance.exports as unknown as OptimizerExports;
    instances.set(memory, exp);
  }
  return exp;
}

/** The wasm backend and its memory when the fused pass can run on `tensors`, else null. */
function fusable(
  tensors: tf.Tensor[],
): { backend: BackendWasm; memory: WebAssembly.Memory } | null {
  if (tf.getBackend() !== "wasm" || tensors[0].size === 0) return null;
  if (!tensors.every((t) => t.dtype === "float32" && t.size === tensors[0].size)) return null;
  const backend = tf.backend() as unknown as BackendWasm;
  const memory = wasmMemory(backend);
  return memory ? { backend, memory } : null;
}

/**
 * Runs `kernel` with the byte offsets of `inputs` and of `nOut` fresh outputs, then the JS `tail`
 * for the last `n mod 4` elements; the variables adopt the outputs.
 */
function runFused(
  target: { backend: BackendWasm; memory: WebAssembly.Memory },
  inputs: tf.Tensor[],
  vars: tf.Variable[],
  kernel: (ptrs: number[], bytes: number) => void,
  tail: (heap: Float32Array, ptrs: number[], i: number) => void,
): void {
  const { backend, memory } = target;
  const n = inputs[0].size;
  const outs = vars.map(() => backend.makeOutput(inputs[0].shape, "float32"));
  const ptrs = [...inputs, ...outs].map((t) => backend.getMemoryOffset(t.dataId));
  const vecBytes = Math.floor(n / 4) * 16;
  kernel(ptrs, vecBytes);
  if (vecBytes / 4 < n) {
    const heap = new Float32Array(memory.buffer);
    for (let i = vecBytes / 4; i < n; i++) tail(heap, ptrs.map((p) => p / 4), i);
  }
  const tensors = outs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
  vars.forEach((v, i) => v.assign(tensors[i]));
  tf.dispose(tensors);
}

/**
 * One Adam step (see {@link adamStepOps}) fused into one pass when on the wasm backend; returns
 * false (doing nothing) elsewhere.
 */
export function wasmAdamStep(
  param: tf.Variable,
  grad: tf.Tensor,
  m: tf.Variable,
  v: tf.Variable,
  h: AdamHyper,
): boolean {
  const target = fusable([param, grad, m, v]);
  if (!target) return false;
  const c1 = 1 - h.beta1 ** h.step, c2 = 1 - h.beta2 ** h.step;
  // The scalars exactly as tf.mul/tf.div(x, number) make them: a float32 of the JS double.
  const k = [h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, Math.sqrt(c2), h.eps, h.lr / c1]
    .map(Math.fround);
  const [b1, omb1, b2, omb2, rc2, eps, lrc1] = k;
  const f = Math.fround;
  runFused(
    target,
    [param, grad, m, v],
    [param, m, v],
    (ptrs, bytes) => instanceFor(target.memory).adam(...ptrs, bytes, ...k),
    (heap, [p, g, mi, vi, pOut, mOut, vOut], i) => {
      const gi = heap[g + i];
      const mn = f(f(heap[mi + i] * b1) + f(gi * omb1));
      const vn = f(f(heap[vi + i] * b2) + f(f(gi * gi) * omb2));
      heap[mOut + i] = mn;
      heap[vOut + i] = vn;
      const denom = f(f(f(Math.sqrt(vn)) / rc2) + eps);
      heap[pOut + i] = f(heap[p + i] - f(f(mn * lrc1) / denom));
    },
  );
  return true;
}

/**
 * One RMSprop step (see {@link rmspropStepOps}) fused into one pass when on the wasm backend;
 * returns false (doing nothing) elsewhere.
 */
export function wasmRmspropStep(
  param: tf.Variable,
  grad: tf.Tensor,
  sq: tf.Variable,
  h: RmspropHyper,
): boolean {
  const target = fusable([param, grad, sq]);
  if (!target) return false;
  const k = [h.alpha, 1 - h.alpha, h.lr, h.eps].map(Math.fround);
  const [alpha, oma, lr, eps] = k;
  const f = Math.fround;
  runFused(
    target,
    [param, grad, sq],
    [param, sq],
    (ptrs, bytes) => instanceFor(target.memory).rmsprop(...ptrs, bytes, ...k),
    (heap, [p, g, s, pOut, sOut], i) => {
      const gi = heap[g + i];
      const sn = f(f(heap[s + i] * alpha) + f(f(gi * gi) * oma));
      heap[sOut + i] = sn;
      heap[pOut + i] = f(heap[p + i] - f(f(gi * lr) / f(f(Math.sqrt(sn)) + eps)));
    },
  );
  return true;
}
