/**
 * Backend selection: `--backend auto|tensorflow|webgpu|blas|wasm|cpu`.
 *
 * `blas` is the wasm backend with every GEMM and convolution done by a native CBLAS (OpenBLAS)
 * through Deno's FFI (`lib/kernels/blas.ts`): 2–3× the wasm FLOP rate on a CPU with AVX2/AVX-512.
 * It needs the library (Debian: `libopenblas0-pthread`) and `--allow-ffi` for it; its `--threads`
 * are OpenBLAS threads, and results are deterministic per thread count (not across counts).
 *
 * `auto` takes the fastest backend that works here: the native TensorFlow binding when the user has
 * installed `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (never required: its installer
 * downloads libtensorflow, which many machines cannot reach), then WebGPU when a hardware adapter
 * exists (a software/fallback adapter such as llvmpipe is slower than wasm), then blas when the
 * library loads (installed, and --allow-ffi granted for it), then wasm, then cpu.
 *
 * @module
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tf } from "./tf.ts";
import { enableWasmThreads, registerFastKernels, setBlas } from "./kernels/mod.ts";
import { type Blas, loadBlas } from "./kernels/blas.ts";
import { UserError } from "./fsutil.ts";

/** Names accepted by `--backend`. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "blas", "wasm", "cpu"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** The backend in use and why it was chosen (printed once and recorded in the manifest). */
export interface BackendChoice {
  /** The backend tfjs runs on ("auto" is resolved to one of the others). */
  name: Exclude<BackendName, "auto">;
  /** Why it was chosen, in words (printed when a run starts). */
  reason: string;
  /** Adapter description for WebGPU, e.g. "NVIDIA H100"; empty otherwise. */
  device: string;
  /** Our kernels registered over the backend's own (see lib/kernels). */
  kernels: string[];
  /** wasm threads in use (1 unless `--threads` asked for more and the threaded build started);
   * for `blas`, the BLAS library's threads. */
  threads?: number;
}

async function tryTensorflow(): Promise<string | null> {
  // Looked up in the project's node_modules only, so that nothing is fetched at run time.
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const dir = join(Deno.cwd(), "node_modules", pkg);
    try {
      await Deno.stat(dir);
    } catch {
      continue;
    }
    try {
      await import(pathToFileURL(join(dir, "dist", "index.js")).href);
      if (await tf.setBackend("tensorflow")) return pkg;
    } catch (e) {
      throw new UserError(
        `${pkg} is installed but failed to load under Deno: ${(e as Error).message.split("\n")[0]}`,
      );
    }
  }
  return null;
}

async function webgpuAdapter(): Promise<GPUAdapter | null> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
  // Mesa's Vulkan loader prints "error: XDG_RUNTIME_DIR is invalid" when probing without it.
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  } catch {
    // no --allow-env: the probe still works, it is only noisier
  }
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
}

/** Starts tfjs-webgpu with our WGSL kernels (lib/kernels/webgpu) over its slow ones. */
async function useWebgpu(): Promise<string[]> {
  const { registerWebgpuKernels } = await import("./kernels/webgpu/mod.ts");
  const kernels = registerWebgpuKernels();
  if (!(await tf.setBackend("webgpu"))) throw new UserError("the webgpu backend failed to start");
  return kernels;
}

/**
 * Starts the wasm backend, multi-threaded when `threads` > 1 (about 1.4× faster for a DCGAN step
 * on an idle 2-core machine; slower when the cores are busy, hence opt-in).
 */
async function startWasm(threads: number): Promise<{ ok: boolean; threads: number; note: string }> {
  if (threads > 1) {
    const r = await enableWasmThreads(threads);
    const note = r.error ? `; threads: ${r.error}` : `; ${r.threads} threads`;
    return { ok: tf.getBackend() === "wasm", threads: r.threads, note };
  }
  return { ok: await tf.setBackend("wasm"), threads: 1, note: "" };
}

/** Starts `--backend blas`: single-threaded wasm for the elementwise work, GEMMs on `lib`. */
async function startBlas(lib: Blas): Promise<boolean> {
  setBlas(lib);
  return await tf.setBackend("wasm");
}

/** The BackendChoice of a started blas backend. */
function blasChoice(lib: Blas, reason: string, kernels: string[]): BackendChoice {
  return { name: "blas", reason, device: lib.config, kernels, threads: lib.threads };
}

/** Loads the native BLAS, or null with the reason (auto mode falls through to wasm). */
function tryBlas(threads: number): { lib: Blas | null; why: string } {
  try {
    return { lib: loadBlas(threads), why: "" };
  } catch (e) {
    return { lib: null, why: (e as Error).message };
  }
}

/**
 * Selects and initializes a backend. Explicit names fail with a one-line error when unavailable;
 * `auto` falls through the list in order.
 */
export async function selectBackend(
  name: BackendName = "auto",
  threads = 1,
): Promise<BackendChoice> {
  const kernels = registerFastKernels();
  setBlas(null);
  const choose = (
    n: BackendChoice["name"],
    reason: string,
    device = "",
    ours: string[] = n === "wasm" ? kernels : [],
  ): BackendChoice => ({ name: n, reason, device, kernels: ours });
  switch (name) {
    case "tensorflow": {
      const pkg = await tryTensorflow();
      if (!pkg) {
        throw new UserError(
          "--backend tensorflow needs @tensorflow/tfjs-node or -gpu in ./node_modules (npm install it)",
        );
      }
      return choose("tensorflow", `requested; using ${pkg}`);
    }
    case "webgpu": {
      const adapter = await webgpuAdapter();
      if (!adapter) throw new UserError("--backend webgpu: no WebGPU adapter found");
      const ours = await useWebgpu();
      return choose("webgpu", "requested", adapter.info.description || adapter.info.vendor, ours);
    }
    case "blas": {
      const { lib, why } = tryBlas(threads);
      if (!lib) throw new UserError(why);
      if (!(await startBlas(lib))) throw new UserError("the wasm backend failed to start");
      return blasChoice(lib, `requested; ${lib.threads} BLAS thread(s)`, kernels);
    }
    case "wasm": {
      const w = await startWasm(threads);
      if (!w.ok) throw new UserError("the wasm backend failed to start");
      return { ...choose("wasm", `requested${w.note}`), threads: w.threads };
    }
    case "cpu":
      await tf.setBackend("cpu");
      return choose("cpu", "requested");
    case "auto": {
      const pkg = await tryTensorflow();
      if (pkg) return choose("tensorflow", `auto: ${pkg} is installed`);
      const adapter = await webgpuAdapter();
      if (adapter && !adapter.info.isFallbackAdapter) {
        const ours = await useWebgpu();
        const device = adapter.info.description || adapter.info.vendor;
        return choose("webgpu", `auto: hardware WebGPU adapter (${device})`, device, ours);
      }
      const why = adapter
        ? `only a software WebGPU adapter (${adapter.info.description})`
        : "no WebGPU adapter";
      const blas = tryBlas(threads);
      if (blas.lib && (await startBlas(blas.lib))) {
        const reason = `auto: no tfjs-node, ${why}; wasm with GEMMs on ${blas.lib.library} ` +
          `(${blas.lib.threads} BLAS thread(s))`;
        return blasChoice(blas.lib, reason, kernels);
      }
      setBlas(null);
      const w = await startWasm(threads);
      if (w.ok) {
        const noBlas = `no native BLAS (${blas.why.replace(/^--backend blas: /, "")})`;
        return {
          ...choose("wasm", `auto: no tfjs-node, ${why}, ${noBlas}; wasm (XNNPACK)${w.note}`),
          threads: w.threads,
        };
      }
      await tf.setBackend("cpu");
      return choose("cpu", `auto: no tfjs-node, ${why}, wasm failed to start`);
    }
    default:
      throw new UserError(`unknown backend "${name}" (expected one of ${BACKENDS.join(", ")})`);
  }
}
