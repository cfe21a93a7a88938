/**
 * CIFAR-10, "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * The tarball extracts to `cifar-10-batches-bin/` with `data_batch_1.bin` … `data_batch_5.bin`
 * (training, 10000 images each) and `test_batch.bin`. Each record is 1 label byte followed by
 * 3072 pixel bytes stored channel-planar: the 32×32 red plane, then green, then blue, each
 * row-major. We convert to the interleaved HWC layout every other loader uses.
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../fsutil.ts";
import { transformImages } from "./image.ts";
import {
  checkPositiveInt,
  type ImageDataset,
  isFile,
  type LoadOptions,
  newChecksum,
  readSourceFile,
} from "./types.ts";

/** CIFAR-10 class names in label order (as in `batches.meta.txt`). */
export const CIFAR10_CLASSES: string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

/** Default location: the tarball extracted under `./data`. */
export const CIFAR10_DEFAULT_DIR = "data";

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** Batch file names of a split, in read order. */
export function cifarBatchFiles(split: "train" | "test"): string[] {
  return split === "train" ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ["test_batch.bin"];
}

/**
 * Loads CIFAR-10 from `opts.dataDir` (default {@link CIFAR10_DEFAULT_DIR}), which may be the
 * `cifar-10-batches-bin` folder itself or its parent. With `limit`, batch files past the first
 * `limit` records are not read (and so not hashed).
 */
export function loadCifar10(opts: LoadOptions = {}): ImageDataset {
  const split = opts.split ?? "train";
  const size = checkPositiveInt("size", opts.size);
  const limit = checkPositiveInt("limit", opts.limit);
  const files = cifarBatchFiles(split);
  const root = opts.dataDir ?? CIFAR10_DEFAULT_DIR;
  const dir = [join(root, "cifar-10-batches-bin"), root].find((d) => isFile(join(d, files[0])));
  const missingText = (what: string) =>
    `CIFAR-10 not found: ${what}; download the "CIFAR-10 binary version" ` +
    `(cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html and extract it ` +
    `so that <data-dir>/cifar-10-batches-bin/ holds data_batch_1.bin … data_batch_5.bin and ` +
    `test_batch.bin, then pass --data-dir <data-dir>`;
  if (!dir) {
    throw new UserError(missingText(`no ${files[0]} in ${join(root, "cifar-10-batches-bin")}`));
  }

  const hash = newChecksum();
  const chunks: Uint8Array[] = [];
  const read: string[] = [];
  let records = 0;
  for (const f of files) {
    if (limit !== undefined && records >= limit) break;
    const path = join(dir, f);
    const bytes = readSourceFile(path, hash, missingText(`${path} is missing`));
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      throw new UserError(
        `corrupt CIFAR-10 file ${path}: ${bytes.length} bytes is not a whole number of ` +
          `${RECORD}-byte records (expected 30730000 for 10000 images)`,
      );
    }
    chunks.push(bytes);
    read.push(path);
    records += bytes.length / RECORD;
  }

  const n = Math.min(records, limit ?? records);
  const pixels = new Uint8Array(n * PLANE * 3);
  const labels = new Int32Array(n);
  let i = 0;
  for (let c = 0; c < chunks.length && i < n; c++) {
    const bytes = chunks[c];
    for (let r = 0; r * RECORD < bytes.length && i < n; r++, i++) {
      const rec = r * RECORD;
      const label = bytes[rec];
      if (label >= CIFAR10_CLASSES.length) {
        throw new UserError(`corrupt CIFAR-10 file ${read[c]}: label ${label} in record ${r}`);
      }
      labels[i] = label;
      // Planar (R plane, G plane, B plane) → interleaved HWC.
      const out = i * PLANE * 3;
      for (let p = 0; p < PLANE; p++) {
        pixels[out + 3 * p] = bytes[rec + 1 + p];
        pixels[out + 3 * p + 1] = bytes[rec + 1 + PLANE + p];
        pixels[out + 3 * p + 2] = bytes[rec + 1 + 2 * PLANE + p];
      }
    }
  }

  const channels = opts.channels ?? 3;
  const t = transformImages(pixels, n, SIDE, SIDE, 3, channels, size);
  return {
    name: "cifar10",
    pixels: t.pixels,
    labels,
    classNames: CIFAR10_CLASSES.slice(),
    n,
    height: t.height,
    width: t.width,
    channels,
    checksum: hash.digest("hex"),
    source: read.join(" + "),
  };
}
