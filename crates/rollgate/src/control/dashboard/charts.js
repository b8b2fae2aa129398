// The live charts: one uPlot per metric, a line per version, redrawn from the tab's history.
// Charts are rebuilt only when the service or its set of versions changes; otherwise each poll
// just hands uPlot new arrays, which is cheap enough for every second.

import { colorOf } from "./format.js";

/** What is charted, in display order. `dash` series are drawn dashed (configured, not observed). */
// `top` is the least the y axis shows, so a quiet metric reads as a flat line at zero rather
// than noise blown up to full height; percentages of a whole are pinned to 0–100.
const CHARTS = [
  { id: "rps", title: "Requests per second", unit: "req/s", digits: 1, top: 1 },
  { id: "err", title: "Error rate", unit: "%", digits: 2, top: 1 },
  { id: "p95", title: "Latency p95, last minute", unit: "ms", digits: 1, top: 1 },
  { id: "acc", title: "Accuracy from labels", unit: "%", digits: 1, fixed: 100 },
  { id: "share", title: "Traffic share (observed; dashed: weight)", unit: "%", digits: 1, dash: "weight", fixed: 100 },
  { id: "disagree", title: "Shadow divergence", unit: "%", digits: 1, top: 1 },
];

const HEIGHT = 170;

/** The versions' colours, once for all charts. */
function legend(order) {
  const box = document.createElement("ul");
  box.className = "legend";
  box.setAttribute("aria-label", "Chart legend");
  for (const name of order) {
    const li = document.createElement("li");
    const line = document.createElement("span");
    line.className = "legend-line";
    line.style.background = colorOf(name, order);
    li.append(line, name);
    box.append(li);
  }
  const note = document.createElement("li");
  note.className = "muted";
  note.textContent = "dashed: configured weight";
  box.append(note);
  return box;
}

export class Charts {
  constructor(root) {
    this.root = root;
    this.plots = [];
    this.key = "";
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(root);
  }

  /** Draws the history of `service` (its versions in `order`). */
  update(service, order, history) {
    const key = service + "|" + order.join(",");
    if (key !== this.key) this.build(key, order);
    for (const p of this.plots) p.plot.setData(this.data(p.def, order, history));
  }

  build(key, order) {
    this.destroy();
    this.key = key;
    if (typeof uPlot !== "function") {
      this.root.textContent = "Charts are unavailable: the uPlot script did not load.";
      return;
    }
    this.root.append(legend(order));
    for (const def of CHARTS) {
      const box = document.createElement("figure");
      box.className = "chart";
      box.dataset.testid = "chart-" + def.id;
      const cap = document.createElement("figcaption");
      cap.textContent = `${def.title} (${def.unit})`;
      box.append(cap);
      // The canvas is not readable by screen readers; the table above holds the same numbers.
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", `${def.title}, per version, last 5 minutes; the table above has the current values`);
      this.root.append(box);
      const plot = new uPlot(this.options(def, order, box), this.empty(def, order), box);
      this.plots.push({ def, plot, box });
    }
    this.fit();
  }

  options(def, order, box) {
    const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(def.digits));
    const series = [{}];
    for (const name of order) {
      series.push({ label: name, stroke: colorOf(name, order), width: 2, spanGaps: false, value: (u, v) => fmt(v) });
    }
    if (def.dash) {
      for (const name of order) {
        series.push({ label: name + " weight", stroke: colorOf(name, order), width: 1.5, dash: [6, 4], value: (u, v) => fmt(v) });
      }
    }
    return {
      width: this.width(box),
      height: HEIGHT,
      series,
      scales: { x: { time: true }, y: { range: (u, min, max) => (def.fixed ? [0, def.fixed] : [0, Math.max(def.top, (max ?? 0) * 1.15)]) } },
      axes: [
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          // Whole seconds and wall-clock labels: sub-second ticks mean nothing at 1 s sampling.
          incrs: [1, 5, 10, 15, 30, 60, 120, 300],
          space: 70,
          values: (u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString("en-GB", { hour12: false })),
        },
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 52 },
      ],
      // One shared legend above the charts names the versions; the table has the values.
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
    };
  }

  data(def, order, history) {
    const out = [history.t];
    const col = (name, metric) => {
      const s = history.series.get(name);
      return s ? s[metric] : history.t.map(() => null);
    };
    for (const name of order) out.push(col(name, def.id));
    if (def.dash) for (const name of order) out.push(col(name, def.dash));
    return out;
  }

  empty(def, order) {
    const n = 1 + order.length * (def.dash ? 2 : 1);
    return Array.from({ length: n }, () => []);
  }

  /** The grid decides each chart's column; the canvas just fills it. */
  width(box) {
    return Math.max(200, Math.floor(box.clientWidth));
  }

  fit() {
    for (const p of this.plots) {
      const w = this.width(p.box);
      if (w !== p.plot.width) p.plot.setSize({ width: w, height: HEIGHT });
    }
  }

  destroy() {
    for (const p of this.plots) p.plot.destroy();
    this.plots = [];
    this.root.textContent = "";
    this.key = "";
  }
}
