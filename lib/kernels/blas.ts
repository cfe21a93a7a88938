/**
 * A native CBLAS `sgemm` (OpenBLAS by default) reached through Deno's FFI, for `--backend blas`.
 *
 * Why: the wasm backend's GEMM (XNNPACK on 128-bit wasm SIMD, no FMA) peaks near 40 GFLOP/s per
 * core, while OpenBLAS on the same core uses AVX2/AVX-512 FMA (~105 GFLOP/s measured on this
 * project's AMD EPYC for a 256×512·512×512 GEMM, ~175 on 2 threads). The tensors stay in the wasm
 * heap: FFI passes a view of wasm memory as a pointer, so no data is copied.
 *
 * Only `sgemm` is needed; everything else (im2col, col2im, elementwise ops) stays in the wasm
 * backend (see `wasm.ts`). Results repeat exactly for a given thread count (checked in the
 * tests) but not across thread counts (measured: 1 and 2 threads differ in the last bits), and
 * they can depend on the CPU (OpenBLAS picks its kernels per CPU model), which is why the manifest
 * records {@link Blas.config} and the thread count.
 *
 * @module
 */

/** Where Debian/Ubuntu (`apt install libopenblas0-pthread`) and Homebrew put OpenBLAS. */
const DEFAULT_PATHS: Record<string, string> = {
  "linux-x86_64": "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "linux-aarch64": "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "darwin-aarch64": "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "darwin-x86_64": "/usr/local/opt/openblas/lib/libopenblas.dylib",
};

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // layout
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
  // From libc, which dlsym reaches through the library's dependencies: reading a C string with
  // Deno.UnsafePointerView would need --allow-ffi for every library, not just this one.
  strlen: { parameters: ["pointer"], result: "usize", optional: true },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer", optional: true },
} as const;

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/** A loaded CBLAS library. */
export interface Blas {
  /** Path it was loaded from. */
  library: string;
  /** The library's own description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH … (core SkylakeX)". */
  config: string;
  /** Threads the library uses per GEMM. */
  threads: number;
  /**
   * Row-major `C = op(A)·op(B) + beta·C` with op(A) m×k, op(B) k×n, C m×n. Each matrix is given
   * as a Float32Array and an element offset into it; leading dimensions are those of the stored
   * (untransposed) matrices, i.e. dense storage.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    aOffset: number,
    b: Float32Array,
    bOffset: number,
    c: Float32Array,
    cOffset: number,
    beta?: number,
  ): void;
}

let loaded: Blas | null = null;
let setThreads: (n: number) => void = () => {};

/** The library path `loadBlas` tries: `$GANREPRO_BLAS`, else the platform's OpenBLAS. */
export function blasPath(): string {
  let env: string | undefined;
  try {
    env = Deno.env.get("GANREPRO_BLAS");
  } catch {
    env = undefined; // no --allow-env: use the default
  }
  if (env) return env;
  const key = `${Deno.build.os}-${Deno.build.arch}`;
  return DEFAULT_PATHS[key] ?? "libopenblas.so.0";
}

/**
 * Loads the CBLAS library once (later calls return the same handle; `threads` then only resets
 * the thread count). Throws an Error with a one-line, actionable message when it cannot.
 */
export function loadBlas(threads = 1): Blas {
  if (loaded) {
    setThreads(threads);
    return loaded;
  }
  const library = blasPath();
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(library, SYMBOLS);
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    const hint = e instanceof Deno.errors.NotCapable || /--allow-ffi/.test(msg)
      ? `run deno with --allow-ffi=${library}`
      : "install OpenBLAS (Debian/Ubuntu: apt install libopenblas0-pthread) or set GANREPRO_BLAS " +
        "to a CBLAS library";
    throw new Error(`--backend blas: cannot load ${library} (${msg}); ${hint}`);
  }
  const s = lib.symbols;
  const cString = (p: Deno.PointerValue): string => {
    if (p == null || !s.strlen || !s.memcpy) return "";
    const bytes = new Uint8Array(Number(s.strlen(p)));
    s.memcpy(bytes, p, BigInt(bytes.length));
    return new TextDecoder().decode(bytes);
  };
  const core = s.openblas_get_corename ? cString(s.openblas_get_corename()) : "";
  const config = (s.openblas_get_config ? cString(s.openblas_get_config()).trim() : library) +
    (core ? ` (core ${core})` : "");
  const blas: Blas = {
    library,
    config,
    threads: 1,
    sgemm(transA, transB, m, n, k, a, aOffset, b, bOffset, c, cOffset, beta = 0) {
      if (m === 0 || n === 0) return;
      const lda = transA ? m : k, ldb = transB ? k : n;
      // A subarray is a view: FFI passes its own start (buffer start + byteOffset).
      s.cblas_sgemm(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        1,
        a.subarray(aOffset, aOffset + m * k),
        Math.max(1, lda),
        b.subarray(bOffset, bOffset + k * n),
        Math.max(1, ldb),
        beta,
        c.subarray(cOffset, cOffset + m * n),
        Math.max(1, n),
      );
    },
  };
  setThreads = (n) => {
    if (s.openblas_set_num_threads) s.openblas_set_num_threads(Math.max(1, n));
    blas.threads = s.openblas_get_num_threads ? s.openblas_get_num_threads() : 1;
  };
  setThreads(threads);
  loaded = blas;
  return blas;
}
