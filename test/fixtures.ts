/** Shared test fixtures. */
import assert from "node:assert/strict";
import type { Manifest } from "../lib/run.ts";
import { tf } from "../lib/tf.ts";

/** Asserts |actual − expected| ≤ tol, naming both and the difference when it fails. */
export function assertClose(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what} expected ${expected}, got ${actual} (|diff| ${Math.abs(actual - expected)} > ${tol})`,
  );
}

/** Largest elementwise |a − b| of two same-shaped tensors (read synchronously: cpu tests). */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** A complete run manifest with plausible values; `over` replaces fields. */
export function fakeManifest(over: Partial<Manifest> = {}): Manifest {
  return {
    paper: "gan",
    runId: "x",
    status: "complete",
    config: { epochs: 2 },
    seed: 0,
    backend: { name: "wasm", reason: "requested", device: "", kernels: [] },
    versions: { deno: "2.9.6", v8: "v", typescript: "t", tfjs: "4.22.0" },
    git: { commit: "0123456789abcdef0123", dirty: false },
    dataset: { name: "mnist", n: 60000, checksum: "ab".repeat(32), source: "s" },
    command: [],
    startTime: "2026-01-01T00:00:00Z",
    endTime: "2026-01-01T01:00:00Z",
    resumedAt: [],
    steps: 10,
    images: 640,
    trainSeconds: 1,
    imgPerSec: 640,
    extra: {},
    ...over,
  };
}

/**
 * Runs `f` with synchronous read-backs (`dataSync`, `arraySync`, `bufferSync`) disabled as they
 * are on the webgpu backend under Deno (a synchronous GPU read needs a DOM canvas): allowed only for
 * tensors made from host values (tf.tensor, loaded checkpoints), whose values webgpu still holds on
 * the CPU. Paper tests wrap their quick run in it, so code that would only fail on a GPU fails in
 * CI on wasm.
 */
export async function withoutSyncReads<T>(f: () => Promise<T>): Promise<T> {
  type DataId = object;
  const engine = tf.engine() as unknown as { makeTensor: (...a: unknown[]) => tf.Tensor };
  const { makeTensor } = engine;
  const proto = tf.Tensor.prototype;
  const { dataSync } = proto; // arraySync and bufferSync go through it
  const fromHost = new WeakSet<DataId>();
  engine.makeTensor = function (this: unknown, ...a: unknown[]) {
    const t = makeTensor.apply(this, a);
    fromHost.add(t.dataId);
    return t;
  };
  proto.dataSync = function <D extends tf.DataType>(this: tf.Tensor) {
    if (!fromHost.has(this.dataId)) {
      throw new Error("synchronous read-back (dataSync) is unavailable on WebGPU under Deno");
    }
    return dataSync.call(this) as tf.DataTypeMap[D];
  };
  try {
    return await f();
  } finally {
    proto.dataSync = dataSync;
    engine.makeTensor = makeTensor;
  }
}

/**
 * Asserts that a quick run made by a test reproduces the committed quick reference of its paper
 * (results/<paper>/reference/quick/): same backend, seed and config, so every reference figure
 * must be byte-identical and every metric equal — on whatever machine the tests run. The run is
 * evaluated first where the reference has classifier metrics and the run has none yet.
 */
export async function assertMatchesQuickReference(paper: string, runDir: string): Promise<void> {
  const { compareRuns, formatTable } = await import("../lib/compare.ts");
  const { evaluateRun } = await import("../lib/eval.ts");
  const { exists } = await import("../lib/fsutil.ts");
  const refDir = new URL(`../results/${paper}/reference/quick/`, import.meta.url).pathname;
  if (!(await exists(`${refDir}manifest.json`))) {
    throw new Error(`no committed quick reference for ${paper}: deno task reference <quick run>`);
  }
  if ((await exists(`${refDir}metrics.json`)) && !(await exists(`${runDir}/metrics.json`))) {
    const { n } = JSON.parse(await Deno.readTextFile(`${refDir}metrics.json`));
    await evaluateRun(runDir, { n });
  }
  const rows = await compareRuns(refDir, runDir);
  const table = formatTable(rows);
  if (!rows[0].tolerance.startsWith("identical")) {
    throw new Error(`${runDir} is not the reference's setup (backend, seed, config):\n${table}`);
  }
  const failed = rows.filter((r) => !r.pass);
  if (failed.length) {
    throw new Error(
      `${paper} --quick no longer reproduces results/${paper}/reference/quick ` +
        `(regenerate it with deno task reference if the change is intended):\n${table}`,
    );
  }
  if (!rows.some((r) => /\.(png|svg)$/.test(r.check))) {
    throw new Error(`no figures compared:\n${table}`);
  }
}

/**
 * Writes `<papersDir>/fake.ts`, a stand-in paper script whose `sampleForEval(runDir, n)` returns
 * the first n MNIST test digits (real data) and, with `labels`, their true labels.
 */
export async function writeFakePaper(papersDir: string, labels: boolean): Promise<void> {
  await Deno.mkdir(papersDir, { recursive: true });
  const dataMod = new URL("../lib/data/mod.ts", import.meta.url).href;
  const extra = labels ? ", labels: ds.labels!.slice(0, n)" : "";
  await Deno.writeTextFile(
    `${papersDir}/fake.ts`,
    `import { loadDataset, toTensor } from "${dataMod}";
export async function sampleForEval(runDir: string, n: number) {
  const ds = await loadDataset("mnist", { split: "test", limit: n });
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  return { images: toTensor(ds, idx)${extra} };
}
`,
  );
}

/** Runs `f` on `backend` and returns its outputs as plain arrays. */
export async function outputsOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const data = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return data;
}

/** Asserts `got` ≈ `want` elementwise, with an fp32 tolerance scaled by the magnitude of `want`. */
export function assertArrayClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= 2e-5 * scale, `${what}: element ${i} is ${got[i]}, cpu says ${want[i]}`);
  }
}

/** Padding of a conv test case: tfjs's names or explicit NHWC pairs. */
export type Pad = "same" | "valid" | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];

/** One conv2d geometry for kernel tests. */
export interface ConvCase {
  batch: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  pad: Pad;
}

/** Explicit padding (top, bottom, left, right) in NHWC form. */
export const explicit = (
  t: number,
  b: number,
  l: number,
  r: number,
): Pad => [[0, 0], [t, b], [l, r], [
  0,
  0,
]];

/** Conv geometries every conv kernel is checked on: strides 1–3, same/valid/explicit/asymmetric
 * padding, 1×1 kernels and a 1×1 output. */
export const CONV_CASES: ConvCase[] = [
  { batch: 1, h: 7, w: 5, ci: 2, co: 3, k: 3, s: 1, pad: "same" },
  { batch: 3, h: 7, w: 5, ci: 2, co: 3, k: 3, s: 2, pad: "same" },
  { batch: 3, h: 7, w: 5, ci: 3, co: 4, k: 3, s: 2, pad: "valid" },
  { batch: 1, h: 8, w: 8, ci: 4, co: 2, k: 4, s: 2, pad: "same" },
  { batch: 3, h: 9, w: 7, ci: 2, co: 5, k: 4, s: 2, pad: explicit(1, 1, 1, 1) },
  { batch: 3, h: 7, w: 5, ci: 3, co: 2, k: 5, s: 2, pad: "same" },
  { batch: 1, h: 7, w: 5, ci: 3, co: 2, k: 5, s: 1, pad: "valid" },
  { batch: 3, h: 10, w: 9, ci: 2, co: 3, k: 3, s: 3, pad: explicit(0, 2, 2, 1) },
  { batch: 3, h: 8, w: 6, ci: 2, co: 3, k: 1, s: 2, pad: "valid" },
  { batch: 2, h: 16, w: 16, ci: 8, co: 16, k: 4, s: 2, pad: "same" },
  { batch: 3, h: 4, w: 4, ci: 5, co: 3, k: 4, s: 1, pad: "valid" }, // 1×1 output (DCGAN G1/D5)
];

/** A conv case in one line, for assertion messages. */
export const convLabel = (c: ConvCase): string =>
  `b${c.batch} ${c.h}x${c.w}x${c.ci}->${c.co} k${c.k} s${c.s} ${JSON.stringify(c.pad)}`;
