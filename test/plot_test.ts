import assert from "node:assert/strict";
import { join } from "node:path";
import { decodePng, type RgbImage } from "../lib/image.ts";
import {
  contourPlot,
  contourPlotScene,
  contourSegments,
  histogram,
  histogramPlot,
  linearAxis,
  linePlot,
  linePlotScene,
  logAxis,
  renderPlotPng,
  renderScene,
  savePlot,
  scatterPlot,
  type Scene,
  smoothEma,
} from "../lib/plot.ts";

// ---------------------------------------------------------------------------------------------
// A small XML well-formedness checker (enough for the SVG subset we emit).

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

/** Checks tag balance, attribute syntax, entity use and a single <svg> root; returns elements. */
function parseXml(xml: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const stack: XmlElement[] = [];
  let roots = 0;
  let at = 0;
  const checkText = (t: string) => {
    assert.ok(!t.includes(">"), `raw '>' in text: ${t.slice(0, 40)}`);
    for (const m of t.matchAll(/&/g)) {
      const rest = t.slice(m.index);
      assert.match(rest, /^&(#\d+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);/, "bare '&'");
    }
  };
  while (at < xml.length) {
    const open = xml.indexOf("<", at);
    const textPart = xml.slice(at, open < 0 ? xml.length : open);
    checkText(textPart);
    if (stack.length > 0) stack[stack.length - 1].text += textPart;
    else assert.equal(textPart.trim(), "", "text outside the root element");
    if (open < 0) break;
    const close = xml.indexOf(">", open);
    assert.ok(close > open, "unterminated tag");
    const tag = xml.slice(open, close + 1);
    at = close + 1;
    const end = /^<\/([\w:-]+)\s*>$/.exec(tag);
    if (end) {
      const top = stack.pop();
      assert.equal(top?.name, end[1], `</${end[1]}> closes <${top?.name}>`);
      continue;
    }
    const m = /^<([\w:-]+)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>$/.exec(tag);
    assert.ok(m, `malformed tag ${tag.slice(0, 80)}`);
    const attrs: Record<string, string> = {};
    for (const a of m[2].matchAll(/([\w:-]+)="([^"]*)"/g)) {
      assert.ok(!(a[1] in attrs), `duplicate attribute ${a[1]}`);
      checkText(a[2]);
      attrs[a[1]] = a[2];
    }
    const el = { name: m[1], attrs, text: "" };
    elements.push(el);
    if (stack.length === 0) roots++;
    if (m[3] !== "/") stack.push(el);
  }
  assert.equal(stack.length, 0, "unclosed tags");
  assert.equal(roots, 1, "exactly one root element");
  assert.equal(elements[0].name, "svg");
  assert.equal(elements[0].attrs.xmlns, "http://www.w3.org/2000/svg");
  assert.match(elements[0].attrs.viewBox, /^0 0 \d+ \d+$/);
  return elements;
}

const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, d) => String.fromCharCode(Number(d)));

/** Points of the polylines inside the `<g data-name=name>` group, one array per polyline. */
function seriesPolylines(svg: string, name: string): number[][][] {
  const g = new RegExp(`<g [^>]*data-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg);
  assert.ok(g, `no group for ${name}`);
  return [...g[1].matchAll(/points="([^"]*)"/g)].map((m) =>
    m[1].split(" ").map((p) => p.split(",").map(Number))
  );
}

/** Tick labels: 10-px texts anchored "middle" (x axis, below the area) or "end" (y axis). */
function tickLabels(els: XmlElement[], anchor: "middle" | "end"): number[] {
  return els
    .filter((e) =>
      e.name === "text" && e.attrs["font-size"] === "10" && e.attrs["text-anchor"] === anchor
    )
    .map((e) => Number(unescape(e.text)));
}

function plotArea(els: XmlElement[]): { x: number; y: number; w: number; h: number } {
  const clip = els.findIndex((e) => e.name === "clipPath");
  const r = els[clip + 1];
  return { x: +r.attrs.x, y: +r.attrs.y, w: +r.attrs.width, h: +r.attrs.height };
}

// ---------------------------------------------------------------------------------------------

Deno.test("axes: nice ticks by hand", () => {
  // span 9.57 / 5 = 1.91 -> step 2; domain extended to [0, 10].
  const a = linearAxis(0.13, 9.7, 5);
  assert.deepEqual(a.ticks, [0, 2, 4, 6, 8, 10]);
  assert.deepEqual([a.lo, a.hi], [0, 10]);
  // span 0.89 / 4 = 0.22 -> step 0.2; floor(-0.37/0.2) = -2, ceil(0.52/0.2) = 3.
  const b = linearAxis(-0.37, 0.52, 4);
  assert.deepEqual(b.labels, ["-0.4", "-0.2", "0", "0.2", "0.4", "0.6"]);
  // A fixed range keeps its ends; ticks stay inside.
  const c = linearAxis(0, 0, 5, [0.05, 0.95]);
  assert.deepEqual([c.lo, c.hi], [0.05, 0.95]);
  assert.deepEqual(c.ticks, [0.2, 0.4, 0.6, 0.8]);
  // Constant data gets +-10%.
  const d = linearAxis(5, 5, 4);
  assert.ok(d.lo <= 4.5 && d.hi >= 5.5 && d.lo < d.hi);
  // Log axis: decades enclosing [0.02, 300].
  const e = logAxis(Math.log10(0.02), Math.log10(300));
  assert.deepEqual(e.ticks, [-2, -1, 0, 1, 2, 3]);
  assert.deepEqual(e.labels, ["0.01", "0.1", "1", "10", "100", "1000"]);
});

Deno.test("linePlot: well-formed SVG, points map to data, NaN/Infinity skipped, ticks enclose data", () => {
  const y = [3, 1, 4, 1, NaN, 9, 2, Infinity, 5, 3.5];
  const x = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19.5];
  const svg = linePlot(
    [{ name: "loss", x, y }, { name: "other", y: [2, 2.5], dashed: true }],
    { title: `G & D <losses> "quoted"`, xLabel: "iter", yLabel: "value" },
  );
  const els = parseXml(svg);
  // The title is escaped and comes back intact.
  const title = els.find((e) => e.name === "text" && e.attrs["font-size"] === "14");
  assert.equal(unescape(title!.text), `G & D <losses> "quoted"`);

  // Broken into runs at NaN (index 4) and Infinity (index 7): 4 + 2 + 2 points.
  const runs = seriesPolylines(svg, "loss");
  assert.deepEqual(runs.map((r) => r.length), [4, 2, 2]);

  const xt = tickLabels(els, "middle");
  const yt = tickLabels(els, "end");
  // Finite data: x in [0, 19.5] (the second series uses indices 0, 1), y in [1, 9].
  assert.ok(Math.min(...xt) <= 0 && Math.max(...xt) >= 19.5, `x ticks ${xt}`);
  assert.ok(Math.min(...yt) <= 1 && Math.max(...yt) >= 9, `y ticks ${yt}`);

  // Independent mapping from the plot area and the outer ticks (the domain ends on them).
  const a = plotArea(els);
  const [x0, x1, y0, y1] = [Math.min(...xt), Math.max(...xt), Math.min(...yt), Math.max(...yt)];
  const finite = x.map((xi, i) => [xi, y[i]]).filter(([, v]) => Number.isFinite(v));
  runs.flat().forEach(([px, py], i) => {
    const [dx, dy] = finite[i];
    assert.ok(Math.abs(px - (a.x + ((dx - x0) / (x1 - x0)) * a.w)) < 0.01);
    assert.ok(Math.abs(py - (a.y + a.h - ((dy - y0) / (y1 - y0)) * a.h)) < 0.01);
  });
  // The dashed series carries a dash array.
  assert.match(svg, /data-name="other"/);
  assert.match(svg, /stroke-dasharray="6 4"[^>]*data-name="other"/);
});

Deno.test("linePlot: errors and degenerate data", () => {
  assert.throws(() => linePlot([]), /no series/);
  assert.throws(() => linePlot([{ name: "e", y: [] }]), /empty/);
  assert.throws(() => linePlot([{ name: "n", y: [NaN, Infinity] }]), /no finite data/);
  assert.throws(() => linePlot([{ name: "m", x: [1, 2], y: [1] }]), /2 x but 1 y/);
  assert.throws(() => linePlot([{ name: "c", y: [1], color: "red" }]), /colours/);
  // Constant data still gets a proper axis; all points at one y.
  const svg = linePlot([{ name: "flat", y: [5, 5, 5, 5] }]);
  const els = parseXml(svg);
  const yt = tickLabels(els, "end");
  assert.ok(Math.min(...yt) < 5 && Math.max(...yt) > 5, `y ticks ${yt}`);
  const pts = seriesPolylines(svg, "flat").flat();
  assert.equal(pts.length, 4);
  assert.ok(pts.every(([, py]) => py === pts[0][1] && Number.isFinite(py)));
  // A single point is fine too.
  parseXml(linePlot([{ name: "one", y: [0] }]));
});

Deno.test("linePlot: very long monotone series are thinned, keeping extremes and ends", () => {
  const n = 50_000;
  // A deterministic wiggle with one spike up and one down.
  const y = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + (i % 7) * 0.1);
  y[12_345] = 10;
  y[40_000] = -10;
  const svg = linePlot([{ name: "long", y }]);
  const els = parseXml(svg);
  const a = plotArea(els);
  const pts = seriesPolylines(svg, "long").flat();
  // At most 4 points per half-pixel column.
  assert.ok(pts.length <= 4 * (2 * a.w + 2), `${pts.length} points`);
  assert.ok(pts.length < n / 10);
  const xt = tickLabels(els, "middle");
  const yt = tickLabels(els, "end");
  const [x0, x1, y0, y1] = [Math.min(...xt), Math.max(...xt), Math.min(...yt), Math.max(...yt)];
  const toPx = (i: number) => [
    a.x + ((i - x0) / (x1 - x0)) * a.w,
    a.y + a.h - ((y[i] - y0) / (y1 - y0)) * a.h,
  ];
  for (const i of [0, 12_345, 40_000, n - 1]) {
    const [px, py] = toPx(i);
    assert.ok(
      pts.some(([qx, qy]) => Math.abs(qx - px) < 0.01 && Math.abs(qy - py) < 0.01),
      `point ${i}`,
    );
  }
  // x never decreases along the thinned line.
  for (let k = 1; k < pts.length; k++) assert.ok(pts[k][0] >= pts[k - 1][0]);
});

Deno.test("linePlot: log axis skips values <= 0", () => {
  const svg = linePlot([{ name: "w1", y: [100, 10, 0, -1, 1, 0.1] }], { logY: true });
  const els = parseXml(svg);
  assert.deepEqual(seriesPolylines(svg, "w1").map((r) => r.length), [2, 2]);
  const yt = tickLabels(els, "end");
  assert.deepEqual(yt, [0.1, 1, 10, 100]);
});

Deno.test("smoothEma: debiased EMA by hand", () => {
  // w = 0.5: acc = 0.5, 1.25, 2.125 (NaN skipped); divided by 1 - 0.5^k = 0.5, 0.75, 0.875.
  const s = smoothEma([1, 2, NaN, 3], 0.5);
  assert.equal(s[0], 1);
  assert.ok(Math.abs(s[1] - 1.25 / 0.75) < 1e-12);
  assert.ok(Number.isNaN(s[2]));
  assert.ok(Math.abs(s[3] - 2.125 / 0.875) < 1e-12);
  assert.throws(() => smoothEma([1], 1));
  // With smoothing, the raw series is drawn faintly and the smoothed one on top.
  const svg = linePlot([{ name: "g", y: [1, 2, 3, 4] }], { smooth: 0.6 });
  parseXml(svg);
  assert.match(svg, /stroke-opacity="0.25"/);
});

Deno.test("histogram: numpy binning by hand", () => {
  const values = [0, 0.5, 1, 1, 2, 3, NaN, -1, 4];
  // Bins [0,1) [1,2) [2,3) [3,4]: the last bin includes 4; -1 and NaN are ignored.
  const { counts, edges } = histogram(values, 4, [0, 4]);
  assert.deepEqual([...counts], [2, 2, 1, 2]);
  assert.deepEqual([...edges], [0, 1, 2, 3, 4]);
  const d = histogram(values, 4, [0, 4], true);
  assert.deepEqual([...d.counts], [2 / 7, 2 / 7, 1 / 7, 2 / 7]);
});

Deno.test("histogramPlot: one bar per non-empty bin, overlay curve, well-formed", () => {
  const svg = histogramPlot(
    [{ name: "real", values: [0, 0.5, 1, 1, 2, 3, NaN, -1, 4] }, { name: "fake", values: [3.5] }],
    { bins: 4, range: [0, 4], overlay: [{ name: "D(x)", x: [0, 2, 4], y: [1, 0.5, 0] }] },
  );
  const els = parseXml(svg);
  const bars = els.filter((e) => e.name === "rect" && e.attrs["fill-opacity"] === "0.35");
  const byColor = new Map<string, number>();
  bars.forEach((b) => byColor.set(b.attrs.fill, (byColor.get(b.attrs.fill) ?? 0) + 1));
  assert.deepEqual([...byColor.values()], [4, 1]);
  assert.deepEqual(seriesPolylines(svg, "D\\(x\\)").map((r) => r.length), [3]);
  // Bars stand on the x axis and the x axis spans exactly the binned range.
  const xt = tickLabels(els, "middle");
  assert.deepEqual([Math.min(...xt), Math.max(...xt)], [0, 4]);
  assert.throws(() => histogramPlot([{ name: "e", values: [] }]), /empty/);
  // Constant data gets a non-empty range.
  parseXml(histogramPlot([{ name: "c", values: [2, 2, 2] }]));
});

Deno.test("scatterPlot: one circle per finite point", () => {
  const svg = scatterPlot([
    { name: "real", x: [0, 1, 2, NaN], y: [0, 1, 4, 2] },
    { name: "fake", x: [1, 2], y: [Infinity, -3] },
  ]);
  parseXml(svg);
  const count = (name: string) => {
    const g = new RegExp(`<g [^>]*data-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg)!;
    return (g[1].match(/<circle /g) ?? []).length;
  };
  assert.equal(count("real"), 3);
  assert.equal(count("fake"), 1);
});

/** z = x^2 + y^2 sampled on [-2, 2]^2 with step h. */
function paraboloid(h: number) {
  const n = Math.round(4 / h) + 1;
  const xs = Array.from({ length: n }, (_, i) => -2 + i * h);
  const z = xs.flatMap((y) => xs.map((x) => x * x + y * y));
  return { xs, ys: xs, z };
}

Deno.test("contourSegments: circles of z = x^2 + y^2 at the right radius, closed", () => {
  const grid = paraboloid(0.05);
  for (const r of [0.5, 1, 1.7]) {
    const seg = contourSegments(grid, r * r);
    assert.ok(seg.length > 0);
    let length = 0;
    const ends = new Map<string, number>();
    for (let i = 0; i < seg.length; i += 4) {
      for (const k of [i, i + 2]) {
        const rad = Math.hypot(seg[k], seg[k + 1]);
        assert.ok(Math.abs(rad - r) < 0.005, `vertex at radius ${rad}, want ${r}`);
        const key = `${seg[k].toFixed(9)},${seg[k + 1].toFixed(9)}`;
        ends.set(key, (ends.get(key) ?? 0) + 1);
      }
      length += Math.hypot(seg[i + 2] - seg[i], seg[i + 3] - seg[i + 1]);
    }
    // A closed curve: every vertex is shared by an even number of segment ends (2, or 4 where
    // the circle passes within rounding of a grid vertex); the length is ~2*pi*r.
    assert.ok([...ends.values()].every((c) => c % 2 === 0), "open contour");
    assert.ok(Math.abs(length - 2 * Math.PI * r) / (2 * Math.PI * r) < 0.01, `length ${length}`);
  }
});

Deno.test("contourSegments: saddle cells resolved by the centre value (hand-computed)", () => {
  // Corners (0,0)=1, (1,0)=0, (0,1)=0, (1,1)=1.
  const grid = { xs: [0, 1], ys: [0, 1], z: [1, 0, 0, 1] };
  // Level 0.5: centre mean 0.5 counts as inside, so the two low corners are cut off.
  const a = contourSegments(grid, 0.5);
  assert.deepEqual(a, [0.5, 0, 1, 0.5, 0.5, 1, 0, 0.5]);
  // Level 0.6: centre is outside, so the two high corners are cut off. Crossings at t = 0.4 from
  // a high corner: (0.4, 0), (1, 0.6), (0.6, 1), (0, 0.4).
  const b = contourSegments(grid, 0.6).map((v) => Math.round(v * 1e12) / 1e12);
  assert.deepEqual(b, [0, 0.4, 0.4, 0, 1, 0.6, 0.6, 1]);
  // Non-finite corners skip the cell.
  assert.deepEqual(contourSegments({ xs: [0, 1], ys: [0, 1], z: [1, NaN, 0, 1] }, 0.5), []);
});

Deno.test("contourPlot: levels, filled image, points, errors", () => {
  const grid = paraboloid(0.1);
  const svg = contourPlot(grid, {
    levels: [1, 2, 3],
    filled: true,
    points: [{ name: "s", x: [0], y: [0] }],
  });
  const els = parseXml(svg);
  for (const level of ["1", "2", "3"]) assert.match(svg, new RegExp(`data-name="${level}"`));
  const img = els.find((e) => e.name === "image")!;
  const b64 = img.attrs["xlink:href"].replace("data:image/png;base64,", "");
  const png = decodePng(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  const a = plotArea(els);
  assert.deepEqual([png.width, png.height], [a.w * 2, a.h * 2]);
  // Band colours: the centre (z = 0 < 1) and a corner (z = 8 > 3) differ.
  const at = (
    x: number,
    y: number,
  ) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4)];
  assert.notDeepEqual(at(png.width >> 1, png.height >> 1), at(1, 1));
  parseXml(contourPlot(grid, { levels: 5 }));
  assert.throws(() => contourPlot({ xs: [0, 1], ys: [0, 1], z: [1, 2, 3] }), /z has 3/);
  assert.throws(() => contourPlot({ xs: [1, 0], ys: [0, 1], z: [1, 2, 3, 4] }), /increasing/);
});

// ---------------------------------------------------------------------------------------------
// Raster output

function pixel(img: RgbImage, x: number, y: number): number[] {
  const k = (y * img.width + x) * img.channels;
  return [...img.data.subarray(k, k + img.channels)];
}

Deno.test("renderScene: exact glyph pixels and box coverage", () => {
  const scene: Scene = {
    width: 30,
    height: 30,
    background: "#ffffff",
    plotArea: { x: 0, y: 0, w: 30, h: 30 },
    items: [
      { kind: "text", x: 10, y: 20, text: "L", size: 10, color: "#000000" },
      { kind: "rect", x: 2.5, y: 25, w: 2, h: 1, fill: "#000000" },
    ],
  };
  const img = renderScene(scene);
  // "L" at size 10 is drawn with 1-px font pixels: column 0 from 7 rows above the baseline
  // (y = 13) down to y = 19, and the bottom row y = 19 from x = 10 to 14.
  for (let y = 10; y < 24; y++) {
    for (let x = 8; x < 18; x++) {
      const ink = (x === 10 && y >= 13 && y <= 19) || (y === 19 && x >= 10 && x <= 14);
      assert.deepEqual(pixel(img, x, y), ink ? [0, 0, 0] : [255, 255, 255], `(${x}, ${y})`);
    }
  }
  // Rect [2.5, 4.5] x [25, 26]: pixels 2 and 4 half covered (255 * 0.5 -> 127.5 -> 128), 3 full.
  assert.deepEqual([2, 3, 4].map((x) => pixel(img, x, 25)[0]), [128, 0, 128]);
  assert.deepEqual(pixel(img, 5, 25), [255, 255, 255]);
});

Deno.test("renderPlotPng: decodes at the scaled size with the line where the data is", async () => {
  const scene = linePlotScene([{ name: "flat", y: [2, 2, 2, 2, 2], color: "#ff0000", width: 2 }], {
    title: "Flat line",
  });
  const line = scene.items.find((it) => it.kind === "path" && it.name === "flat");
  assert.ok(line && line.kind === "path");
  const [x0, y0] = line.subpaths[0];
  const x1 = line.subpaths[0][line.subpaths[0].length - 2];
  const png = decodePng(renderPlotPng(scene)); // default scale 2
  assert.deepEqual([png.width, png.height, png.channels], [scene.width * 2, scene.height * 2, 3]);
  const row = Math.floor(y0 * 2);
  for (const f of [0.1, 0.3, 0.5, 0.7, 0.9]) {
    const [r, g, b] = pixel(png, Math.floor((x0 + f * (x1 - x0)) * 2), row);
    assert.ok(r > 200 && g < 80 && b < 80, `line pixel ${[r, g, b]}`);
  }
  // Well away from the line (a quarter of the plot height below it) the plot is background.
  const a = scene.plotArea;
  const [r, g, b] = pixel(png, Math.floor((a.x + a.w * 0.37) * 2), Math.floor((y0 + a.h / 4) * 2));
  assert.ok(r === g && g === b && r >= 220, `background ${[r, g, b]}`); // white or a grid line
  // The title is drawn: dark pixels in the top margin, roughly centred.
  const inkX: number[] = [];
  for (let y = 0; y < (a.y - 8) * 2; y++) { // above the top y tick label
    for (let x = 0; x < png.width; x++) if (pixel(png, x, y)[0] < 100) inkX.push(x);
  }
  assert.ok(inkX.length > 50);
  assert.ok(Math.abs((Math.min(...inkX) + Math.max(...inkX)) / 2 - png.width / 2) < 8);

  const dir = await Deno.makeTempDir();
  try {
    await savePlot(join(dir, "p.png"), scene, { scale: 1 });
    const back = decodePng(await Deno.readFile(join(dir, "p.png")));
    assert.deepEqual([back.width, back.height], [scene.width, scene.height]);
    await savePlot(join(dir, "p.svg"), scene);
    parseXml(await Deno.readTextFile(join(dir, "p.svg")));
    await assert.rejects(() => savePlot(join(dir, "p.jpg"), scene), /\.svg or \.png/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderScene: every plot kind rasterizes", () => {
  const grid = paraboloid(0.2);
  const scene = contourPlotScene(grid, {
    filled: true,
    title: "critic",
    points: [{ name: "p", x: [1], y: [1] }],
  });
  const img = renderScene(scene);
  assert.deepEqual([img.width, img.height], [scene.width, scene.height]);
  // The filled area is coloured (not white) at the plot centre.
  const a = scene.plotArea;
  assert.notDeepEqual(pixel(img, Math.floor(a.x + a.w / 2), Math.floor(a.y + a.h / 2)), [
    255,
    255,
    255,
  ]);
});
