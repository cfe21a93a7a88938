/**
 * A small, dependency-free plotting library for the papers' figures: line plots (loss and D(x)
 * curves, JS vs W1), scatter plots of 2-D samples, histograms of 1-D real vs generated data and
 * contour plots of a critic or density.
 *
 * Every figure is first built as a {@link Scene}: a flat list of primitives (polylines, rects,
 * points, text, one embedded image) in pixel coordinates. {@link sceneToSvg} writes a scene as a
 * standalone SVG and {@link renderScene} rasterizes it (anti-aliased) into an {@link RgbImage}, so
 * the SVG and PNG versions of a figure come from one source of truth. Text in PNGs uses a built-in
 * 5×7 pixel font (printable ASCII); SVGs use a monospace font, and layout uses the same metrics
 * for both (advance 0.6 em, cap height 0.7 em).
 *
 * Non-finite data (NaN, ±Infinity, and values <= 0 on a log axis) are skipped: a line is broken at
 * them. An empty series is an error, and constant data gets a non-degenerate axis.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { encodePng, type RgbImage } from "./image.ts";
import { writeFileAtomic } from "./fsutil.ts";

// ---------------------------------------------------------------------------------------------
// Public option types

/** One line of a line plot. `x` defaults to 0, 1, 2, ... */
export interface Series {
  /** Legend label. */
  name: string;
  /** X values (default: the index). */
  x?: ArrayLike<number>;
  /** Y values. */
  y: ArrayLike<number>;
  /** "#rgb" or "#rrggbb" (default: the next {@link PALETTE} colour). */
  color?: string;
  /** Draw dashed. */
  dashed?: boolean;
  /** Line width in pixels (default 1.5). */
  width?: number;
  /** Also draw a dot at every point (for short trajectories). */
  markers?: boolean;
}

/** Where the legend goes inside the plot area, or `false` for none. */
export type LegendPosition = "top-right" | "top-left" | "bottom-right" | "bottom-left";

/** Axis and figure options shared by all plots. */
export interface Axes {
  /** Title above the plot. */
  title?: string;
  /** Label under the x axis. */
  xLabel?: string;
  /** Label left of the y axis (drawn vertically). */
  yLabel?: string;
  /** Figure width in pixels (default 640). */
  width?: number;
  /** Figure height in pixels (default 400). */
  height?: number;
  /**
   * Fixed x range. Default: line plots extend the data range outward to nice ticks; scatter plots
   * add 5% margins; histograms show the binned range; contour plots the grid.
   */
  xRange?: [number, number];
  /** Fixed y range (defaults as for `xRange`; histograms start at 0). */
  yRange?: [number, number];
  /** Logarithmic y axis (values <= 0 are skipped). */
  logY?: boolean;
  /** Legend placement (default "top-right"); `false` hides it. */
  legend?: LegendPosition | false;
}

/** Options of {@link linePlot}. */
export interface LinePlotOptions extends Axes {
  /**
   * Exponential-moving-average weight in [0, 1) for noisy curves such as GAN losses (default 0 =
   * off). The smoothed value is `s_t = w * s_{t-1} + (1 - w) * y_t`, divided by `1 - w^(k)` after
   * k finite points so the start is not pulled toward 0 (TensorBoard's debiased EMA). The raw
   * curve is drawn faintly behind the smoothed one.
   */
  smooth?: number;
}

/** One set of points of a scatter plot. */
export interface PointGroup {
  /** Legend label. */
  name: string;
  /** X coordinates. */
  x: ArrayLike<number>;
  /** Y coordinates. */
  y: ArrayLike<number>;
  /** "#rgb" or "#rrggbb" (default: the next {@link PALETTE} colour). */
  color?: string;
  /** Dot radius in pixels (default 2.5). */
  radius?: number;
}

/** One sample of a histogram plot. */
export interface HistogramGroup {
  /** Legend label. */
  name: string;
  /** The samples. */
  values: ArrayLike<number>;
  /** "#rgb" or "#rrggbb" (default: the next {@link PALETTE} colour). */
  color?: string;
}

/** Options of {@link histogramPlot}. */
export interface HistogramOptions extends Axes {
  /** Number of equal-width bins (default 30). */
  bins?: number;
  /** Binned range (default: the finite min/max over all groups); values outside are ignored. */
  range?: [number, number];
  /** Normalize each group to unit area, like numpy's `density=True` (default false: counts). */
  density?: boolean;
  /** Curves drawn over the bars, e.g. p_data(x) or the discriminator D(x). */
  overlay?: Series[];
}

/** A scalar field sampled on a rectilinear grid. */
export interface ContourGrid {
  /** Strictly increasing x coordinates of the columns. */
  xs: ArrayLike<number>;
  /** Strictly increasing y coordinates of the rows. */
  ys: ArrayLike<number>;
  /** Row-major values: `z[j * xs.length + i]` is the value at `(xs[i], ys[j])`. */
  z: ArrayLike<number>;
}

/** Options of {@link contourPlot}. */
export interface ContourOptions extends Axes {
  /** Number of (nice) levels across the z range, or explicit levels (default 8). */
  levels?: number | number[];
  /** Fill the bands between levels (viridis) instead of only drawing coloured contour lines. */
  filled?: boolean;
  /** Scatter points drawn on top, e.g. real and generated samples. */
  points?: PointGroup[];
}

// ---------------------------------------------------------------------------------------------
// Scene: the intermediate representation rendered to both SVG and PNG

/** Polylines (each subpath is a flat `[x0, y0, x1, y1, ...]` list) with one stroke style. */
export interface PathItem {
  /** Discriminant. */
  kind: "path";
  /** Polylines in pixel coordinates. */
  subpaths: number[][];
  /** Stroke colour, "#rrggbb". */
  stroke: string;
  /** Stroke width in pixels (round caps and joins). */
  width: number;
  /** Dash pattern in pixels: on, off, on, ... */
  dash?: number[];
  /** Stroke opacity in [0, 1] (default 1). */
  opacity?: number;
  /** Clip to the plot area. */
  clip?: boolean;
  /** Series name, written as `data-name` in the SVG. */
  name?: string;
}

/** An axis-aligned rectangle, filled and/or stroked. */
export interface RectItem {
  /** Discriminant. */
  kind: "rect";
  /** Left edge in pixels. */
  x: number;
  /** Top edge in pixels. */
  y: number;
  /** Width in pixels. */
  w: number;
  /** Height in pixels. */
  h: number;
  /** Fill colour (default: none). */
  fill?: string;
  /** Outline colour (default: none). */
  stroke?: string;
  /** Outline width in pixels (default 1). */
  strokeWidth?: number;
  /** Fill opacity in [0, 1] (default 1). */
  opacity?: number;
  /** Clip to the plot area. */
  clip?: boolean;
}

/** Filled circles of one colour and radius. */
export interface PointsItem {
  /** Discriminant. */
  kind: "points";
  /** Centres as a flat `[x0, y0, x1, y1, ...]` list in pixels. */
  xy: number[];
  /** Radius in pixels. */
  r: number;
  /** Fill colour. */
  fill: string;
  /** Opacity of each dot in [0, 1] (default 1). */
  opacity?: number;
  /** Clip to the plot area. */
  clip?: boolean;
  /** Group name, written as `data-name` in the SVG. */
  name?: string;
}

/** A line of text. */
export interface TextItem {
  /** Discriminant. */
  kind: "text";
  /** Anchor x in pixels. */
  x: number;
  /** Baseline y in pixels. */
  y: number;
  /** The text (printable ASCII renders in PNGs; other characters show as "?"). */
  text: string;
  /** Font size in pixels (em); glyphs are 0.7 em tall and advance 0.6 em. */
  size: number;
  /** Which part of the text sits at `x` (default "start"). */
  anchor?: "start" | "middle" | "end";
  /** Text colour. */
  color?: string;
  /** Rotate -90° about `(x, y)`, reading bottom to top (y-axis labels). */
  vertical?: boolean;
}

/** A raster image stretched over a rectangle (used for filled contours). */
export interface ImageItem {
  /** Discriminant. */
  kind: "image";
  /** Left edge in pixels. */
  x: number;
  /** Top edge in pixels. */
  y: number;
  /** Width in pixels. */
  w: number;
  /** Height in pixels. */
  h: number;
  /** The pixels (RGBA alpha is honoured). */
  image: RgbImage;
  /** Clip to the plot area. */
  clip?: boolean;
}

/** Any scene primitive. */
export type SceneItem = PathItem | RectItem | PointsItem | TextItem | ImageItem;

/** A figure as a list of primitives in pixel coordinates (y down), drawn in order. */
export interface Scene {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Background colour. */
  background: string;
  /** The plot area, which items with `clip` are clipped to. Integer coordinates. */
  plotArea: { x: number; y: number; w: number; h: number };
  /** Primitives, painted in order. */
  items: SceneItem[];
}

// ---------------------------------------------------------------------------------------------
// Colours

/** Default colour cycle (matplotlib's "tab10"). */
export const PALETTE: readonly string[] = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

// Ten samples of matplotlib's viridis colour map, interpolated linearly in between.
const VIRIDIS = [
  "#440154",
  "#482878",
  "#3e4989",
  "#31688e",
  "#26828e",
  "#1f9e89",
  "#35b779",
  "#6ece58",
  "#b5de2b",
  "#fde725",
].map(parseColor);

function parseColor(c: string): [number, number, number] {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
  if (!m) throw new Error(`plot: colours must be "#rgb" or "#rrggbb", got ${JSON.stringify(c)}`);
  const h = m[1].length === 3 ? [...m[1]].map((ch) => ch + ch).join("") : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

function toHex(rgb: number[]): string {
  return "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
}

/** The viridis colour at `t` in [0, 1] (clamped), as "#rrggbb". */
export function viridis(t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  return toHex(VIRIDIS[i].map((v, k) => v + (VIRIDIS[i + 1][k] - v) * f));
}

function pickColor(color: string | undefined, index: number): string {
  const c = color ?? PALETTE[index % PALETTE.length];
  parseColor(c); // fail early, for SVG output too
  return c;
}

// ---------------------------------------------------------------------------------------------
// Axes: nice ticks, scales and the frame around the plot area

/** One axis: its domain in axis units (log10 of the data on a log axis) and labelled ticks. */
export interface AxisScale {
  /** Lower end of the domain, in axis units. */
  lo: number;
  /** Upper end of the domain, in axis units. */
  hi: number;
  /** Whether axis units are log10 of the data. */
  log: boolean;
  /** Tick positions in axis units. */
  ticks: number[];
  /** Tick labels, in data units. */
  labels: string[];
}

/** A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` intervals. */
export function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function decimalsFor(step: number): number {
  return Math.min(20, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

function formatTick(v: number, step: number): string {
  if (v === 0) return "0"; // also turns -0 into "0"
  if (Math.abs(v) >= 1e6 || step < 1e-4) {
    const digits = Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step) + 1e-9);
    return v.toExponential(Math.min(20, Math.max(0, digits)));
  }
  return v.toFixed(decimalsFor(step));
}

/**
 * A linear axis over [min, max]. Without `fixed`, the domain is extended outward to multiples of a
 * nice step, so the first and last ticks enclose the data; constant data gets ±10% (±1 at 0).
 */
export function linearAxis(
  min: number,
  max: number,
  target: number,
  fixed?: [number, number],
): AxisScale {
  let [lo, hi] = fixed ?? [min, max];
  if (fixed && !(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new Error(`plot: bad axis range [${fixed}]`);
  }
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - d, hi + d];
  }
  const step = niceStep(hi - lo, target);
  const dec = decimalsFor(step);
  const k0 = fixed ? Math.ceil(lo / step - 1e-9) : Math.floor(lo / step);
  const k1 = fixed ? Math.floor(hi / step + 1e-9) : Math.ceil(hi / step);
  const ticks: number[] = [];
  for (let k = k0; k <= k1; k++) ticks.push(dec < 20 ? Number((k * step).toFixed(dec)) : k * step);
  if (!fixed) [lo, hi] = [Math.min(lo, ticks[0]), Math.max(hi, ticks[ticks.length - 1])];
  return { lo, hi, log: false, ticks, labels: ticks.map((t) => formatTick(t, step)) };
}

/** A log10 axis; `minLog`/`maxLog` are log10 of the positive data. Ticks sit at powers of ten. */
export function logAxis(minLog: number, maxLog: number, fixed?: [number, number]): AxisScale {
  let lo: number, hi: number;
  if (fixed) {
    if (!(fixed[0] > 0 && fixed[1] > fixed[0] && Number.isFinite(fixed[1]))) {
      throw new Error(`plot: bad log axis range [${fixed}]`);
    }
    [lo, hi] = [Math.log10(fixed[0]), Math.log10(fixed[1])];
  } else {
    [lo, hi] = [Math.floor(minLog), Math.ceil(maxLog)];
    if (hi === lo) hi = lo + 1;
  }
  const step = Math.max(1, Math.ceil((hi - lo) / 8));
  const ticks: number[] = [];
  for (let k = Math.ceil(lo - 1e-9); k <= hi + 1e-9; k++) if (k % step === 0) ticks.push(k);
  if (ticks.length < 2) {
    // Less than a decade: label the two ends with their values.
    return {
      lo,
      hi,
      log: true,
      ticks: [lo, hi],
      labels: [lo, hi].map((t) => (10 ** t).toPrecision(3)),
    };
  }
  const label = (
    k: number,
  ) => (k >= -3 && k <= 4 ? String(Number((10 ** k).toFixed(3))) : `1e${k}`);
  return { lo, hi, log: true, ticks, labels: ticks.map(label) };
}

/** Finite extent of some arrays, in axis units (log10, positives only, when `log`). */
class Extent {
  min = Infinity;
  max = -Infinity;
  constructor(readonly log = false) {}
  /** Maps a data value to axis units, or NaN when it cannot be plotted. */
  unit(v: number): number {
    if (!Number.isFinite(v)) return NaN;
    if (!this.log) return v;
    return v > 0 ? Math.log10(v) : NaN;
  }
  add(v: number): void {
    const u = this.unit(v);
    if (Number.isNaN(u)) return;
    if (u < this.min) this.min = u;
    if (u > this.max) this.max = u;
  }
  get empty(): boolean {
    return this.min > this.max;
  }
  /** Widens the extent by `frac` of its span on each side (so dots are not cut by the frame). */
  pad(frac: number): void {
    const d = (this.max - this.min) * frac;
    if (d > 0) [this.min, this.max] = [this.min - d, this.max + d];
  }
}

const TICK_SIZE = 10;
const LABEL_SIZE = 12;
const TITLE_SIZE = 14;
const FRAME_COLOR = "#333333";
const GRID_COLOR = "#e6e6e6";
const TEXT_COLOR = "#222222";

/** Text width under the shared font metrics (0.6 em advance). */
function textWidth(text: string, size: number): number {
  return text.length * 0.6 * size;
}

interface LegendEntry {
  name: string;
  color: string;
  style: "line" | "dashed" | "point" | "box";
}

/** A scene under construction, with the data-to-pixel maps of its plot area. */
interface Frame {
  scene: Scene;
  xAxis: AxisScale;
  yAxis: AxisScale;
  /** Pixel x of data x (NaN when not plottable). */
  px(x: number): number;
  /** Pixel y of data y (NaN when not plottable, e.g. <= 0 on a log axis). */
  py(y: number): number;
}

/**
 * Lays out the figure: margins sized to the tick labels, nice axes, background and grid lines.
 * `xFixed`/`yFixed` are ranges to use as-is (the user's, or a histogram's binned range).
 */
function makeFrame(
  axes: Axes,
  x: Extent,
  y: Extent,
  extra: { rightMargin?: number; xFixed?: [number, number]; yFixed?: [number, number] } = {},
): Frame {
  const width = axes.width ?? 640;
  const height = axes.height ?? 400;
  if (!(width >= 100 && height >= 80)) throw new Error("plot: figure must be at least 100x80");
  const xFixed = axes.xRange ?? extra.xFixed;
  const yFixed = axes.yRange ?? extra.yFixed;
  if ((x.empty && !xFixed) || (y.empty && !yFixed)) throw new Error("plot: no finite data to plot");

  const top = axes.title ? 34 : 14;
  const bottom = axes.xLabel ? 46 : 28;
  const right = 16 + (extra.rightMargin ?? 0);
  const areaH = height - top - bottom;
  const yTarget = Math.min(8, Math.max(3, Math.round(areaH / 45)));
  const yAxis = y.log ? logAxis(y.min, y.max, yFixed) : linearAxis(y.min, y.max, yTarget, yFixed);
  const labelW = Math.max(...yAxis.labels.map((l) => textWidth(l, TICK_SIZE)));
  const left = Math.ceil((axes.yLabel ? 26 : 8) + labelW + 8);
  const areaW = width - left - right;
  if (areaW < 20 || areaH < 20) throw new Error("plot: figure too small for its labels");

  // Fewer x ticks while their labels would crowd each other.
  let xTarget = Math.min(10, Math.max(3, Math.round(areaW / 90)));
  let xAxis = linearAxis(x.min, x.max, xTarget, xFixed);
  while (xTarget > 2) {
    const widest = Math.max(...xAxis.labels.map((l) => textWidth(l, TICK_SIZE)));
    if ((widest + 12) * xAxis.ticks.length < areaW) break;
    xAxis = linearAxis(x.min, x.max, --xTarget, xFixed);
  }

  // The outermost x tick labels are centred on the ends of the axis: keep them inside the figure.
  const overhang = (label: string, margin: number) =>
    Math.max(0, Math.ceil(textWidth(label, TICK_SIZE) / 2 + 4 - margin));
  const padL = overhang(xAxis.labels[0], left);
  const padR = overhang(xAxis.labels[xAxis.labels.length - 1], right);
  const area = { x: left + padL, y: top, w: areaW - padL - padR, h: areaH };
  const scene: Scene = { width, height, background: "#ffffff", plotArea: area, items: [] };
  const frame: Frame = {
    scene,
    xAxis,
    yAxis,
    px: (v) => area.x + ((x.unit(v) - xAxis.lo) / (xAxis.hi - xAxis.lo)) * area.w,
    py: (v) => area.y + area.h - ((y.unit(v) - yAxis.lo) / (yAxis.hi - yAxis.lo)) * area.h,
  };
  const grid: number[][] = [];
  for (const t of xAxis.ticks) {
    const gx = tickX(xAxis, t, area);
    grid.push([gx, area.y, gx, area.y + area.h]);
  }
  for (const t of yAxis.ticks) {
    const gy = tickY(yAxis, t, area);
    grid.push([area.x, gy, area.x + area.w, gy]);
  }
  scene.items.push({ kind: "path", subpaths: grid, stroke: GRID_COLOR, width: 1, clip: true });
  return frame;
}

type Area = Scene["plotArea"];

/**
 * Pixel x of a tick, snapped to a pixel centre (k + 0.5) so 1-px lines stay crisp, and kept on
 * the frame's pixels at the ends.
 */
function tickX(axis: AxisScale, t: number, a: Area): number {
  const x = a.x + ((t - axis.lo) / (axis.hi - axis.lo)) * a.w;
  return Math.min(a.x + a.w - 1, Math.max(a.x, Math.floor(x))) + 0.5;
}

/** Pixel y of a tick, snapped like {@link tickX}. */
function tickY(axis: AxisScale, t: number, a: Area): number {
  const y = a.y + a.h - ((t - axis.lo) / (axis.hi - axis.lo)) * a.h;
  return Math.min(a.y + a.h - 1, Math.max(a.y, Math.floor(y))) + 0.5;
}

/** Adds the frame, ticks, labels, title and legend on top of the data. */
function finishFrame(frame: Frame, axes: Axes, legend: LegendEntry[]): Scene {
  const { scene, xAxis, yAxis } = frame;
  const a = scene.plotArea;
  const items = scene.items;
  items.push({
    kind: "rect",
    x: a.x + 0.5,
    y: a.y + 0.5,
    w: a.w - 1,
    h: a.h - 1,
    stroke: FRAME_COLOR,
    strokeWidth: 1,
  });
  const ticks: number[][] = [];
  const bottom = a.y + a.h;
  xAxis.ticks.forEach((t, i) => {
    const x = tickX(xAxis, t, a);
    ticks.push([x, bottom, x, bottom + 5]);
    items.push(text(x, bottom + 17, xAxis.labels[i], TICK_SIZE, "middle"));
  });
  yAxis.ticks.forEach((t, i) => {
    const y = tickY(yAxis, t, a);
    ticks.push([a.x - 5, y, a.x, y]);
    items.push(text(a.x - 8, y + 3.5, yAxis.labels[i], TICK_SIZE, "end"));
  });
  items.push({ kind: "path", subpaths: ticks, stroke: FRAME_COLOR, width: 1 });
  if (axes.xLabel) items.push(text(a.x + a.w / 2, bottom + 38, axes.xLabel, LABEL_SIZE, "middle"));
  if (axes.yLabel) {
    items.push({ ...text(17, a.y + a.h / 2, axes.yLabel, LABEL_SIZE, "middle"), vertical: true });
  }
  if (axes.title) items.push(text(scene.width / 2, 22, axes.title, TITLE_SIZE, "middle"));
  if (axes.legend !== false && legend.length > 0) {
    drawLegend(scene, legend, axes.legend ?? "top-right");
  }
  return scene;
}

function text(
  x: number,
  y: number,
  s: string,
  size: number,
  anchor: "start" | "middle" | "end",
): TextItem {
  return { kind: "text", x, y, text: s, size, anchor, color: TEXT_COLOR };
}

function drawLegend(scene: Scene, entries: LegendEntry[], where: LegendPosition): void {
  const a = scene.plotArea;
  const rowH = 15;
  const w = 8 + 22 + 6 + Math.max(...entries.map((e) => textWidth(e.name, TICK_SIZE))) + 8;
  const h = 6 + rowH * entries.length;
  const x = Math.round(where.endsWith("right") ? a.x + a.w - 8 - w : a.x + 8);
  const y = Math.round(where.startsWith("top") ? a.y + 8 : a.y + a.h - 8 - h);
  scene.items.push({
    kind: "rect",
    x: x + 0.5,
    y: y + 0.5,
    w,
    h,
    fill: "#ffffff",
    opacity: 0.85,
    stroke: "#bbbbbb",
    strokeWidth: 1,
  });
  entries.forEach((e, i) => {
    const cy = y + 3 + rowH * i + rowH / 2;
    const sx = x + 8;
    if (e.style === "point") {
      scene.items.push({ kind: "points", xy: [sx + 11, cy], r: 3.5, fill: e.color });
    } else if (e.style === "box") {
      scene.items.push({
        kind: "rect",
        x: sx + 2,
        y: cy - 5,
        w: 18,
        h: 10,
        fill: e.color,
        opacity: 0.6,
      });
    } else {
      scene.items.push({
        kind: "path",
        subpaths: [[sx, cy, sx + 22, cy]],
        stroke: e.color,
        width: 2,
        dash: e.style === "dashed" ? [5, 3] : undefined,
      });
    }
    scene.items.push(text(sx + 28, cy + 3.5, e.name, TICK_SIZE, "start"));
  });
}

// ---------------------------------------------------------------------------------------------
// Plots

/**
 * Debiased exponential moving average (see {@link LinePlotOptions.smooth}). Non-finite inputs stay
 * NaN in the output and do not update the average.
 */
export function smoothEma(y: ArrayLike<number>, weight: number): Float64Array {
  if (!(weight >= 0 && weight < 1)) {
    throw new Error(`plot: smooth must be in [0, 1), got ${weight}`);
  }
  const out = new Float64Array(y.length);
  let acc = 0;
  let k = 0;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i])) {
      out[i] = NaN;
      continue;
    }
    acc = weight * acc + (1 - weight) * y[i];
    k++;
    out[i] = acc / (1 - weight ** k);
  }
  return out;
}

/**
 * Pixel coordinates of (x, y) data as runs, broken wherever a point cannot be plotted. With `thin`,
 * runs much denser than the pixel grid are passed through {@link thinRun}.
 */
function runs(
  frame: Frame,
  xs: ArrayLike<number> | undefined,
  ys: ArrayLike<number>,
  thin = false,
): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  const flush = () => {
    if (cur.length > 0) {
      out.push(thin && cur.length > 8 * frame.scene.plotArea.w ? thinRun(cur) : cur);
    }
    cur = [];
  };
  for (let i = 0; i < ys.length; i++) {
    const px = frame.px(xs ? xs[i] : i);
    const py = frame.py(ys[i]);
    if (Number.isFinite(px) && Number.isFinite(py)) cur.push(px, py);
    else flush();
  }
  flush();
  return out;
}

/**
 * Thins a long polyline whose x never decreases (a loss curve over 100k steps) without visible
 * change: within each half-pixel column only the first, lowest, highest and last points are kept,
 * in their original order ("M4" decimation). Polylines that go back in x are returned unchanged.
 */
function thinRun(run: number[]): number[] {
  for (let i = 2; i < run.length; i += 2) if (run[i] < run[i - 2]) return run;
  const out: number[] = [];
  let start = 0;
  const n = run.length / 2;
  while (start < n) {
    const column = Math.floor(run[2 * start] * 2);
    let end = start, lo = start, hi = start;
    while (end + 1 < n && Math.floor(run[2 * (end + 1)] * 2) === column) {
      end++;
      if (run[2 * end + 1] < run[2 * lo + 1]) lo = end;
      if (run[2 * end + 1] > run[2 * hi + 1]) hi = end;
    }
    for (const k of [...new Set([start, lo, hi, end])].sort((a, b) => a - b)) {
      out.push(run[2 * k], run[2 * k + 1]);
    }
    start = end + 1;
  }
  return out;
}

function checkSeries(s: Series, who: string): void {
  if (s.y.length === 0) throw new Error(`${who}: series "${s.name}" is empty`);
  if (s.x && s.x.length !== s.y.length) {
    throw new Error(`${who}: series "${s.name}" has ${s.x.length} x but ${s.y.length} y values`);
  }
}

/** Adds series as lines (and optional markers); returns their legend entries. */
function addLines(frame: Frame, series: Series[], firstColor: number, smooth = 0): LegendEntry[] {
  return series.map((s, i) => {
    const color = pickColor(s.color, firstColor + i);
    const width = s.width ?? 1.5;
    const dash = s.dashed ? [6, 4] : undefined;
    const items = frame.scene.items;
    if (smooth !== 0) {
      items.push({
        kind: "path",
        subpaths: runs(frame, s.x, s.y, true),
        stroke: color,
        width: 1,
        opacity: 0.25,
        clip: true,
      });
    }
    const y = smooth !== 0 ? smoothEma(s.y, smooth) : s.y;
    items.push({
      kind: "path",
      subpaths: runs(frame, s.x, y, true),
      stroke: color,
      width,
      dash,
      clip: true,
      name: s.name,
    });
    if (s.markers) {
      items.push({
        kind: "points",
        xy: runs(frame, s.x, y).flat(),
        r: width + 1.5,
        fill: color,
        clip: true,
        name: s.name,
      });
    }
    return { name: s.name, color, style: s.dashed ? "dashed" : "line" } as LegendEntry;
  });
}

function extentOf(ext: Extent, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) ext.add(values[i]);
}

/** Grows the extents by the points where both coordinates can be plotted (x defaults to index). */
function extentOfXY(
  x: Extent,
  y: Extent,
  xs: ArrayLike<number> | undefined,
  ys: ArrayLike<number>,
): void {
  for (let i = 0; i < ys.length; i++) {
    const xi = xs ? xs[i] : i;
    if (!Number.isNaN(x.unit(xi)) && !Number.isNaN(y.unit(ys[i]))) {
      x.add(xi);
      y.add(ys[i]);
    }
  }
}

/** Builds the scene of {@link linePlot}. */
export function linePlotScene(series: Series[], opts: LinePlotOptions = {}): Scene {
  if (series.length === 0) throw new Error("linePlot: no series");
  series.forEach((s) => checkSeries(s, "linePlot"));
  const smooth = opts.smooth ?? 0;
  const x = new Extent();
  const y = new Extent(opts.logY);
  series.forEach((s) => extentOfXY(x, y, s.x, s.y));
  const frame = makeFrame(opts, x, y);
  const legend = addLines(frame, series, 0, smooth);
  return finishFrame(frame, opts, legend);
}

/** Line plot (loss curves, D(x)/D(G(z)) curves, JS vs W1, trajectories) as SVG text. */
export function linePlot(series: Series[], opts: LinePlotOptions = {}): string {
  return sceneToSvg(linePlotScene(series, opts));
}

function addPoints(frame: Frame, groups: PointGroup[], firstColor: number): LegendEntry[] {
  return groups.map((g, i) => {
    const color = pickColor(g.color, firstColor + i);
    frame.scene.items.push({
      kind: "points",
      xy: runs(frame, g.x, g.y).flat(),
      r: g.radius ?? 2.5,
      fill: color,
      opacity: 0.7,
      clip: true,
      name: g.name,
    });
    return { name: g.name, color, style: "point" } as LegendEntry;
  });
}

function checkGroup(g: PointGroup, who: string): void {
  if (g.x.length === 0) throw new Error(`${who}: group "${g.name}" is empty`);
  if (g.x.length !== g.y.length) {
    throw new Error(`${who}: group "${g.name}" has ${g.x.length} x but ${g.y.length} y values`);
  }
}

/** Builds the scene of {@link scatterPlot}. */
export function scatterPlotScene(groups: PointGroup[], opts: Axes = {}): Scene {
  if (groups.length === 0) throw new Error("scatterPlot: no groups");
  groups.forEach((g) => checkGroup(g, "scatterPlot"));
  const x = new Extent();
  const y = new Extent(opts.logY);
  groups.forEach((g) => extentOfXY(x, y, g.x, g.y));
  // Like matplotlib: the axes span the data plus 5% margins, so no dot sits on the frame.
  const margins = (e: Extent): [number, number] | undefined => {
    e.pad(0.05);
    if (e.empty || e.min === e.max) return undefined; // let the axis widen constant data
    return e.log ? [10 ** e.min, 10 ** e.max] : [e.min, e.max];
  };
  const frame = makeFrame(opts, x, y, { xFixed: margins(x), yFixed: margins(y) });
  return finishFrame(frame, opts, addPoints(frame, groups, 0));
}

/** Scatter plot of 2-D samples as SVG text. */
export function scatterPlot(groups: PointGroup[], opts: Axes = {}): string {
  return sceneToSvg(scatterPlotScene(groups, opts));
}

/**
 * Histogram with numpy's conventions: `bins` equal-width bins over `range`, the last bin closed on
 * the right, values outside the range (and non-finite ones) ignored. With `density`, counts are
 * divided by (in-range count × bin width) so the bars integrate to 1.
 */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  range: [number, number],
  density = false,
): { counts: Float64Array; edges: Float64Array } {
  const [lo, hi] = range;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new Error(`histogram: bins must be >= 1, got ${bins}`);
  }
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new Error(`histogram: bad range [${range}]`);
  }
  const counts = new Float64Array(bins);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= lo && v <= hi)) continue; // also skips NaN
    counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
    total++;
  }
  const edges = new Float64Array(bins + 1).map((_, i) => lo + ((hi - lo) * i) / bins);
  if (density && total > 0) {
    const width = (hi - lo) / bins;
    for (let b = 0; b < bins; b++) counts[b] /= total * width;
  }
  return { counts, edges };
}

/** Builds the scene of {@link histogramPlot}. */
export function histogramPlotScene(groups: HistogramGroup[], opts: HistogramOptions = {}): Scene {
  if (groups.length === 0) throw new Error("histogramPlot: no groups");
  for (const g of groups) {
    if (g.values.length === 0) throw new Error(`histogramPlot: group "${g.name}" is empty`);
  }
  const overlay = opts.overlay ?? [];
  overlay.forEach((s) => checkSeries(s, "histogramPlot"));
  let range = opts.range;
  if (!range) {
    const e = new Extent();
    groups.forEach((g) => extentOf(e, g.values));
    if (e.empty) throw new Error("histogramPlot: no finite data to plot");
    range = e.min < e.max ? [e.min, e.max] : [e.min - 0.5, e.max + 0.5];
  }
  const hists = groups.map((g) => histogram(g.values, opts.bins ?? 30, range, opts.density));

  const x = new Extent();
  const y = new Extent(opts.logY);
  x.add(range[0]);
  x.add(range[1]);
  if (!opts.logY) y.add(0); // bars grow from zero
  hists.forEach((h) => extentOf(y, h.counts));
  overlay.forEach((s) => extentOfXY(x, y, s.x, s.y));
  // The x axis shows exactly the binned range (plus any overlay beyond it), like matplotlib.
  const frame = makeFrame(opts, x, y, { xFixed: [x.min, x.max] });
  const base = frame.scene.plotArea.y + frame.scene.plotArea.h;
  const legend: LegendEntry[] = groups.map((g, gi) => {
    const color = pickColor(g.color, gi);
    const { counts, edges } = hists[gi];
    const outline: number[] = [frame.px(edges[0]), base];
    for (let b = 0; b < counts.length; b++) {
      const x0 = frame.px(edges[b]);
      const x1 = frame.px(edges[b + 1]);
      const top = counts[b] > 0 ? frame.py(counts[b]) : base;
      const yTop = Number.isFinite(top) ? Math.min(top, base) : base;
      if (yTop < base) {
        frame.scene.items.push({
          kind: "rect",
          x: x0,
          y: yTop,
          w: x1 - x0,
          h: base - yTop,
          fill: color,
          opacity: 0.35,
          clip: true,
        });
      }
      outline.push(x0, yTop, x1, yTop);
    }
    outline.push(frame.px(edges[edges.length - 1]), base);
    frame.scene.items.push({
      kind: "path",
      subpaths: [outline],
      stroke: color,
      width: 1.2,
      clip: true,
      name: g.name,
    });
    return { name: g.name, color, style: "box" };
  });
  legend.push(...addLines(frame, overlay, groups.length));
  return finishFrame(frame, opts, legend);
}

/** Histograms of 1-D samples (e.g. real vs generated), with optional curves on top, as SVG. */
export function histogramPlot(groups: HistogramGroup[], opts: HistogramOptions = {}): string {
  return sceneToSvg(histogramPlotScene(groups, opts));
}

// ---------------------------------------------------------------------------------------------
// Contours

function checkGrid(grid: ContourGrid): void {
  const { xs, ys, z } = grid;
  if (xs.length < 2 || ys.length < 2) throw new Error("contourPlot: need at least a 2x2 grid");
  if (z.length !== xs.length * ys.length) {
    throw new Error(`contourPlot: z has ${z.length} values, expected ${ys.length} x ${xs.length}`);
  }
  for (const [name, a] of [["xs", xs], ["ys", ys]] as const) {
    for (let i = 1; i < a.length; i++) {
      if (!(a[i] > a[i - 1])) throw new Error(`contourPlot: ${name} must be strictly increasing`);
    }
  }
}

/** Corner pairs of the four cell edges, in canonical (increasing x or y) direction. */
const EDGES = [[0, 1], [1, 2], [3, 2], [0, 3]];

/**
 * Marching squares: the iso-line `z = level` as line segments, flat `[x0, y0, x1, y1, ...]` in data
 * coordinates. Corners with `z >= level` count as inside; crossings are linearly interpolated
 * along cell edges; saddle cells are resolved with the cell's mean value. Cells with a non-finite
 * corner are skipped, as are zero-length pieces. Neighbouring cells compute a shared crossing
 * bit-identically, so segment ends match exactly.
 */
export function contourSegments(grid: ContourGrid, level: number): number[] {
  checkGrid(grid);
  const { xs, ys, z } = grid;
  const nx = xs.length;
  const out: number[] = [];
  for (let j = 0; j + 1 < ys.length; j++) {
    for (let i = 0; i + 1 < nx; i++) {
      // Corners counter-clockwise from bottom-left: (i, j), (i+1, j), (i+1, j+1), (i, j+1).
      const cx = [xs[i], xs[i + 1], xs[i + 1], xs[i]];
      const cy = [ys[j], ys[j], ys[j + 1], ys[j + 1]];
      const cz = [z[j * nx + i], z[j * nx + i + 1], z[(j + 1) * nx + i + 1], z[(j + 1) * nx + i]];
      if (!cz.every(Number.isFinite)) continue;
      const inside = cz.map((v) => v >= level);
      // Edge e joins corners e and e+1 (bottom, right, top, left); record where the level crosses
      // it. Each edge is walked left-to-right or bottom-to-top, so the two cells sharing an edge
      // compute bit-identical crossing points and the segments join up exactly.
      const cross: (number[] | null)[] = EDGES.map(([a, b]) => {
        if (inside[a] === inside[b]) return null;
        const t = (level - cz[a]) / (cz[b] - cz[a]);
        return [cx[a] + t * (cx[b] - cx[a]), cy[a] + t * (cy[b] - cy[a])];
      });
      const hit = cross.filter((c): c is number[] => c !== null);
      const pairs: number[][][] = [];
      if (hit.length === 2) {
        pairs.push(hit);
      } else if (hit.length === 4) {
        // Saddle: corners on the other side from the centre are cut off, each by the segment
        // joining its two edges (corner k touches edges k-1 and k).
        const centre = (cz[0] + cz[1] + cz[2] + cz[3]) / 4 >= level;
        for (let k = 0; k < 4; k++) {
          if (inside[k] !== centre) pairs.push([cross[(k + 3) % 4]!, cross[k]!]);
        }
      }
      for (const [p, q] of pairs) {
        // A grid vertex exactly at the level yields a zero-length piece in a cell it only touches.
        if (p[0] !== q[0] || p[1] !== q[1]) out.push(p[0], p[1], q[0], q[1]);
      }
    }
  }
  return out;
}

/** Index `i` with `a[i] <= v <= a[i+1]` in an increasing array, or -1 outside. */
function locate(a: ArrayLike<number>, v: number): number {
  if (!(v >= a[0] && v <= a[a.length - 1])) return -1;
  let lo = 0, hi = a.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The filled-contour raster: bilinear z at each pixel centre, coloured by its band. */
function bandImage(
  grid: ContourGrid,
  frame: Frame,
  levels: number[],
  colors: [number, number, number][],
  w: number,
  h: number,
): RgbImage {
  const { xs, ys, z } = grid;
  const nx = xs.length;
  const data = new Uint8Array(w * h * 4); // transparent where the grid has no value
  const { xAxis, yAxis } = frame;
  const col = Array.from({ length: w }, (_, i) => {
    const x = xAxis.lo + ((i + 0.5) / w) * (xAxis.hi - xAxis.lo);
    const k = locate(xs, x);
    return k < 0 ? null : { k, f: (x - xs[k]) / (xs[k + 1] - xs[k]) };
  });
  for (let r = 0; r < h; r++) {
    const y = yAxis.hi - ((r + 0.5) / h) * (yAxis.hi - yAxis.lo);
    const j = locate(ys, y);
    if (j < 0) continue;
    const g = (y - ys[j]) / (ys[j + 1] - ys[j]);
    for (let c = 0; c < w; c++) {
      const at = col[c];
      if (!at) continue;
      const { k, f } = at;
      const v = (1 - g) * ((1 - f) * z[j * nx + k] + f * z[j * nx + k + 1]) +
        g * ((1 - f) * z[(j + 1) * nx + k] + f * z[(j + 1) * nx + k + 1]);
      if (!Number.isFinite(v)) continue;
      let band = 0;
      while (band < levels.length && v >= levels[band]) band++;
      data.set([...colors[band], 255], (r * w + c) * 4);
    }
  }
  return { width: w, height: h, channels: 4, data };
}

/** Builds the scene of {@link contourPlot}. */
export function contourPlotScene(grid: ContourGrid, opts: ContourOptions = {}): Scene {
  checkGrid(grid);
  if (opts.logY) throw new Error("contourPlot: logY is not supported");
  const zExt = new Extent();
  extentOf(zExt, grid.z);
  if (zExt.empty) throw new Error("contourPlot: z has no finite values");
  let levels: number[];
  if (Array.isArray(opts.levels)) {
    levels = [...opts.levels].sort((a, b) => a - b);
  } else if (zExt.min === zExt.max) {
    levels = []; // a flat field has no contours
  } else {
    const n = (opts.levels as number | undefined) ?? 8;
    levels = linearAxis(zExt.min, zExt.max, n).ticks.filter((t) => t > zExt.min && t < zExt.max);
  }
  const points = opts.points ?? [];
  points.forEach((g) => checkGroup(g, "contourPlot"));

  const x = new Extent();
  const y = new Extent();
  const last = (a: ArrayLike<number>) => a[a.length - 1];
  const frame = makeFrame(opts, x, y, {
    rightMargin: 70,
    xFixed: [grid.xs[0], last(grid.xs)],
    yFixed: [grid.ys[0], last(grid.ys)],
  });
  const area = frame.scene.plotArea;
  const items = frame.scene.items;
  const k = levels.length;
  // Filled: k + 1 bands, band b coloured viridis(b / k). Lines only: level i coloured viridis(i / (k - 1)).
  const colorOf = (i: number, n: number) => viridis(n <= 1 ? 0.5 : i / (n - 1));
  if (opts.filled) {
    const colors = Array.from({ length: k + 1 }, (_, b) => parseColor(colorOf(b, k + 1)));
    // Twice the figure's resolution, so a 2x PNG render stays smooth.
    const image = bandImage(grid, frame, levels, colors, area.w * 2, area.h * 2);
    items.push({ kind: "image", x: area.x, y: area.y, w: area.w, h: area.h, image, clip: true });
  }
  levels.forEach((level, i) => {
    const seg = contourSegments(grid, level);
    const subpaths: number[][] = [];
    for (let s = 0; s < seg.length; s += 4) {
      subpaths.push([
        frame.px(seg[s]),
        frame.py(seg[s + 1]),
        frame.px(seg[s + 2]),
        frame.py(seg[s + 3]),
      ]);
    }
    items.push(
      opts.filled
        ? {
          kind: "path",
          subpaths,
          stroke: "#202020",
          width: 0.7,
          opacity: 0.6,
          clip: true,
          name: `${level}`,
        }
        : {
          kind: "path",
          subpaths,
          stroke: colorOf(i, k),
          width: 1.3,
          clip: true,
          name: `${level}`,
        },
    );
  });
  const legend = addPoints(frame, points, 1);

  // Colour bar: equal-height segments, labelled at band boundaries (filled) or segment centres.
  const n = opts.filled ? k + 1 : k;
  if (n > 0) {
    const bx = area.x + area.w + 14;
    const segH = area.h / n;
    const every = Math.ceil(k / Math.max(1, Math.floor(area.h / 16)));
    for (let s = 0; s < n; s++) {
      const top = area.y + area.h - (s + 1) * segH;
      items.push({ kind: "rect", x: bx, y: top, w: 12, h: segH, fill: colorOf(s, n) });
    }
    items.push({
      kind: "rect",
      x: bx + 0.5,
      y: area.y + 0.5,
      w: 11,
      h: area.h - 1,
      stroke: FRAME_COLOR,
      strokeWidth: 1,
    });
    levels.forEach((level, i) => {
      if (i % every !== 0) return;
      const yy = area.y + area.h - (opts.filled ? i + 1 : i + 0.5) * segH;
      items.push(text(bx + 16, yy + 3.5, formatLevel(level), TICK_SIZE, "start"));
    });
  }
  return finishFrame(frame, opts, legend);
}

function formatLevel(v: number): string {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(2)
    : String(Number(v.toPrecision(4)));
}

/** Contour plot of a scalar field (a critic, a density), optionally filled, with points on top. */
export function contourPlot(grid: ContourGrid, opts: ContourOptions = {}): string {
  return sceneToSvg(contourPlotScene(grid, opts));
}

// ---------------------------------------------------------------------------------------------
// SVG output

const FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Coordinates to at most 2 decimals (keeps files small; far below a pixel). */
function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/** Writes a scene as a standalone SVG document. */
export function sceneToSvg(scene: Scene): string {
  const { width: W, height: H, plotArea: a } = scene;
  const clipId = `plot-area-${a.x}-${a.y}-${a.w}-${a.h}`;
  const clip = (on?: boolean) => (on ? ` clip-path="url(#${clipId})"` : "");
  const opacity = (
    attr: string,
    o?: number,
  ) => (o !== undefined && o < 1 ? ` ${attr}="${num(o)}"` : "");
  const named = (n?: string) => (n !== undefined ? ` data-name="${escapeXml(n)}"` : "");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT_FAMILY}">`,
    `<defs><clipPath id="${clipId}"><rect x="${a.x}" y="${a.y}" width="${a.w}" height="${a.h}"/></clipPath></defs>`,
    `<rect width="${W}" height="${H}" fill="${scene.background}"/>`,
  ];
  for (const it of scene.items) {
    switch (it.kind) {
      case "path": {
        const dash = it.dash ? ` stroke-dasharray="${it.dash.map(num).join(" ")}"` : "";
        out.push(
          `<g fill="none" stroke="${it.stroke}" stroke-width="${
            num(it.width)
          }" stroke-linecap="round" ` +
            `stroke-linejoin="round"${dash}${opacity("stroke-opacity", it.opacity)}${
              clip(it.clip)
            }${named(it.name)}>`,
        );
        for (const p of it.subpaths) {
          const pts: string[] = [];
          for (let i = 0; i < p.length; i += 2) pts.push(`${num(p[i])},${num(p[i + 1])}`);
          out.push(`<polyline points="${pts.join(" ")}"/>`);
        }
        out.push("</g>");
        break;
      }
      case "rect": {
        const stroke = it.stroke
          ? ` stroke="${it.stroke}" stroke-width="${num(it.strokeWidth ?? 1)}"`
          : "";
        out.push(
          `<rect x="${num(it.x)}" y="${num(it.y)}" width="${num(it.w)}" height="${num(it.h)}" ` +
            `fill="${it.fill ?? "none"}"${opacity("fill-opacity", it.opacity)}${stroke}${
              clip(it.clip)
            }/>`,
        );
        break;
      }
      case "points": {
        out.push(
          `<g fill="${it.fill}"${opacity("fill-opacity", it.opacity)}${clip(it.clip)}${
            named(it.name)
          }>`,
        );
        for (let i = 0; i < it.xy.length; i += 2) {
          out.push(`<circle cx="${num(it.xy[i])}" cy="${num(it.xy[i + 1])}" r="${num(it.r)}"/>`);
        }
        out.push("</g>");
        break;
      }
      case "text": {
        const rot = it.vertical ? ` transform="rotate(-90 ${num(it.x)} ${num(it.y)})"` : "";
        out.push(
          `<text x="${num(it.x)}" y="${num(it.y)}" font-size="${num(it.size)}" ` +
            `text-anchor="${it.anchor ?? "start"}" fill="${it.color ?? TEXT_COLOR}"${rot}>${
              escapeXml(it.text)
            }</text>`,
        );
        break;
      }
      case "image": {
        const b64 = Buffer.from(encodePng(it.image)).toString("base64");
        out.push(
          `<image x="${num(it.x)}" y="${num(it.y)}" width="${num(it.w)}" height="${num(it.h)}" ` +
            `preserveAspectRatio="none"${
              clip(it.clip)
            } xlink:href="data:image/png;base64,${b64}"/>`,
        );
        break;
      }
    }
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// Raster output

/** A coverage window: `a[(y - y0) * w + (x - x0)]` in [0, 1] for pixels in the window. */
interface Mask {
  x0: number;
  y0: number;
  w: number;
  h: number;
  a: Float32Array;
}

/** Integer pixel box [x0, x1) × [y0, y1). */
interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A mask covering [x0, x1] × [y0, y1] (real coordinates) intersected with `bounds`, or null. */
function makeMask(x0: number, y0: number, x1: number, y1: number, bounds: Box): Mask | null {
  const bx0 = Math.max(bounds.x0, Math.floor(x0));
  const by0 = Math.max(bounds.y0, Math.floor(y0));
  const bx1 = Math.min(bounds.x1, Math.ceil(x1));
  const by1 = Math.min(bounds.y1, Math.ceil(y1));
  if (bx1 <= bx0 || by1 <= by0) return null;
  const w = bx1 - bx0, h = by1 - by0;
  return { x0: bx0, y0: by0, w, h, a: new Float32Array(w * h) };
}

/** Adds the area of [x0, x1] × [y0, y1] inside each pixel to the mask (exact box coverage). */
function addBox(m: Mask, x0: number, y0: number, x1: number, y1: number): void {
  const px0 = Math.max(m.x0, Math.floor(x0)), px1 = Math.min(m.x0 + m.w, Math.ceil(x1));
  const py0 = Math.max(m.y0, Math.floor(y0)), py1 = Math.min(m.y0 + m.h, Math.ceil(y1));
  for (let py = py0; py < py1; py++) {
    const cy = Math.min(py + 1, y1) - Math.max(py, y0);
    for (let px = px0; px < px1; px++) {
      const cx = Math.min(px + 1, x1) - Math.max(px, x0);
      m.a[(py - m.y0) * m.w + (px - m.x0)] += cx * cy;
    }
  }
}

/** Splits a polyline into its "on" pieces under a dash pattern (the pattern runs on across vertices). */
function dashPolyline(p: number[], dash: number[]): number[][] {
  const out: number[][] = [];
  let idx = 0, left = dash[0], on = true;
  let cur: number[] = [p[0], p[1]];
  for (let i = 2; i < p.length; i += 2) {
    let [ax, ay] = [p[i - 2], p[i - 1]];
    const [bx, by] = [p[i], p[i + 1]];
    let seg = Math.hypot(bx - ax, by - ay);
    while (seg > left) {
      const t = left / seg;
      [ax, ay] = [ax + t * (bx - ax), ay + t * (by - ay)];
      seg -= left;
      if (on) out.push([...cur, ax, ay]);
      cur = [ax, ay];
      on = !on;
      idx = (idx + 1) % dash.length;
      left = dash[idx];
    }
    left -= seg;
    if (on) cur.push(bx, by);
    else cur = [bx, by];
  }
  if (on && cur.length >= 4) out.push(cur);
  return out;
}

/** Anti-aliased stroke coverage: 1 within the half-width of a segment, fading over one pixel. */
function strokeMask(subpaths: number[][], width: number, bounds: Box): Mask | null {
  const hw = Math.max(width, 1) / 2;
  const gain = Math.min(width, 1); // hairlines: thinner means fainter
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const p of subpaths) {
    for (let i = 0; i < p.length; i += 2) {
      [x0, x1] = [Math.min(x0, p[i]), Math.max(x1, p[i])];
      [y0, y1] = [Math.min(y0, p[i + 1]), Math.max(y1, p[i + 1])];
    }
  }
  const m = makeMask(x0 - hw - 1, y0 - hw - 1, x1 + hw + 1, y1 + hw + 1, bounds);
  if (!m) return null;
  for (const p of subpaths) {
    for (let i = 2; i < p.length; i += 2) {
      const [ax, ay, bx, by] = [p[i - 2], p[i - 1], p[i], p[i + 1]];
      const dx = bx - ax, dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const sx0 = Math.max(m.x0, Math.floor(Math.min(ax, bx) - hw - 1));
      const sx1 = Math.min(m.x0 + m.w, Math.ceil(Math.max(ax, bx) + hw + 1));
      const sy0 = Math.max(m.y0, Math.floor(Math.min(ay, by) - hw - 1));
      const sy1 = Math.min(m.y0 + m.h, Math.ceil(Math.max(ay, by) + hw + 1));
      for (let py = sy0; py < sy1; py++) {
        for (let px = sx0; px < sx1; px++) {
          // Distance from the pixel centre to the segment (round caps and joins, as in the SVG).
          const cx = px + 0.5 - ax, cy = py + 0.5 - ay;
          const t = len2 > 0 ? Math.min(1, Math.max(0, (cx * dx + cy * dy) / len2)) : 0;
          const d = Math.hypot(cx - t * dx, cy - t * dy);
          const cov = Math.min(1, Math.max(0, hw + 0.5 - d)) * gain;
          const k = (py - m.y0) * m.w + (px - m.x0);
          if (cov > m.a[k]) m.a[k] = cov; // max, not sum: overlapping segments do not darken
        }
      }
    }
  }
  return m;
}

/** Text coverage from the bitmap font; see {@link TextItem} for the geometry. */
function textMask(t: TextItem, s: number, bounds: Box): Mask | null {
  let p = (t.size * s) / 10; // font pixel size: the 5×7 glyphs are 0.7 em tall
  if (p >= 1) p = Math.round(p); // whole pixels keep the glyphs crisp
  const advance = 6 * p;
  const span = t.text.length * advance - p;
  const shift = Math.round(t.anchor === "middle" ? span / 2 : t.anchor === "end" ? span : 0);
  const ox = Math.round(t.x * s), oy = Math.round(t.y * s);
  // Along-text coordinate u runs from -shift; v is measured down from the baseline (glyph rows
  // 0-6 sit above it, row 7 is the descender). Vertical text maps (u, v) to (x + v, y - u).
  const [x0, y0, x1, y1] = t.vertical
    ? [ox - 7 * p, oy - span + shift, ox + p, oy + shift]
    : [ox - shift, oy - 7 * p, ox - shift + span, oy + p];
  const m = makeMask(x0, y0, x1, y1, bounds);
  if (!m) return null;
  for (let i = 0; i < t.text.length; i++) {
    const glyph = FONT.get(t.text[i]) ?? FONT.get("?")!;
    for (let row = 0; row < 8; row++) {
      for (let col = 0; col < 5; col++) {
        if (!(glyph[row] & (16 >> col))) continue;
        const u = -shift + i * advance + col * p;
        const v = (row - 7) * p;
        if (t.vertical) addBox(m, ox + v, oy - u - p, ox + v + p, oy - u);
        else addBox(m, ox + u, oy + v, ox + u + p, oy + v + p);
      }
    }
  }
  return m;
}

/** Float RGB canvas with "over" compositing. */
class Canvas {
  readonly rgb: Float32Array;
  constructor(readonly width: number, readonly height: number, background: string) {
    const bg = parseColor(background);
    this.rgb = new Float32Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.rgb.set(bg, i * 3);
  }
  put(x: number, y: number, rgb: ArrayLike<number>, alpha: number): void {
    const k = (y * this.width + x) * 3;
    for (let c = 0; c < 3; c++) this.rgb[k + c] += (rgb[c] - this.rgb[k + c]) * alpha;
  }
  blend(m: Mask | null, color: string, opacity = 1): void {
    if (!m) return;
    const rgb = parseColor(color);
    for (let y = 0; y < m.h; y++) {
      for (let x = 0; x < m.w; x++) {
        const a = Math.min(1, m.a[y * m.w + x]) * opacity;
        if (a > 0) this.put(m.x0 + x, m.y0 + y, rgb, a);
      }
    }
  }
  toImage(): RgbImage {
    const data = new Uint8Array(this.rgb.length);
    for (let i = 0; i < data.length; i++) {
      data[i] = Math.round(Math.min(255, Math.max(0, this.rgb[i])));
    }
    return { width: this.width, height: this.height, channels: 3, data };
  }
}

/**
 * Rasterizes a scene into an RGB image, `scale` device pixels per scene pixel (default 1). Strokes,
 * dots and rectangle edges are anti-aliased by exact or distance-based pixel coverage; text uses
 * the built-in bitmap font, snapped to whole font pixels when at least one device pixel wide.
 */
export function renderScene(scene: Scene, opts: { scale?: number } = {}): RgbImage {
  const s = opts.scale ?? 1;
  if (!(s > 0 && s <= 8)) throw new Error(`renderScene: scale must be in (0, 8], got ${s}`);
  const W = Math.round(scene.width * s), H = Math.round(scene.height * s);
  const canvas = new Canvas(W, H, scene.background);
  const full: Box = { x0: 0, y0: 0, x1: W, y1: H };
  const a = scene.plotArea;
  const area: Box = {
    x0: Math.max(0, Math.round(a.x * s)),
    y0: Math.max(0, Math.round(a.y * s)),
    x1: Math.min(W, Math.round((a.x + a.w) * s)),
    y1: Math.min(H, Math.round((a.y + a.h) * s)),
  };
  const scaled = (p: number[]) => p.map((v) => v * s);
  for (const it of scene.items) {
    const bounds = "clip" in it && it.clip ? area : full;
    switch (it.kind) {
      case "path": {
        let subpaths = it.subpaths.map(scaled);
        if (it.dash) subpaths = subpaths.flatMap((p) => dashPolyline(p, scaled(it.dash!)));
        canvas.blend(strokeMask(subpaths, it.width * s, bounds), it.stroke, it.opacity);
        break;
      }
      case "rect": {
        const [x, y, w, h] = scaled([it.x, it.y, it.w, it.h]);
        if (it.fill) {
          const m = makeMask(x, y, x + w, y + h, bounds);
          if (m) addBox(m, x, y, x + w, y + h);
          canvas.blend(m, it.fill, it.opacity);
        }
        if (it.stroke) {
          const ring = [x, y, x + w, y, x + w, y + h, x, y + h, x, y];
          canvas.blend(strokeMask([ring], (it.strokeWidth ?? 1) * s, bounds), it.stroke);
        }
        break;
      }
      case "points": {
        const r = it.r * s;
        for (let i = 0; i < it.xy.length; i += 2) {
          const cx = it.xy[i] * s, cy = it.xy[i + 1] * s;
          const m = makeMask(cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1, bounds);
          if (!m) continue;
          for (let y = 0; y < m.h; y++) {
            for (let x = 0; x < m.w; x++) {
              const d = Math.hypot(m.x0 + x + 0.5 - cx, m.y0 + y + 0.5 - cy);
              m.a[y * m.w + x] = Math.min(1, Math.max(0, r + 0.5 - d));
            }
          }
          canvas.blend(m, it.fill, it.opacity); // each dot separately, like SVG circles
        }
        break;
      }
      case "text":
        canvas.blend(textMask(it, s, full), it.color ?? TEXT_COLOR);
        break;
      case "image": {
        const [x, y, w, h] = scaled([it.x, it.y, it.w, it.h]);
        const img = it.image;
        const b = {
          x0: Math.max(bounds.x0, Math.round(x)),
          y0: Math.max(bounds.y0, Math.round(y)),
        };
        const x1 = Math.min(bounds.x1, Math.round(x + w)),
          y1 = Math.min(bounds.y1, Math.round(y + h));
        for (let py = b.y0; py < y1; py++) {
          const sy = Math.min(img.height - 1, Math.floor(((py + 0.5 - y) / h) * img.height));
          for (let px = b.x0; px < x1; px++) {
            const sx = Math.min(img.width - 1, Math.floor(((px + 0.5 - x) / w) * img.width));
            const k = (sy * img.width + sx) * img.channels;
            const rgb = img.channels === 1
              ? [img.data[k], img.data[k], img.data[k]]
              : img.data.subarray(k, k + 3);
            canvas.put(px, py, rgb, img.channels === 4 ? img.data[k + 3] / 255 : 1);
          }
        }
        break;
      }
    }
  }
  return canvas.toImage();
}

/** Renders a scene to PNG bytes (default `scale` 2, which suits screens and papers). */
export function renderPlotPng(scene: Scene, opts: { scale?: number } = {}): Uint8Array {
  return encodePng(renderScene(scene, { scale: opts.scale ?? 2 }));
}

/** Writes a scene as `.svg` or `.png` (chosen by the extension of `path`), atomically. */
export async function savePlot(
  path: string,
  scene: Scene,
  opts: { scale?: number } = {},
): Promise<void> {
  if (path.endsWith(".svg")) await writeFileAtomic(path, sceneToSvg(scene));
  else if (path.endsWith(".png")) await writeFileAtomic(path, renderPlotPng(scene, opts));
  else throw new Error(`savePlot: path must end in .svg or .png, got ${path}`);
}

// ---------------------------------------------------------------------------------------------
// A 5×7 bitmap font (with one descender row) for printable ASCII, drawn for this project. Each
// block lists its characters, then eight rows holding one 5-pixel glyph per character.

const FONT_ART: [string, string[]][] = [
  [" !\"#$%&'()*+,-", [
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... .....",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... .....",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#.. ..... .....",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... #####",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... .....",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. .##.. .....",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... ..#.. .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... .....",
  ]],
  ["./0123456789:;", [
    "..... ..... .###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... .....",
    "..... ....# #...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# .##.. .##..",
    "..... ...#. #..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##..",
    "..... ..#.. #.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... .....",
    "..... .#... ##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# .##.. .##..",
    ".##.. #.... #...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. ..#..",
    ".##.. ..... .###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. ..... .#...",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
  ]],
  ["<=>?@ABCDEFGHI", [
    "...#. ..... .#... .###. .###. .###. ####. .###. ###.. ##### ##### .###. #...# .###.",
    "..#.. ..... ..#.. #...# #...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#..",
    ".#... ##### ...#. ....# ....# #...# #...# #.... #...# #.... #.... #.... #...# ..#..",
    "#.... ..... ....# ...#. .##.# ##### ####. #.... #...# ####. ####. #.### ##### ..#..",
    ".#... ##### ...#. ..#.. #.#.# #...# #...# #.... #...# #.... #.... #...# #...# ..#..",
    "..#.. ..... ..#.. ..... #.#.# #...# #...# #...# #..#. #.... #.... #...# #...# ..#..",
    "...#. ..... .#... ..#.. .###. #...# ####. .###. ###.. ##### #.... .#### #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
  ]],
  ["JKLMNOPQRSTUVW", [
    "..### #...# #.... #...# #...# .###. ####. .###. ####. .#### ##### #...# #...# #...#",
    "...#. #..#. #.... ##.## #...# #...# #...# #...# #...# #.... ..#.. #...# #...# #...#",
    "...#. #.#.. #.... #.#.# ##..# #...# #...# #...# #...# #.... ..#.. #...# #...# #...#",
    "...#. ##... #.... #.#.# #.#.# #...# ####. #...# ####. .###. ..#.. #...# #...# #.#.#",
    "...#. #.#.. #.... #...# #..## #...# #.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.#",
    "#..#. #..#. #.... #...# #...# #...# #.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.#",
    ".##.. #...# ##### #...# #...# .###. #.... .##.# #...# ####. ..#.. .###. ..#.. .#.#.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
  ]],
  ["XYZ[\\]^_`abcde", [
    "#...# #...# ##### .###. ..... .###. ..#.. ..... .#... ..... #.... ..... ....# .....",
    "#...# #...# ....# .#... #.... ...#. .#.#. ..... ..#.. ..... #.... ..... ....# .....",
    ".#.#. .#.#. ...#. .#... .#... ...#. #...# ..... ...#. .###. #.##. .###. .##.# .###.",
    "..#.. ..#.. ..#.. .#... ..#.. ...#. ..... ..... ..... ....# ##..# #.... #..## #...#",
    ".#.#. ..#.. .#... .#... ...#. ...#. ..... ..... ..... .#### #...# #.... #...# #####",
    "#...# ..#.. #.... .#... ....# ...#. ..... ..... ..... #...# #...# #...# #...# #....",
    "#...# ..#.. ##### .###. ..... .###. ..... ..... ..... .#### ####. .###. .#### .###.",
    "..... ..... ..... ..... ..... ..... ..... ##### ..... ..... ..... ..... ..... .....",
  ]],
  ["fghijklmnopqrs", [
    "..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... ..... ..... ..... ..... .....",
    ".#..# ..... #.... ..... ..... #.... ..#.. ..... ..... ..... ..... ..... ..... .....",
    ".#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###. ####. .#### #.##. .####",
    "###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...# #...# #...# ##..# #....",
    ".#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...# #...# #...# #.... .###.",
    ".#... .#### #...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# ####. .#### #.... ....#",
    ".#... ....# #...# .###. #..#. #..#. .###. #.#.# #...# .###. #.... ....# #.... ####.",
    "..... .###. ..... ..... .##.. ..... ..... ..... ..... ..... #.... ....# ..... .....",
  ]],
  ["tuvwxyz{|}~", [
    ".#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... .....",
    ".#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....",
    "###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#...",
    ".#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.#",
    ".#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.",
    ".#..# #..## .#.#. #.#.# .#.#. .#### .#... ..#.. ..#.. ..#.. .....",
    "..##. .##.# ..#.. .#.#. #...# ....# ##### ...#. ..#.. .#... .....",
    "..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....",
  ]],
];

/** Glyph rows as 5-bit masks (bit 4 = leftmost column), keyed by character. */
const FONT: Map<string, number[]> = new Map();
for (const [chars, rows] of FONT_ART) {
  [...chars].forEach((ch, i) => {
    FONT.set(
      ch,
      rows.map((r) =>
        parseInt(r.slice(i * 6, i * 6 + 5).replaceAll("#", "1").replaceAll(".", "0"), 2)
      ),
    );
  });
}
