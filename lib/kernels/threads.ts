/**
 * Multi-threaded tfjs `wasm` backend under Deno.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthreadpool of Web Workers), but
 * under Deno it never gets used, for four reasons, each worked around here for the duration of
 * the backend's initialization only:
 * 1. The flag `WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to false when `IS_NODE` (tfjs issue
 *    #3830) — Deno looks like Node. We set the flag to true.
 * 2. In Node mode Emscripten spawns `worker_threads.Worker(<blob: URL>)`; Deno rejects that with
 *    `ERR_WORKER_PATH: The worker script or module filename must be an absolute path or a
 *    relative path starting with './' or '../'`. We catch Emscripten's `globalThis.Worker =
 *    worker_threads.Worker` assignment and hand it a subclass that starts the same worker
 *    source with `{ eval: true }` instead.
 * 3. That worker source does `Object.assign(global, { self, location, ... })`; in a Deno worker
 *    `location` is a getter-only property (`TypeError: Cannot set property location of
 *    #<DedicatedWorkerGlobalScope> which has only a getter`). A one-line prelude makes `self` and
 *    `location` plain writable properties first.
 * 4. The worker loads the main script from a Blob URL with `fs.readFileSync`, which cannot read
 *    blobs; we point it at the same script's file in the npm cache instead.
 * 5. The C++ side caps the pool at `navigator.hardwareConcurrency / 2` (it assumes
 *    hyper-threading); on a 2-core machine that is 1. `os.cpus()` is made to report 2× the
 *    requested thread count while the pool is created (this also avoids needing `--allow-sys`).
 *
 * @module
 */
import os from "node:os";
import { fileURLToPath } from "node:url";
import { tf } from "../tf.ts";
import * as wasmBackend from "@tensorflow/tfjs-backend-wasm";
import { wasmWorkerContents } from "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js";

/** Outcome of {@link enableWasmThreads}. */
export interface WasmThreadsResult {
  /** Threads XNNPACK actually uses (1 when the threaded build could not start). */
  threads: number;
  /** Why the threaded build was not used, if it was not. */
  error?: string;
}

/** Makes `self` and `location` writable in a Deno worker, so Emscripten's worker can set them. */
const WORKER_PRELUDE =
  'for (const k of ["self", "location"]) Object.defineProperty(globalThis, k, ' +
  "{ value: globalThis[k], writable: true, configurable: true });\n";

/**
 * Initializes the wasm backend with its multi-threaded build and makes it the active backend.
 * Call it instead of the first `tf.setBackend("wasm")` (the thread pool is created once, at
 * backend initialization). Falls back to the single-threaded build, with the reason in `error`,
 * if the threaded one fails. Needs `--allow-read` (as the wasm backend itself does).
 */
export async function enableWasmThreads(threads = 2): Promise<WasmThreadsResult> {
  if (tf.engine().registry["wasm"] != null) {
    await tf.setBackend("wasm");
    return {
      threads: wasmBackend.getThreadsCount(),
      error: "wasm backend was already initialized; threads must be set before that",
    };
  }
  const dist = fileURLToPath(new URL(".", import.meta.resolve("@tensorflow/tfjs-backend-wasm")));
  const mainScript = `${dist}../wasm-out/tfjs-backend-wasm-threaded-simd.js`;
  const workerSource = WORKER_PRELUDE + wasmWorkerContents.replace(/\n/g, "\\n");

  const workerDescriptor = Object.getOwnPropertyDescriptor(globalThis, "Worker")!;
  // deno-lint-ignore no-explicit-any
  let NodeWorker: any = null;
  const makeWorkerClass = (
    Base: new (src: string, opts: object) => {
      postMessage(msg: unknown, transfer?: unknown): void;
      unref(): void;
    },
  ) =>
    class extends Base {
      constructor(_blobUrl: string) {
        super(workerSource, { eval: true });
        this.unref();
      }
      // Emscripten refs a worker while its pthread runs; XNNPACK's pool threads run forever, so
      // that would keep Deno from ever exiting. Idle or not, they must not hold the process.
      ref(): void {}
      override postMessage(msg: unknown, transfer?: unknown): void {
        const m = msg as { cmd?: string; urlOrBlob?: unknown };
        if (m?.cmd === "load" && typeof m.urlOrBlob !== "string") {
          msg = { ...m, urlOrBlob: mainScript };
        }
        super.postMessage(msg, transfer);
      }
    };
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    get: () => (NodeWorker ? makeWorkerClass(NodeWorker) : workerDescriptor.value),
    set: (v) => NodeWorker = v,
  });
  const cpus = os.cpus;
  // deno-lint-ignore no-explicit-any
  (os as any).cpus = () => new Array(2 * threads).fill({});
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasmBackend.setThreadsCount(threads);
  let error: string | undefined;
  try {
    if (!(await tf.setBackend("wasm"))) error = "threaded wasm backend failed to initialize";
  } catch (e) {
    error = (e as Error).message;
  } finally {
    Object.defineProperty(globalThis, "Worker", workerDescriptor);
    // deno-lint-ignore no-explicit-any
    (os as any).cpus = cpus;
  }
  if (error != null) {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    await tf.setBackend("wasm");
  }
  return { threads: wasmBackend.getThreadsCount(), error };
}
