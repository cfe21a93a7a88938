/**
 * The dataset type every loader returns, the options they accept, and the small file helpers they
 * share (reading a source file while hashing it, so a run manifest can record exactly which bytes
 * were trained on).
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { UserError } from "../fsutil.ts";

/** An image dataset held in memory as raw bytes (NHWC), small enough to hold CelebA at 64×64. */
export interface ImageDataset {
  /** Loader name: "mnist", "fashion-mnist", "cifar10", "celeba" or "folder". */
  name: string;
  /** N*H*W*C raw 0..255 values, NHWC order. */
  pixels: Uint8Array;
  /** Class label per image (length N), when the dataset has classes. */
  labels?: Int32Array;
  /** Name of each class id, when the dataset has classes. */
  classNames?: string[];
  /** Number of images. */
  n: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** sha256 hex over the source files' on-disk bytes, in the order they were read. */
  checksum: string;
  /** Human-readable description of what was read (paths). */
  source: string;
}

/** Options accepted by {@link loadDataset}; each loader ignores what does not apply to it. */
export interface LoadOptions {
  /** Directory to read from instead of the dataset's default location. */
  dataDir?: string;
  /** "train" (default) or "test". For folders: a subfolder `<dataDir>/<split>` if present. */
  split?: "train" | "test";
  /** Resize every image to size×size (see {@link resizeImage} for the filter). */
  size?: number;
  /** Output channels: 1 = grayscale (ITU-R 601 luma), 3 = RGB (gray is replicated). */
  channels?: 1 | 3;
  /** Keep only the first `limit` images (folders: only the first `limit` files are decoded). */
  limit?: number;
  /** Folders only: center-crop each image to a square before resizing (default true). */
  crop?: boolean;
  /**
   * Folders only: class labels from immediate subfolder names. Default: on when every image lies
   * in a subfolder of the root, off when the root holds images directly.
   */
  labels?: boolean;
  /** Called now and then while a folder is decoded (done, total), for progress output. */
  onProgress?: (done: number, total: number) => void;
}

/** The sha256 of a stream of source files, updated as each file is read. */
export function newChecksum(): Hash {
  return createHash("sha256");
}

/**
 * Reads a whole file and feeds its bytes into `hash`. A missing or unreadable file becomes a
 * {@link UserError} whose text is `missing` (so each loader can say where to get its data).
 */
export function readSourceFile(path: string, hash: Hash, missing: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UserError(missing);
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  hash.update(bytes);
  return bytes;
}

/** True when `path` is an existing regular file (following symlinks). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** True when `path` is an existing directory (following symlinks). */
export function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Validates an optional positive-integer option (`--size`, `--limit`) and returns it. */
export function checkPositiveInt(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) {
    throw new UserError(`${name} must be a positive integer, got ${v}`);
  }
  return v;
}
