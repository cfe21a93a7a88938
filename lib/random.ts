/**
 * Seeded randomness for the whole suite.
 *
 * One `--seed` drives everything: weight initialization, latent noise, dropout masks and data order.
 * We generate all random numbers on the host with our own PRNG (xoshiro128**) instead of tfjs's
 * random ops, because (a) the stream state is four integers we can checkpoint, so a resumed run
 * continues the exact same stream, and (b) the values are identical on every backend.
 *
 * @module
 */
import { tf } from "./tf.ts";

/** Serializable state of an {@link Rng}: four 32-bit words. */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(label: string): number {
  // FNV-1a: a stable stream id per label, so adding a new stream never shifts the others.
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** xoshiro128** generator with uniform, normal, integer and shuffle helpers. */
export class Rng {
  #s: Uint32Array;

  /** Seeds a generator; `stream` selects an independent stream for the same seed. */
  constructor(seed: number, stream = "") {
    const mix = splitmix32((seed ^ hashString(stream)) >>> 0);
    this.#s = new Uint32Array([mix(), mix(), mix(), mix()]);
    if (this.#s.every((v) => v === 0)) this.#s[0] = 1;
  }

  /** Rebuilds a generator from a saved state. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.#s = new Uint32Array(state);
    return r;
  }

  /** Continues from a saved state (in place, so holders of this Rng see the restored stream). */
  setState(state: RngState): void {
    this.#s = new Uint32Array(state);
  }

  /** The current state, for checkpoints. */
  state(): RngState {
    return [this.#s[0], this.#s[1], this.#s[2], this.#s[3]];
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal sample (Box–Muller; one of the pair is discarded so state stays 4 words). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1], avoids log(0)
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills a new array with N(mean, std²) samples. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** Fills a new array with U(lo, hi) samples. */
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** A float32 tensor of N(mean, std²) samples — the latent noise z of every paper. */
  randn(shape: number[], mean = 0, std = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(this.normalArray(n, mean, std), shape, "float32");
  }

  /** A float32 tensor of U(lo, hi) samples. */
  rand(shape: number[], lo = 0, hi = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(this.uniformArray(n, lo, hi), shape, "float32");
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
