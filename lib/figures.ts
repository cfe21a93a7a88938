/**
 * Figures every paper writes from its run directory: loss/score curves from `losses.jsonl` (SVG
 * and PNG from one scene), and the epoch series and animated progress strip built from the
 * per-epoch fixed-noise grids.
 *
 * @module
 */
import { decodePng, encodeApng, encodePng, hstack, type RgbImage } from "./image.ts";
import { type LinePlotOptions, linePlotScene, savePlot } from "./plot.ts";
import { writeFileAtomic } from "./fsutil.ts";
import type { Run } from "./run.ts";

/**
 * Plots columns of `losses.jsonl` against the step as `<name>.svg` and `<name>.png`.
 * `columns` maps a legend label to a record key.
 */
export async function plotLosses(
  run: Run,
  name: string,
  columns: Record<string, string>,
  opts: LinePlotOptions = {},
): Promise<void> {
  const records = await run.readLosses();
  const steps = records.map((r) => r.step);
  const scene = linePlotScene(
    Object.entries(columns).map(([label, key]) => ({
      name: label,
      x: steps,
      y: records.map((r) => r[key]),
    })),
    { xLabel: "iteration", ...opts },
  );
  await savePlot(run.path(`${name}.svg`), scene);
  await savePlot(run.path(`${name}.png`), scene);
}

/** Path of the fixed-noise grid saved after `epoch` (1-based). */
export function epochGridPath(run: Run, epoch: number): string {
  return run.path("grids", `epoch_${String(epoch).padStart(3, "0")}.png`);
}

/**
 * From the per-epoch grids: `epoch_series.png` (the chosen epochs side by side, as the source's
 * epoch 1/25/50 figure) and `progress.png`, an animated PNG of every epoch.
 */
export async function progressFigures(
  run: Run,
  epochs: number,
  seriesEpochs: number[],
  delayMs = 200,
): Promise<void> {
  const frames: RgbImage[] = [];
  const series: RgbImage[] = [];
  for (let e = 1; e <= epochs; e++) {
    const img = decodePng(await Deno.readFile(epochGridPath(run, e)));
    frames.push(img);
    if (seriesEpochs.includes(e)) series.push(img);
  }
  if (series.length > 0) {
    await writeFileAtomic(run.path("epoch_series.png"), encodePng(hstack(series, 4)));
  }
  await writeFileAtomic(run.path("progress.png"), encodeApng(frames, delayMs));
}
