/** Shared test fixtures. */
import type { Manifest } from "../lib/run.ts";

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
