// Renders the API's answers into the page. Each function replaces one region wholesale from
// the latest data: the page holds no state of its own besides the charts' history, so what
// it shows is always what the API said at the last poll.

import { h, colorOf, fixed, percent, ms, count, duration, clock, stamp, brief, strategyName, phaseName, dash } from "./format.js";

const $ = (id) => document.getElementById(id);

/** Stable first, then the candidate, then the rest in config order. */
export function versionOrder(svc) {
  const names = svc.versions.map((v) => v.name);
  const first = [svc.stable, svc.candidate].filter((n) => n && names.includes(n));
  return [...new Set([...first, ...names])];
}

function roles(svc, name) {
  const r = [];
  if (name === svc.stable) r.push("stable");
  if (name === svc.candidate) r.push("candidate");
  if (svc.route && svc.route.mirror && svc.route.mirror.to === name) r.push("shadow");
  if (name === svc.previous) r.push("previous");
  return r;
}

function rolloutSummary(ro, supported) {
  if (ro === undefined) return supported ? "" : "rollouts unavailable";
  if (ro === null) return "no rollout";
  const step = ro.steps && ro.steps.length ? ` · step ${Math.min(ro.step + 1, ro.steps.length)}/${ro.steps.length}` : "";
  return `${strategyName(ro.strategy)}${step} · ${phaseName(ro.phase)}`;
}

/** The left-hand list: every service, its live weights and its rollout at a glance. */
export function serviceList(services, rollouts, selected, supported) {
  const items = services.map((svc) => {
    const order = versionOrder(svc);
    const ro = rollouts.get(svc.name);
    const weights = order.map((name) => {
      const v = svc.versions.find((x) => x.name === name);
      const bar = h("span", { class: "bar" });
      bar.style.width = Math.min(100, Number(v.weight_percent) || 0) + "%";
      bar.style.background = colorOf(name, order);
      return h(
        "li",
        { dataset: { testid: `list-${svc.name}-${name}` } },
        h("span", { class: "vname" }, name),
        h("span", { class: "track", "aria-hidden": "true" }, bar),
        h("span", { class: "w", dataset: { testid: `list-${svc.name}-${name}-weight` } }, v.weight_percent + " %"),
      );
    });
    const link = h(
      "a",
      { href: `#/service/${encodeURIComponent(svc.name)}`, "aria-current": svc.name === selected ? "page" : null, dataset: { testid: `service-${svc.name}` } },
      h("span", { class: "sname" }, svc.name),
      h("span", { class: "ro " + (ro ? "ro-" + ro.phase : ""), dataset: { testid: `service-${svc.name}-rollout` } }, rolloutSummary(ro, supported)),
    );
    return h("li", {}, link, h("ul", { class: "weights", "aria-label": `${svc.name} traffic weights` }, weights));
  });
  $("service-list").replaceChildren(...items);
}

/** Rows of the side-by-side table: [testid suffix, label, value of a version -> [text, raw]]. */
const ROWS = [
  ["weight", "Weight", (v) => [v.weight_percent + " %", v.weight_percent]],
  ["rate", "Requests/s (5 s)", (v, hist) => { const r = hist.latest(v.name, "rps"); return [fixed(r, 2), r]; }],
  ["requests", "Requests", (v) => [count(v.stats.requests), v.stats.requests]],
  ["errors", "Errors", (v) => [count(v.stats.errors), v.stats.errors]],
  ["error-rate", "Error rate", (v) => [percent(v.stats.error_rate, 2), v.stats.error_rate]],
  ["in-flight", "In flight", (v) => [count(v.stats.in_flight), v.stats.in_flight]],
  ["p50", "Latency p50", (v) => [ms(v.stats.requests ? v.stats.p50_ms : null), v.stats.p50_ms]],
  ["p95", "Latency p95", (v) => [ms(v.stats.requests ? v.stats.p95_ms : null), v.stats.p95_ms]],
  ["p99", "Latency p99", (v) => [ms(v.stats.requests ? v.stats.p99_ms : null), v.stats.p99_ms]],
  ["recent-p95", "p95, last minute", (v) => [ms(v.stats.recent_p95_ms), v.stats.recent_p95_ms]],
  ["labelled", "Labelled", (v) => [count(v.stats.labelled), v.stats.labelled]],
  ["accuracy", "Accuracy (labels)", (v) => [percent(v.stats.accuracy), v.stats.accuracy]],
  ["mae", "Mean abs. error", (v) => [fixed(v.stats.mae, 3), v.stats.mae], "mae"],
  ["reward", "Mean reward", (v) => [v.stats.rewards ? `${fixed(v.stats.mean_reward, 3)} (${count(v.stats.rewards)})` : dash, v.stats.mean_reward], "mean_reward"],
  ["invalid", "Invalid outputs", (v) => [count(v.stats.invalid), v.stats.invalid]],
  ["divergence", "Shadow divergence", (v) => shadowCell(v.stats.shadow), "shadow"],
  ["shadow-errors", "Shadow errors", (v) => { const s = v.stats.shadow; return s ? [`${count(s.candidate_errors)} of ${count(s.requests)}`, s.candidate_errors] : [dash, null]; }, "shadow"],
  ["latency-ratio", "Shadow latency ratio", (v) => { const s = v.stats.shadow; const r = s ? s.median_latency_ratio : null; return [r === null || r === undefined ? dash : fixed(r, 2) + "×", r]; }, "shadow"],
];

function shadowCell(s) {
  if (!s) return [dash, null];
  return [`${percent(s.disagreement_rate)} of ${count(s.compared)}`, s.disagreement_rate];
}

/** The side-by-side table of every version's live numbers. */
export function compare(svc, order, hist) {
  const versions = order.map((n) => svc.versions.find((v) => v.name === n));
  const head = [h("th", { scope: "col" }, "Metric")];
  for (const v of versions) {
    const tags = roles(svc, v.name).map((r) => h("span", { class: "tag tag-" + r }, r));
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = colorOf(v.name, order);
    head.push(h("th", { scope: "col", dataset: { testid: `version-${v.name}` } }, swatch, v.name, " ", tags));
  }
  $("compare-head").replaceChildren(...head);
  const rows = [];
  for (const [key, label, cell, onlyIf] of ROWS) {
    if (onlyIf && !versions.some((v) => v.stats[onlyIf] !== null && v.stats[onlyIf] !== undefined)) continue;
    const tds = versions.map((v) => {
      const [text, raw] = cell(v, hist);
      return h("td", { dataset: { testid: `version-${v.name}-${key}`, value: raw === null || raw === undefined ? "" : String(raw) } }, text);
    });
    rows.push(h("tr", {}, h("th", { scope: "row" }, label), tds));
  }
  $("compare-body").replaceChildren(...rows);
}

/** Which verbs apply in a phase; the API still has the last word (409). */
export function allowed(ro) {
  const live = ro && !ro.terminal;
  return {
    pause: live && ["pending", "progressing", "analysing"].includes(ro.phase),
    resume: live && ro.phase === "paused",
    approve: live && ro.phase === "paused",
    promote: live,
    abort: live && ro.phase !== "aborting",
  };
}

const GATE = /approv|gate|manual|pause/i;

/** The rollout card: phase, steps with the current one, verdicts and the report. */
export function rollout(ro, supported) {
  const none = $("rollout-none");
  const body = $("rollout-body");
  const ok = allowed(ro);
  for (const b of document.querySelectorAll("[data-action]")) b.disabled = !ok[b.dataset.action];
  if (!ro) {
    none.hidden = false;
    body.hidden = true;
    none.textContent = supported ? "No rollout for this service." : "This gateway has no rollout API.";
    return;
  }
  none.hidden = true;
  body.hidden = false;
  const phase = $("rollout-phase");
  phase.textContent = phaseName(ro.phase);
  phase.dataset.phase = ro.phase;
  phase.className = "phase phase-" + ro.phase;
  $("rollout-strategy").textContent = strategyName(ro.strategy);
  $("rollout-target").textContent = `${ro.candidate} (stable ${ro.stable})`;
  const n = (ro.steps || []).length;
  $("rollout-step").textContent = n ? `${Math.min(ro.step + 1, n)} of ${n}` : dash;
  const mirror = Number(ro.mirror_percent) > 0 ? `, mirrored ${ro.mirror_percent} %` : "";
  $("rollout-percent").textContent = `${ro.candidate_percent} %${mirror}`;
  $("rollout-elapsed").textContent = ro.terminal ? dash : duration(ro.step_elapsed_ms);
  const started = $("rollout-started");
  started.textContent = ro.started_at ? clock(ro.started_at) : dash;
  started.title = ro.started_at ? stamp(ro.started_at) : "";
  $("rollout-detail").textContent = ro.phase_detail || "";
  steps(ro);
  verdicts(ro);
  const report = $("rollout-report");
  const text = ro.report && ro.report.text;
  report.hidden = !text;
  if (text) $("rollout-report-text").textContent = text;
}

/** done, current, todo; or, once over: done, stopped (where it ended early), skipped. */
function stepState(ro, i) {
  if (i < ro.step || (ro.terminal && ro.phase === "promoted")) return "done";
  if (!ro.terminal) return i === ro.step ? "current" : "todo";
  return i === ro.step ? "stopped" : "skipped";
}

function steps(ro) {
  const items = (ro.steps || []).map((text, i) => {
    const state = stepState(ro, i);
    const gate = GATE.test(text) ? h("span", { class: "tag tag-gate" }, "manual gate") : null;
    const label = { done: "done", current: "current step", stopped: "stopped here", skipped: "not run", todo: "to do" }[state];
    return h(
      "li",
      { class: "step step-" + state, "aria-current": state === "current" ? "step" : null, dataset: { testid: `step-${i}`, state } },
      h("span", { class: "step-text" }, text),
      " ",
      gate,
      h("span", { class: "visually-hidden" }, ` (${label})`),
    );
  });
  $("rollout-steps").replaceChildren(...items);
}

function verdicts(ro) {
  const list = (ro.verdicts || []).slice().reverse();
  const items = list.map((v, i) =>
    h(
      "li",
      { class: "verdict verdict-" + v.outcome, dataset: { testid: `verdict-${i}`, outcome: v.outcome } },
      h("span", { class: "tag tag-" + v.outcome }, v.outcome),
      h("time", { datetime: new Date(v.at).toISOString(), title: stamp(v.at) }, clock(v.at)),
      h("span", { class: "muted" }, ` step ${v.step + 1} `),
      h("span", { class: "verdict-text" }, v.summary),
    ),
  );
  if (!items.length) items.push(h("li", { class: "muted" }, "No analysis yet."));
  $("rollout-verdicts").replaceChildren(...items);
}

/** The event log, newest first. */
export function events(list) {
  const rows = list.map((e) => {
    const change = [brief(e.before), brief(e.after)].filter(Boolean).join(" → ");
    const detail = brief(e.detail);
    const full = JSON.stringify({ before: e.before, after: e.after, detail: e.detail });
    return h(
      "tr",
      { dataset: { testid: `event-${e.id}`, kind: e.kind } },
      h("td", {}, h("time", { datetime: new Date(e.at_ms).toISOString(), title: stamp(e.at_ms) }, clock(e.at_ms))),
      h("td", {}, e.actor),
      h("td", {}, h("code", {}, e.kind)),
      h("td", { class: "change", title: full }, [change, detail].filter(Boolean).join(" · ") || dash),
    );
  });
  if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No events yet.")));
  $("event-body").replaceChildren(...rows);
}
