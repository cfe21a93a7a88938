/**
 * IDX files, the format of MNIST and Fashion-MNIST.
 *
 * Layout (all integers big-endian): two zero bytes, a type byte (0x08 = unsigned byte, the only
 * type these datasets use), a byte with the number of dimensions, one uint32 per dimension, then
 * the values in row-major order. So images start with magic 0x00000803 and dims [N, rows, cols],
 * labels with 0x00000801 and dims [N].
 *
 * Files may be gzipped (`.gz`, as distributed by Fashion-MNIST); they are gunzipped in memory.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import type { Hash } from "node:crypto";
import { UserError } from "../fsutil.ts";
import { newChecksum, readSourceFile } from "./types.ts";

/** A parsed IDX file: its dimensions and the values (a view into the file bytes, no copy). */
export interface IdxArray {
  /** Dimensions, e.g. [60000, 28, 28] for MNIST training images. */
  dims: number[];
  /** Row-major unsigned-byte values; length is the product of `dims`. */
  data: Uint8Array;
}

/** True when `bytes` start with the gzip magic 1f 8b (an IDX file always starts with 00 00). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips `bytes` when they are gzip data; `file` names the file in the error if it is corrupt. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new UserError(`corrupt gzip file ${file}: ${(e as Error).message}`);
  }
}

/**
 * Parses IDX bytes (already gunzipped). `expectDims` (1 for labels, 3 for images) is checked when
 * given. Any inconsistency throws a {@link UserError} naming `file`.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectDims?: number): IdxArray {
  const bad = (what: string) => new UserError(`corrupt IDX file ${file}: ${what}`);
  if (bytes.length < 4) throw bad(`only ${bytes.length} bytes, too short for the IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const hex = "0x" + magic.toString(16).padStart(8, "0");
  if (bytes[0] !== 0 || bytes[1] !== 0) throw bad(`bad magic number ${hex}`);
  if (bytes[2] !== 0x08) {
    throw bad(`magic ${hex} declares data type 0x${bytes[2].toString(16)}, only 0x08 (ubyte)`);
  }
  const ndim = bytes[3];
  if (expectDims !== undefined && ndim !== expectDims) {
    const want = "0x" + (0x0800 + expectDims).toString(16).padStart(8, "0");
    throw bad(`magic ${hex} has ${ndim} dimensions, expected ${want} (${expectDims})`);
  }
  if (ndim === 0) throw bad(`magic ${hex} declares 0 dimensions`);
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    throw bad(`expected a ${headerLen}-byte header, found ${bytes.length} bytes`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerLen + count;
  if (bytes.length !== expected) {
    throw bad(`expected ${expected} bytes, found ${bytes.length} (dims ${dims.join("×")})`);
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/**
 * Reads and parses an IDX file (plain or gzipped), feeding its on-disk bytes into `hash`.
 * `missing` is the error text if the file does not exist.
 */
export function readIdx(
  path: string,
  expectDims?: number,
  hash: Hash = newChecksum(),
  missing = `IDX file not found: ${path}`,
): IdxArray {
  const raw = readSourceFile(path, hash, missing);
  return parseIdx(maybeGunzip(raw, path), path, expectDims);
}
