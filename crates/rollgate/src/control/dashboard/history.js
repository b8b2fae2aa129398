// The last few minutes of each service's numbers, kept in this tab only. The API gives
// cumulative counters and current gauges; rates and per-interval shares are differences
// between samples, so they exist only from the second sample on.

/** How much history a chart shows. */
export const WINDOW_S = 300;
/** Rates are taken over this many seconds, so one slow poll does not make a spike. */
const RATE_S = 5;

/** Metrics kept per version, each an array aligned with `t`. */
export const METRICS = ["rps", "err", "p95", "acc", "share", "weight", "disagree"];

const num = (v) => (v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v));

export class History {
  constructor() {
    /** Sample times, unix seconds (uPlot's x scale). */
    this.t = [];
    /** version -> { metric -> values } */
    this.series = new Map();
    /** version -> recent raw counters [{t, requests, errors}] for the rates. */
    this.raw = new Map();
  }

  /** Appends one sample of a ServiceView taken at `now` (unix seconds). */
  push(now, service) {
    const deltas = new Map();
    let total = 0;
    for (const v of service.versions) {
      const d = this.counters(v, now);
      deltas.set(v.name, d);
      if (d) total += d.requests;
    }
    this.t.push(now);
    for (const v of service.versions) {
      const s = this.seriesOf(v.name);
      const d = deltas.get(v.name);
      const st = v.stats || {};
      s.rps.push(d ? d.requests / d.dt : null);
      s.err.push(d && d.requests > 0 ? (100 * d.errors) / d.requests : null);
      s.p95.push(num(st.recent_p95_ms));
      s.acc.push(st.accuracy === null || st.accuracy === undefined ? null : 100 * st.accuracy);
      s.share.push(d && total > 0 ? (100 * d.requests) / total : null);
      s.weight.push(num(v.weight_percent));
      s.disagree.push(st.shadow ? 100 * st.shadow.disagreement_rate : null);
    }
    // A version removed from the service keeps its column aligned with nulls.
    for (const [name, s] of this.series) {
      if (s.rps.length < this.t.length) for (const m of METRICS) s[m].push(null);
      if (!service.versions.some((v) => v.name === name) && s.rps.every((x) => x === null)) this.series.delete(name);
    }
    this.trim(now);
  }

  /** Requests and errors since about RATE_S ago; null on the first sample or after a restart. */
  counters(v, now) {
    const st = v.stats || {};
    const raw = this.raw.get(v.name) || [];
    raw.push({ t: now, requests: st.requests || 0, errors: st.errors || 0 });
    while (raw.length > 2 && now - raw[1].t >= RATE_S) raw.shift();
    this.raw.set(v.name, raw);
    const first = raw[0];
    const last = raw[raw.length - 1];
    const dt = last.t - first.t;
    if (raw.length < 2 || dt <= 0 || last.requests < first.requests) return null;
    return { dt, requests: last.requests - first.requests, errors: Math.max(0, last.errors - first.errors) };
  }

  seriesOf(name) {
    let s = this.series.get(name);
    if (!s) {
      s = {};
      for (const m of METRICS) s[m] = this.t.slice(0, -1).map(() => null);
      this.series.set(name, s);
    }
    return s;
  }

  trim(now) {
    let drop = 0;
    while (drop < this.t.length && this.t[drop] < now - WINDOW_S) drop++;
    if (drop === 0) return;
    this.t.splice(0, drop);
    for (const s of this.series.values()) for (const m of METRICS) s[m].splice(0, drop);
  }

  /** The latest value of a metric for a version. */
  latest(name, metric) {
    const s = this.series.get(name);
    return s ? s[metric][s[metric].length - 1] ?? null : null;
  }
}
