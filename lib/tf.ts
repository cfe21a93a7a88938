/**
 * The one place the suite imports TensorFlow.js from.
 *
 * Models are written directly against tfjs-core ops (no tfjs-layers) so each paper script shows its
 * whole algorithm. The `@tensorflow/tfjs` umbrella is imported only for its side effects: the
 * gradient registry and the cpu backend. Its WebGL backend cannot run under Deno (no canvas), so it
 * is removed before anything can pick it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core's Node entry registers no gradients (its ESM register_all_gradients cannot load under
// Deno: extensionless imports); the umbrella package's Node bundle registers them all, globally.
import "@tensorflow/tfjs";

if (tf.findBackendFactory("webgl")) tf.removeBackend("webgl");

export { tf };
/** tfjs version string, recorded in every run manifest. */
export const TFJS_VERSION: string = tf.version_core;

// Production mode: no debug checks, and no tfjs console warnings (the cpu backend otherwise
// advertises tfjs-node on first use; our backend choice is explained by lib/backend.ts instead).
tf.enableProdMode();
