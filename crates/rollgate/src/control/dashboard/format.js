// Small helpers shared by the views: building DOM nodes (always through textContent, so no
// value from the API is ever parsed as HTML), number and time formatting, version colours.

/** h("td", {class: "x", dataset: {testid: "y"}}, "text", child) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Colour-blind-safe palette (Okabe–Ito), darkened where needed for contrast on white. */
const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#000000"];

/** A version keeps its colour in every chart and table of the service. */
export function colorOf(name, order) {
  const i = order.indexOf(name);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

export const dash = "–";

export function fixed(v, digits) {
  return v === null || v === undefined || Number.isNaN(v) ? dash : Number(v).toFixed(digits);
}

export function percent(ratio, digits = 1) {
  return ratio === null || ratio === undefined ? dash : (100 * ratio).toFixed(digits) + " %";
}

export function ms(v) {
  if (v === null || v === undefined) return dash;
  return (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + " ms";
}

export function count(n) {
  return n === null || n === undefined ? dash : Number(n).toLocaleString("en-US");
}

/** 75_000 -> "1 min 15 s". */
export function duration(msTotal) {
  if (msTotal === null || msTotal === undefined) return dash;
  let s = Math.floor(msTotal / 1000);
  const parts = [];
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) parts.push(d + " d");
  if (hr) parts.push(hr + " h");
  if (m && !d) parts.push(m + " min");
  if (!d && !hr) parts.push(s + " s");
  return parts.join(" ");
}

export function clock(unixMs) {
  const d = new Date(unixMs);
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

export function stamp(unixMs) {
  const d = new Date(unixMs);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** A compact one-line rendering of a JSON value, cut at `max` characters. */
export function brief(value, max = 140) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** "blue_green" -> "blue/green", "ab_test" -> "A/B test". */
export function strategyName(s) {
  return { canary: "canary", blue_green: "blue/green", shadow: "shadow", ab_test: "A/B test", rolling: "rolling", steps: "custom steps" }[s] || s || dash;
}

export function phaseName(p) {
  return (p || "").replace(/_/g, " ");
}
