/**
 * Checkpoints as a tfjs `IOHandler` writing to files: `model.json` (weight specs plus our training
 * state) and a weights file. The weights file is written first under a fresh name and `model.json`
 * is renamed into place last, so a crash at any moment leaves the previous checkpoint intact.
 *
 * @module
 */
import { join } from "node:path";
import { tf } from "./tf.ts";
import { exists, UserError, writeFileAtomic } from "./fsutil.ts";

/** A tfjs IOHandler that saves/loads model artifacts in a directory. */
export class FileIOHandler implements tf.io.IOHandler {
  /** A handler for the checkpoint directory `dir`. */
  constructor(readonly dir: string) {}

  /** Writes the weights file, then `model.json`, then removes the previous weights file. */
  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    await Deno.mkdir(this.dir, { recursive: true });
    const old = await this.#readJson().catch(() => null);
    const weightsName = `weights-${Date.now()}-${crypto.randomUUID().slice(0, 8)}.bin`;
    const data = artifacts.weightData
      ? new Uint8Array(tf.io.concatenateArrayBuffers(
        Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData],
      ))
      : new Uint8Array();
    await writeFileAtomic(join(this.dir, weightsName), data);
    const json = {
      format: "ganrepro-checkpoint",
      modelTopology: artifacts.modelTopology ?? null,
      weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
      userDefinedMetadata: artifacts.userDefinedMetadata ?? {},
    };
    await writeFileAtomic(join(this.dir, "model.json"), JSON.stringify(json));
    const oldName = old?.weightsManifest?.[0]?.paths?.[0];
    if (oldName && oldName !== weightsName) {
      await Deno.remove(join(this.dir, oldName)).catch(() => {});
    }
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: "JSON",
        weightDataBytes: data.byteLength,
      },
    };
  }

  /** Reads `model.json` and its weights file, checking the file's size against the specs. */
  async load(): Promise<tf.io.ModelArtifacts> {
    const json = await this.#readJson();
    const manifest = json.weightsManifest?.[0];
    if (!manifest) throw new UserError(`corrupt checkpoint ${this.dir}/model.json: no weights`);
    const bytes = await Deno.readFile(join(this.dir, manifest.paths[0]));
    const specs: tf.io.WeightsManifestEntry[] = manifest.weights;
    const expected = specs.reduce(
      (a, s) => a + s.shape.reduce((x, y) => x * y, 1) * (s.dtype === "bool" ? 1 : 4),
      0,
    );
    if (bytes.byteLength !== expected) {
      throw new UserError(
        `corrupt checkpoint ${this.dir}: weights file has ${bytes.byteLength} bytes, expected ${expected}`,
      );
    }
    return {
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      userDefinedMetadata: json.userDefinedMetadata,
    };
  }

  async #readJson() {
    const path = join(this.dir, "model.json");
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      throw new UserError(`no checkpoint at ${path}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new UserError(`corrupt checkpoint ${path}: not JSON`);
    }
  }
}

/** Training state beside the tensors: counters, RNG states, anything JSON. */
export type CheckpointState = Record<string, unknown>;

/** Saves named tensors plus JSON state to `dir`. */
export async function saveCheckpoint(
  dir: string,
  tensors: Map<string, tf.Tensor>,
  state: CheckpointState,
): Promise<void> {
  const named: tf.NamedTensorMap = Object.fromEntries(tensors);
  const { data, specs } = await tf.io.encodeWeights(named);
  await new FileIOHandler(dir).save({
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: state as Record<string, object>,
  });
}

/** Loads a checkpoint saved by {@link saveCheckpoint}. */
export async function loadCheckpoint(
  dir: string,
): Promise<{ tensors: Map<string, tf.Tensor>; state: CheckpointState }> {
  const art = await new FileIOHandler(dir).load();
  const named = tf.io.decodeWeights(art.weightData!, art.weightSpecs!);
  return {
    tensors: new Map(Object.entries(named)),
    state: (art.userDefinedMetadata ?? {}) as CheckpointState,
  };
}

/** True when `dir` holds a checkpoint. */
export function hasCheckpoint(dir: string): Promise<boolean> {
  return exists(join(dir, "model.json"));
}
