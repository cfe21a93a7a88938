/**
 * The small slice of tfjs-backend-webgpu 4.22.0 that our kernels talk to, typed here because the
 * package does not export its program or backend types.
 *
 * A program is a plain object that the backend compiles once per `shaderKey` (it appends the input
 * ranks and dtypes) and dispatches with `runWebGPUProgram`. The backend wraps `getUserCode()` in a
 * prelude that declares `result` (the output buffer, `array<f32>`), one read-only `array<f32>` per
 * name in `variableNames`, the `uniforms` struct (input/output shapes, then the fields listed in
 * `program.uniforms`, filled in order from the `uniformData` argument), and the private variables
 * `localId`, `workgroupId`, `globalId`. Everything baked into the WGSL text must be in `shaderKey`;
 * everything else (sizes) goes through uniforms so one pipeline serves every shape.
 *
 * @module
 */
import { tf } from "../../tf.ts";

/** What `runWebGPUProgram` reads from a program object (see webgpu_program.d.ts in the package). */
export interface GpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  /** Extra uniform fields, e.g. `"dimM : i32, dimN : i32,"`. */
  uniforms?: string;
  /** Adds `uniforms.size` (the output's element count). */
  size?: boolean;
  getUserCode(): string;
}

/** One uniform value (or small vector) in declaration order. */
export interface UniformData {
  type: "int32" | "uint32" | "float32";
  data: number[];
}

/** The WebGPU backend object, reduced to what we call. Field names are the package's own. */
export interface WebgpuBackend {
  device: GPUDevice;
  runWebGPUProgram(
    program: GpuProgram,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniformData?: UniformData[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
  uploadToGPU(dataId: tf.DataId): void;
  tensorMap: { get(dataId: tf.DataId): { resource: unknown; dtype: tf.DataType } };
  makeUniforms(data: UniformData[]): GPUBufferBinding;
  // Command recording state, used by the fused Adam dispatch (three outputs, which
  // runWebGPUProgram cannot express).
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<tf.DataId>;
}

/** Int32 uniforms, one field each, in the order they are declared. */
export function ints(...values: number[]): UniformData[] {
  return values.map((v) => ({ type: "int32", data: [v] }));
}

/** The largest dispatch size along one dimension that every WebGPU device accepts. */
export const MAX_DISPATCH = 65535;
