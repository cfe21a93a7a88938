/**
 * Backend selection: `--backend auto|tensorflow|webgpu|wasm|cpu`.
 *
 * `auto` takes the fastest backend that works here: the native TensorFlow binding when the user has
 * installed `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (never required: its installer
 * downloads libtensorflow, which many machines cannot reach), then WebGPU when a hardware adapter
 * exists (a software/fallback adapter such as llvmpipe is slower than wasm), then wasm, then cpu.
 *
 * @module
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tf } from "./tf.ts";
import { registerFastKernels } from "./kernels/mod.ts";
import { UserError } from "./fsutil.ts";

/** Names accepted by `--backend`. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** The backend in use and why it was chosen (printed once and recorded in the manifest). */
export interface BackendChoice {
  name: Exclude<BackendName, "auto">;
  reason: string;
  /** Adapter description for WebGPU, e.g. "NVIDIA H100"; empty otherwise. */
  device: string;
  /** Our kernels registered over the backend's own (see lib/kernels). */
  kernels: string[];
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
 * Selects and initializes a backend. Explicit names fail with a one-line error when unavailable;
 * `auto` falls through the list in order.
 */
export async function selectBackend(name: BackendName = "auto"): Promise<BackendChoice> {
  const kernels = registerFastKernels();
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
    case "wasm":
      if (!(await tf.setBackend("wasm"))) throw new UserError("the wasm backend failed to start");
      return choose("wasm", "requested");
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
      if (await tf.setBackend("wasm")) {
        return choose("wasm", `auto: no tfjs-node, ${why}; wasm (XNNPACK) with our kernels`);
      }
      await tf.setBackend("cpu");
      return choose("cpu", `auto: no tfjs-node, ${why}, wasm failed to start`);
    }
    default:
      throw new UserError(`unknown backend "${name}" (expected one of ${BACKENDS.join(", ")})`);
  }
}
