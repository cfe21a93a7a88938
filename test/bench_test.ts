import assert from "node:assert/strict";
import { parseTorchAnchor } from "../lib/kernels/webgpu/bench.ts";

Deno.test("parseTorchAnchor: img/s per batch from torch_dcgan_bench.py output, 64×64 only", () => {
  const text = [
    "some warning",
    "torch R=64 B=64 ms/step=12.41 img/s=5155",
    "torch R=64 B=256 ms/step=10.92 img/s=23440",
    "torch R=128 B=64 ms/step=40.00 img/s=1600",
  ].join("\n");
  assert.deepEqual([...parseTorchAnchor(text)], [[64, 5155], [256, 23440]]);
  assert.equal(parseTorchAnchor("").size, 0);
});
