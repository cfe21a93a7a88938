/**
 * Folders of PNG/JPEG images: CelebA, exported LSUN or FFHQ images, CycleGAN domain pairs.
 *
 * Files are collected recursively (`*.png`, `*.jpg`, `*.jpeg`, any letter case; names starting with
 * "." are skipped) and sorted by their path relative to the root, comparing UTF-16 code units, so
 * the order — and thus `limit` and the checksum — is the same on every machine. Each image is
 * decoded, center-cropped to a square (unless `crop: false`), converted to 1 or 3 channels (alpha
 * is dropped) and resized with {@link resizeImage}.
 *
 * Class labels come from the immediate subfolder names of the root, sorted (like torchvision's
 * ImageFolder); images lying directly in the root are then skipped. A CycleGAN dataset as
 * distributed (`horse2zebra/{trainA,trainB,testA,testB}`) is recognized with `split`: its two
 * domains become classes "A" and "B".
 *
 * @module
 */
import { join, relative } from "node:path";
import { UserError } from "../fsutil.ts";
import { cropToChannels, decodeImage, resizeImage } from "./image.ts";
import {
  checkPositiveInt,
  type ImageDataset,
  isDir,
  type LoadOptions,
  newChecksum,
  readSourceFile,
} from "./types.ts";

/** Download pages of the folder datasets the papers use, for error messages. */
export const FOLDER_DATASET_PAGES: Record<string, string> = {
  CelebA: "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
  LSUN: "https://github.com/fyu/lsun (export the LMDB to images with its data.py)",
  FFHQ: "https://github.com/NVlabs/ffhq-dataset",
  "horse2zebra & other CycleGAN sets":
    "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/",
};

/** Default CelebA location: `img_align_celeba.zip` extracted under `./data/celeba`. */
export const CELEBA_DEFAULT_DIR = "data/celeba";

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** Sorted relative paths ("/"-separated) of all images under `root`. */
export function listImageFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith(".")) continue;
      const full = join(dir, e.name);
      const isDirectory = e.isDirectory || (e.isSymlink && isDir(full));
      if (isDirectory) walk(full);
      else if (IMAGE_EXT.test(e.name)) out.push(relative(root, full).split("\\").join("/"));
    }
  };
  walk(root);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Extra context for error messages: dataset name, download page and expected layout. */
export interface FolderInfo {
  /** Dataset name recorded in {@link ImageDataset.name} (default "folder"). */
  name?: string;
  /** One sentence on where to get the data and how to lay it out. */
  hint?: string;
}

function genericHint(): string {
  const pages = Object.entries(FOLDER_DATASET_PAGES).map(([k, v]) => `${k}: ${v}`).join("; ");
  return `expected <data-dir>/**/*.{png,jpg,jpeg} (class labels from <data-dir>/<class>/…, ` +
    `CycleGAN sets as <data-dir>/{trainA,trainB,testA,testB}/ or <data-dir>/{train,test}/{A,B}/); ` +
    `download pages — ${pages}`;
}

interface Entry {
  path: string;
  label: number;
}

/** Resolves `split` and labels into the list of files to read. */
function collect(
  root: string,
  opts: LoadOptions,
  hint: string,
): { entries: Entry[]; classNames?: string[]; base: string } {
  const split = opts.split;
  if (split !== undefined && isDir(join(root, split))) {
    return collect(join(root, split), { ...opts, split: undefined }, hint);
  }
  if (split !== undefined && isDir(join(root, split + "A")) && isDir(join(root, split + "B"))) {
    // CycleGAN's own zip layout: domains A and B of a split side by side.
    const entries: Entry[] = [];
    ["A", "B"].forEach((d, label) => {
      const dir = join(root, split + d);
      for (const f of listImageFiles(dir)) entries.push({ path: join(dir, f), label });
    });
    return { entries, classNames: ["A", "B"], base: `${join(root, split)}{A,B}` };
  }
  if (split === "test") {
    throw new UserError(
      `no test split in ${root}: expected ${join(root, "test")}/ or ${join(root, "testA")}/ + ` +
        `${join(root, "testB")}/; ${hint}`,
    );
  }
  if (!isDir(root)) throw new UserError(`image folder not found: ${root}; ${hint}`);
  const files = listImageFiles(root);
  if (files.length === 0) throw new UserError(`no .png/.jpg/.jpeg images under ${root}; ${hint}`);
  const topLevel = files.some((f) => !f.includes("/"));
  const useLabels = opts.labels ?? !topLevel;
  if (!useLabels) {
    return { entries: files.map((f) => ({ path: join(root, f), label: 0 })), base: root };
  }
  const nested = files.filter((f) => f.includes("/"));
  if (nested.length === 0) {
    throw new UserError(
      `labels requested but ${root} has no class subfolders with images; ${hint}`,
    );
  }
  const classNames = [...new Set(nested.map((f) => f.slice(0, f.indexOf("/"))))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  const index = new Map(classNames.map((c, i) => [c, i]));
  const entries = nested.map((f) => ({
    path: join(root, f),
    label: index.get(f.slice(0, f.indexOf("/")))!,
  }));
  return { entries, classNames, base: root };
}

/**
 * Loads all (or the first `opts.limit`) images under `root` into one dataset. Without `size`,
 * every image must have the same (cropped) dimensions.
 */
export function loadImageFolder(
  root: string,
  opts: LoadOptions = {},
  info: FolderInfo = {},
): ImageDataset {
  const size = checkPositiveInt("size", opts.size);
  const limit = checkPositiveInt("limit", opts.limit);
  const channels = opts.channels ?? 3;
  const crop = opts.crop ?? true;
  const hint = info.hint ?? genericHint();
  const { entries: all, classNames, base } = collect(root, opts, hint);
  const entries = all.slice(0, limit ?? all.length);
  const n = entries.length;
  const hash = newChecksum();

  let height = 0;
  let width = 0;
  let pixels = new Uint8Array(0);
  let first = "";
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const file = entries[i].path;
    const bytes = readSourceFile(file, hash, `image file disappeared while loading: ${file}`);
    const img = cropToChannels(decodeImage(bytes, file), channels, crop);
    if (i === 0) {
      height = size ?? img.height;
      width = size ?? img.width;
      first = file;
      pixels = new Uint8Array(n * height * width * channels);
    }
    let data = img.data;
    if (size !== undefined) {
      data = resizeImage(img.data, img.height, img.width, channels, size, size);
    } else if (img.height !== height || img.width !== width) {
      throw new UserError(
        `${file} is ${img.width}×${img.height} (after cropping) but ${first} is ` +
          `${width}×${height}; pass --size to resize all images to one size`,
      );
    }
    pixels.set(data, i * height * width * channels);
    labels[i] = entries[i].label;
    if (opts.onProgress && ((i + 1) % 1000 === 0 || i + 1 === n)) opts.onProgress(i + 1, n);
  }

  return {
    name: info.name ?? "folder",
    pixels,
    labels: classNames ? labels : undefined,
    classNames,
    n,
    height,
    width,
    channels,
    checksum: hash.digest("hex"),
    source: `${n} images under ${base}`,
  };
}

/**
 * Loads CelebA's aligned-and-cropped faces (178×218 JPEGs) from `<dataDir>/img_align_celeba/`,
 * or from `dataDir` itself when the JPEGs are directly in it. Default dir {@link CELEBA_DEFAULT_DIR}.
 */
export function loadCelebA(opts: LoadOptions = {}): ImageDataset {
  const root = opts.dataDir ?? CELEBA_DEFAULT_DIR;
  const sub = join(root, "img_align_celeba");
  const hint = `download img_align_celeba.zip ("Align&Cropped Images") from ` +
    `${FOLDER_DATASET_PAGES.CelebA} and extract it so that ` +
    `<data-dir>/img_align_celeba/000001.jpg … exist, then pass --data-dir <data-dir>`;
  const dir = isDir(sub) ? sub : root;
  if (!isDir(dir)) throw new UserError(`CelebA not found: no directory ${sub}; ${hint}`);
  // CelebA has no classes; `split` does not apply (the official partition file is not used).
  return loadImageFolder(dir, { ...opts, split: undefined, labels: false }, {
    name: "celeba",
    hint,
  });
}
