/**
 * ganrepro — classic GAN papers reproduced in Deno + TensorFlow.js, one readable script per paper
 * (`papers/<name>.ts`) over this small shared library.
 *
 * ```ts
 * import { Linear, Rng, selectBackend, tf } from "./mod.ts";
 * await selectBackend("auto");
 * const layer = new Linear(new Rng(0, "init"), 100, 784);
 * ```
 *
 * @module
 */
export { tf, TFJS_VERSION } from "./lib/tf.ts";
export * from "./lib/random.ts";
export * from "./lib/backend.ts";
export * from "./lib/nn.ts";
export * from "./lib/optim.ts";
export * from "./lib/losses.ts";
export * from "./lib/data/mod.ts";
export * from "./lib/image.ts";
export * from "./lib/plot.ts";
export * from "./lib/run.ts";
export * from "./lib/checkpoint.ts";
export * from "./lib/cli.ts";
export * from "./lib/experiment.ts";
export * from "./lib/fsutil.ts";
export * from "./lib/figures.ts";
export * from "./lib/metrics.ts";
export * from "./lib/classifier.ts";
export {
  evaluateRun,
  evaluateSampleFile,
  evaluateSamples,
  type Metrics,
  type RunMetrics,
  writeMetrics,
} from "./lib/eval.ts";
export * from "./lib/inception.ts";
export * from "./lib/report.ts";
export * from "./lib/cite.ts";
export * from "./lib/compare.ts";
export * from "./lib/reference.ts";
export { comparisonMarkdown, writeComparison } from "./lib/comparison.ts";
export * from "./lib/kernels/opcount.ts";
export * from "./lib/spectral_norm.ts";
export * from "./lib/equalized.ts";
