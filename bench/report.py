#!/usr/bin/env python3
"""Turns the raw output of one `bench/run.sh` run into its markdown report.

`run.sh` only starts processes and load generators; every figure is computed here, from the
files it leaves in the run's raw directory:

- `run.json`: the run's settings, machine facts and load averages;
- `<key>-wrk.txt`: wrk's output with the `WRK_RESULT` line of `bench/post.lua`;
- `<key>-cpu.txt`: `clk_tck user0 sys0 user1 sys1`, the server tree's CPU ticks around a wrk run;
- `<key>-oha.json` and `<key>-oha.rate`: oha's JSON summary and the rate it was asked for;
- `shadow-metrics.txt`: Rollgate's /metrics after the shadow section;
- `memory-<n>.txt`: `idle_kib peak_kib hwm_kib` of the memory section;
- `callgrind-<name>.ir`, `callgrind-<name>-annotate.txt`, `callgrind-<name>-oha.json`.

Usage: report.py RAW_DIR. Prints the report; exits 3 when some requests failed (the numbers
are then not valid), 0 otherwise. Standard library only, so it runs wherever run.sh does.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

GOALS = [
    ("proxy throughput, Rollgate / nginx", ">=", 1.10),
    ("proxy added p99, Rollgate / nginx", "<=", 1.00),
    ("in-process predict throughput, Rollgate / FastAPI", ">=", 20.0),
    ("shadow: primary p99 with / without 100% mirror", "<=", 1.10),
]

LABELS = {
    "direct": "direct upstream",
    "nginx": "nginx split_clients proxy",
    "rollgate": "Rollgate proxy route",
    "fastapi": "FastAPI + scikit-learn",
    "onnx": "Rollgate in-process ONNX",
}

# Below this many milliseconds nginx is taken to add nothing measurable over the upstream.
NO_ADDED_MS = 0.001

# Requests oha had in flight when its duration ran out: an artefact of stopping, not a failure.
DEADLINE_ABORT = "aborted due to deadline"


# ---------------------------------------------------------------- statistics


def median(values: list[float]) -> float:
    """The median; the mean of the two middle values for an even count."""
    return statistics.median(values)


def added_ratio(rollgate: float, nginx: float, direct: float) -> float | None:
    """Rollgate's latency added over the upstream, as a multiple of nginx's; None when nginx
    adds nothing measurable (there is then nothing to divide by)."""
    ng = nginx - direct
    if ng <= NO_ADDED_MS:
        return None
    return (rollgate - direct) / ng


def ratio(a: float, b: float) -> float | None:
    """a / b, or None when b is zero (a figure too small to divide by)."""
    return a / b if b else None


def goal_met(value: float | None, op: str, bound: float) -> str:
    if value is None:
        return "n/a"
    met = value >= bound if op == ">=" else value <= bound
    return "yes" if met else "no"


# ---------------------------------------------------------------- raw files


@dataclass
class Wrk:
    rps: float
    requests: int
    errors: int


@dataclass
class Cpu:
    """Server CPU per request, in microseconds."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system


@dataclass
class Oha:
    p50_ms: float
    p99_ms: float
    errors: int
    achieved: float
    rate: float
    ok: int


def parse_wrk(text: str) -> Wrk:
    line = next((l for l in text.splitlines() if l.startswith("WRK_RESULT")), None)
    if line is None:
        raise ValueError("no WRK_RESULT line in wrk's output")
    fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    errors = sum(int(v) for k, v in fields.items() if k.startswith("errors_"))
    return Wrk(float(fields["rps"]), int(fields["requests"]), errors)


def parse_cpu(text: str, requests: int) -> Cpu:
    clk, u0, s0, u1, s1 = (float(x) for x in text.split())
    per = 1e6 / clk / requests
    return Cpu((u1 - u0) * per, (s1 - s0) * per)


def parse_oha(doc: dict, rate: float) -> Oha:
    codes = doc.get("statusCodeDistribution") or {}
    errors = sum(v for k, v in codes.items() if k != "200")
    errors += sum(
        v for k, v in (doc.get("errorDistribution") or {}).items() if k != DEADLINE_ABORT
    )
    pct = doc["latencyPercentiles"]
    return Oha(
        p50_ms=pct["p50"] * 1000,
        p99_ms=pct["p99"] * 1000,
        errors=errors,
        achieved=doc["summary"]["requestsPerSec"],
        rate=rate,
        ok=int(codes.get("200", 0)),
    )


def metric_sum(metrics: str, name: str, service: str) -> int:
    """A counter of one service in Prometheus text, summed over its other labels."""
    total = 0.0
    label = f'service="{service}"'
    for line in metrics.splitlines():
        if line.startswith(name) and label in line:
            total += float(line.split()[-1])
    return int(total)


# The crate a function belongs to is the first path segment named in it
# (`<hyper::X as core::Future>::poll` is hyper's).
CRATE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*::")
ANNOTATE_ROW = re.compile(r"^\s*([0-9,]+) (?=\()")


def component(function: str, line: str) -> str:
    """The component a function's self cost is charged to in the callgrind table."""
    if ".S:" in line or "libc.so" in line:
        return "libc (memcpy, memcmp)"
    if re.match(r"_?mi_", function):
        return "allocator (mimalloc)"
    m = CRATE.search(function)
    crate = m.group(0)[:-2] if m else ""
    if crate in ("rollgate", "rollgate_core"):
        return "Rollgate's own code"
    if crate.startswith("hyper"):
        return "hyper, hyper-util (HTTP/1 server and client)"
    if crate in ("http", "http_body", "http_body_util", "httparse", "bytes"):
        return "http, httparse, bytes (headers, parsing, buffers)"
    if crate == "tokio":
        return "tokio (runtime, I/O, timers)"
    if crate in ("axum", "axum_core", "tower", "tower_service", "matchit"):
        return "axum, tower (routing, layers)"
    return "other (std, serde, hashing)"


def components(annotate: str, requests: int) -> list[tuple[str, float, float]]:
    """The function table of `callgrind_annotate --inclusive=no` (rows `IR (SHARE)
    FILE:FUNCTION [OBJECT]`) grouped by component: (component, instructions per request,
    share), largest first."""
    sums: dict[str, int] = {}
    lines = annotate.splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip().endswith("file:function")), None)
    for line in lines[start + 2 :] if start is not None else []:
        m = ANNOTATE_ROW.match(line)
        if not m:
            break  # the table ends at its first blank line
        place = line[m.end() :].split(")", 1)[1].strip()
        # File paths hold no colon, function names do (`::`): the first one ends the file.
        function = place.split(":", 1)[1].rsplit(" [", 1)[0] if ":" in place else place
        ir = int(m.group(1).replace(",", ""))
        c = component(function, line)
        sums[c] = sums.get(c, 0) + ir
    total = sum(sums.values())
    rows = [(c, ir / requests, 100 * ir / total) for c, ir in sums.items()]
    return sorted(rows, key=lambda r: -r[1])


# ---------------------------------------------------------------- the run


@dataclass
class Run:
    raw: Path
    settings: dict
    errors: bool = False
    lagged: list[str] = field(default_factory=list)
    goals: dict[str, float | None] = field(default_factory=dict)
    # Each raw file is read and checked once, however many tables use it.
    seen: dict[str, object] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        path = self.raw / name
        return path.read_text() if path.exists() else None

    def wrk(self, key: str) -> tuple[Wrk, Cpu | None] | None:
        if f"wrk:{key}" not in self.seen:
            self.seen[f"wrk:{key}"] = self._wrk(key)
        return self.seen[f"wrk:{key}"]  # type: ignore[return-value]

    def oha(self, key: str) -> Oha | None:
        if f"oha:{key}" not in self.seen:
            self.seen[f"oha:{key}"] = self._oha(key)
        return self.seen[f"oha:{key}"]  # type: ignore[return-value]

    def _wrk(self, key: str) -> tuple[Wrk, Cpu | None] | None:
        text = self.text(f"{key}-wrk.txt")
        if text is None:
            return None
        w = parse_wrk(text)
        self.errors |= w.errors > 0
        ticks = self.text(f"{key}-cpu.txt")
        return w, parse_cpu(ticks, w.requests) if ticks and w.requests else None

    def _oha(self, key: str) -> Oha | None:
        text = self.text(f"{key}-oha.json")
        if text is None:
            return None
        o = parse_oha(json.loads(text), float(self.text(f"{key}-oha.rate") or 0))
        self.errors |= o.errors > 0
        if o.rate and o.achieved < 0.95 * o.rate:
            self.lagged.append(f"{key} ({o.achieved:.0f}/s of {o.rate:.0f}/s)")
        return o


@dataclass
class Target:
    """One target's figures in a section: medians over rounds where there are several."""

    rps: float
    cpu: Cpu | None
    p50: float
    p99: float
    errors: int


def target(run: Run, keys: list[str]) -> Target | None:
    found = [(run.wrk(k), run.oha(k)) for k in keys]
    found = [(w, o) for w, o in found if w and o]
    if not found:
        return None
    cpus = [w[1] for w, _ in found if w[1]]
    cpu = (
        Cpu(median([c.user for c in cpus]), median([c.system for c in cpus])) if cpus else None
    )
    return Target(
        rps=median([w[0].rps for w, _ in found]),
        cpu=cpu,
        p50=median([o.p50_ms for _, o in found]),
        p99=median([o.p99_ms for _, o in found]),
        errors=sum(w[0].errors + o.errors for w, o in found),
    )


def fmt_cpu(c: Cpu | None) -> tuple[str, str, str]:
    if c is None:
        return ("?", "?", "?")
    return (f"{c.total:.1f}", f"{c.user:.1f}", f"{c.system:.1f}")


def target_row(name: str, t: Target | None, skipped: str | None) -> str:
    if t is None:
        return f"| {LABELS[name]} | skipped: {skipped or 'not measured'} | | | | | | |"
    total, user, system = fmt_cpu(t.cpu)
    return (
        f"| {LABELS[name]} | {t.rps:.0f} | {total} | {user} | {system} "
        f"| {t.p50:.3f} | {t.p99:.3f} | {t.errors} |"
    )


def table_head(rate: int) -> list[str]:
    return [
        f"| target | max req/s (wrk) | server CPU µs/req | user | system "
        f"| p50 ms @ {rate}/s | p99 ms @ {rate}/s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]


def fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def section_proxy(run: Run) -> list[str]:
    s = run.settings
    rounds = int(s["PROXY_ROUNDS"])
    names = ["direct", "nginx", "rollgate"]
    keys = {n: [f"proxy-{n}-{r}" for r in range(1, rounds + 1)] for n in names}
    t = {n: target(run, keys[n]) for n in names}
    out = [
        "### Proxy: direct vs nginx vs Rollgate (90/10 over two upstreams)",
        "",
        f"wrk -t{s['WRK_THREADS']} -c{s['WRK_CONNS']} -d{s['DURATION']}s (after {s['WARMUP']}s "
        f"warm-up); oha -z {s['DURATION']}s -q {s['RATE']} -c {s['OHA_CONNS']} "
        f"--latency-correction; {rounds} rounds, each measuring the three targets in turn. "
        "Figures are medians over the rounds.",
        "",
        *table_head(int(s["RATE"])),
        *(target_row(n, t[n], s.get("SKIP_ROLLGATE") == "1" and "SKIP_ROLLGATE=1") for n in names),
        "",
    ]
    rg, ng, direct = t["rollgate"], t["nginx"], t["direct"]
    if not (rg and ng and direct):
        return out
    tput_r, p99_r = [], []
    for r in range(rounds):
        per = {n: (run.wrk(keys[n][r]), run.oha(keys[n][r])) for n in names}
        tput_r.append(per["rollgate"][0][0].rps / per["nginx"][0][0].rps)
        p99_r.append(added_ratio(*(per[n][1].p99_ms for n in ("rollgate", "nginx", "direct"))))
    measured = [v for v in p99_r if v is not None]
    tput = median(tput_r)
    p99 = median(measured) if measured else None
    run.goals[GOALS[0][0]] = tput
    run.goals[GOALS[1][0]] = p99

    def cpu_ratio(part: str) -> str:
        if not (rg.cpu and ng.cpu):
            return "?"
        return fmt(ratio(getattr(rg.cpu, part), getattr(ng.cpu, part)))

    def added(attr: str) -> str:
        a, b, c = (getattr(x, attr) for x in (rg, ng, direct))
        return f"{fmt(added_ratio(a, b, c))} (Rollgate +{a - c:.3f} ms, nginx +{b - c:.3f} ms)"

    rounds_t = ", ".join(f"{v:.2f}" for v in tput_r)
    rounds_p = ", ".join(fmt(v) for v in p99_r)
    out += [
        "| Rollgate / nginx | ratio |",
        "|---|---|",
        f"| throughput (higher is better), median of rounds | {tput:.2f} (rounds: {rounds_t}) |",
        f"| server CPU per request (lower is better) | {cpu_ratio('total')} |",
        f"| user CPU per request (the server's own code) | {cpu_ratio('user')} |",
        f"| system CPU per request (mostly the kernel's TCP work) | {cpu_ratio('system')} |",
        f"| added p99 over direct (lower is better), median of rounds | {fmt(p99)} "
        f"(rounds: {rounds_p}; medians: {added('p99')}) |",
        f"| added p50 over direct (lower is better), of the medians | {added('p50')} |",
        "",
    ]
    return out


def section_onnx(run: Run) -> list[str]:
    s = run.settings
    t = {n: target(run, [f"onnx-{n}"]) for n in ("fastapi", "onnx")}
    skipped = s.get("SKIP_ROLLGATE") == "1" and "SKIP_ROLLGATE=1"
    out = [
        "### In-process model serving: Rollgate ONNX vs FastAPI + scikit-learn "
        "(two models, random 90/10)",
        "",
        f"FastAPI peer: bench/peers/fastapi_split.py under uvicorn, {s['PEER_WORKERS']} worker "
        f"processes. wrk as above; oha at {s['ONNX_RATE']}/s.",
        "",
        *table_head(int(s["ONNX_RATE"])),
        target_row("fastapi", t["fastapi"], None),
        target_row("onnx", t["onnx"], skipped),
        "",
    ]
    fa, rg = t["fastapi"], t["onnx"]
    if fa and rg:
        tput = rg.rps / fa.rps
        run.goals[GOALS[2][0]] = tput
        cpu = fmt(ratio(fa.cpu.total, rg.cpu.total)) if fa.cpu and rg.cpu else "?"
        out += [
            f"Throughput Rollgate / FastAPI: **{tput:.2f}**; server CPU per request "
            f"FastAPI / Rollgate: **{cpu}**",
            "",
        ]
    direct = target(run, ["proxy-direct-1"])
    if fa and direct:
        # The ceiling of this ratio on this machine: a server answering a constant string
        # with no work at all, under the same wrk.
        out += [
            f"For scale: nginx answering a constant (the proxy section's direct upstream) "
            f"reached {direct.rps:.0f} req/s, **{direct.rps / fa.rps:.1f}×** the FastAPI peer: "
            "no server doing any work can exceed that ratio here.",
            "",
        ]
    return out


def section_shadow(run: Run) -> list[str]:
    s = run.settings
    rounds = int(s["SHADOW_ROUNDS"])
    rows, on, off = [], [], []
    for r in range(1, rounds + 1):
        a, b = run.oha(f"shadow-noshadow-{r}"), run.oha(f"shadow-shadow-{r}")
        if not (a and b):
            continue
        off.append(a.p99_ms)
        on.append(b.p99_ms)
        rows.append(
            f"| {r} | {a.p50_ms:.3f} / {a.p99_ms:.3f} | {b.p50_ms:.3f} / {b.p99_ms:.3f} "
            f"| {a.errors + b.errors} |"
        )
    if not rows:
        return []
    ratio = sum(on) / sum(off)
    run.goals[GOALS[3][0]] = ratio
    metrics = run.text("shadow-metrics.txt") or ""
    return [
        f"### Shadow overhead: primary latency with a 100% mirror to a "
        f"{s['SHADOW_DELAY_MS']} ms candidate",
        "",
        f"oha -z {s['DURATION']}s -q {s['SHADOW_RATE']} -c {s['OHA_CONNS']} "
        f"--latency-correction, {rounds} alternating rounds; the primary is the fast upstream "
        "in both services.",
        "",
        "| round | no mirror p50 / p99 ms | 100% mirror p50 / p99 ms | errors |",
        "|---:|---:|---:|---:|",
        *rows,
        "",
        f"Copies mirrored: {metric_sum(metrics, 'rollgate_mirrored_requests', 'shadow')}, "
        f"dropped (mirror queue full): {metric_sum(metrics, 'rollgate_mirror_dropped', 'shadow')}.",
        f"Primary p99 with / without mirror (mean over rounds): **{ratio:.2f}**",
        "",
    ]


def section_memory(run: Run) -> list[str]:
    s = run.settings
    rows = []
    for n in s["MEMORY_MODELS"].split():
        mem, load = run.text(f"memory-{n}.txt"), run.wrk(f"memory-{n}")
        if not (mem and load):
            continue
        idle, peak, hwm = (int(x) / 1024 for x in mem.split())
        rows.append(
            f"| {n} | {idle:.1f} | {peak:.1f} | {hwm:.1f} | {load[0].rps:.0f} | {load[0].errors} |"
        )
    if not rows:
        return []
    return [
        "### Memory: resident size of Rollgate with N loaded ONNX models",
        "",
        "One service with N versions (the bundled iris-v1/iris-v2 files, alternating), a "
        "separate Rollgate process per N. Idle: VmRSS 2 s after ready. Under load: maximum "
        f"VmRSS sampled every 0.2 s during wrk -t{s['WRK_THREADS']} -c{s['WRK_CONNS']} "
        f"-d{s['DURATION']}s on the predict route; VmHWM: peak since start.",
        "",
        "| models | idle RSS MiB | under load RSS MiB | VmHWM MiB | req/s during load | errors |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def callgrind_ir(run: Run, name: str) -> float | None:
    ir = run.text(f"callgrind-{name}.ir")
    oha = run.text(f"callgrind-{name}-oha.json")
    if ir is None or oha is None:
        return None
    requests = int(run.settings["CG_REQUESTS"])
    if int((json.loads(oha).get("statusCodeDistribution") or {}).get("200", 0)) != requests:
        run.errors = True
    return int(ir) / requests


def section_callgrind(run: Run) -> list[str]:
    s = run.settings
    ir = {n: callgrind_ir(run, n) for n in ("nginx", "rollgate", "onnx")}
    if ir["nginx"] is None:
        return []
    out = [
        "### Instructions per proxied request (callgrind, user space)",
        "",
        f"oha -n {s['CG_REQUESTS']} -c {s['CG_CONNS']} after 300 warm-up requests; one thread "
        "each (nginx master_process off, Rollgate --workers 1). Top functions of each in "
        "raw/callgrind-*-annotate.txt.",
        "",
        "| proxy | instructions / request |",
        "|---|---:|",
        f"| nginx split_clients | {ir['nginx']:.0f} |",
    ]
    if ir["rollgate"] is not None:
        out.append(f"| Rollgate proxy route | {ir['rollgate']:.0f} |")
    if ir["onnx"] is not None:
        out.append(f"| Rollgate in-process ONNX route (no upstream) | {ir['onnx']:.0f} |")
    if ir["rollgate"] is not None:
        out += ["", f"Rollgate proxy / nginx: **{ir['rollgate'] / ir['nginx']:.2f}**"]
    out.append("")
    annotate = run.text("callgrind-rollgate-annotate.txt")
    if annotate:
        rows = components(annotate, int(s["CG_REQUESTS"]))
        total = sum(r[1] for r in rows)
        out += [
            "Rollgate proxy route, instructions per request by component (self cost of each "
            "function, grouped by crate):",
            "",
            "| component | instructions / request | share |",
            "|---|---:|---:|",
            *(f"| {c} | {ir_:.0f} | {share:.1f}% |" for c, ir_, share in rows),
            f"| total | {total:.0f} | 100% |",
            "",
        ]
    return out


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def numbers(text: str | None) -> list[float]:
    return [float(line) for line in (text or "").split() if line.strip()]


def section_replicas(run: Run) -> list[str]:
    out = ["### Replicas: three on PostgreSQL behind nginx", ""]
    one, lb = run.wrk("replicas-one"), run.wrk("replicas-lb")
    if one and lb:
        out += [
            "| target | req/s |",
            "|---|---|",
            f"| one replica, direct | {one[0].rps:,.0f} |",
            f"| three replicas through nginx | {lb[0].rps:,.0f} |",
            f"| ratio | {fmt(ratio(lb[0].rps, one[0].rps))} |",
            "",
        ]
    delays = numbers(run.text("replicas-propagation.txt"))
    if delays:
        p99 = quantile(delays, 0.99)
        out.append(
            f"- Route change reaching both other replicas, {len(delays)} changes: "
            f"p50 {quantile(delays, 0.5):.1f} ms, p99 {p99:.1f} ms "
            f"(goal p99 ≤ 100 ms: {goal_met(p99, '<=', 100.0)})"
        )
    version = numbers(run.text("replicas-version.txt"))
    if version:
        out.append(
            f"- A new model version uploaded to one replica, loaded and listed by both others: "
            f"{version[0]:.0f} ms (goal ≤ 1 s plus load time)"
        )
    failover = numbers(run.text("replicas-failover.txt"))
    if failover:
        out.append(
            f"- kill -9 of the leader to a new lease holder: {failover[0]:.1f} s "
            f"(lease {run.settings.get('REPLICA_LEASE', '3s')})"
        )
    return out + [""]


SECTIONS = {
    "proxy": section_proxy,
    "onnx": section_onnx,
    "shadow": section_shadow,
    "memory": section_memory,
    "callgrind": section_callgrind,
    "replicas": section_replicas,
}


def goals_table(run: Run) -> list[str]:
    rows = [
        f"| {name} | {fmt(run.goals[name])} | {op} {bound:.2f} "
        f"| {goal_met(run.goals[name], op, bound)} |"
        for name, op, bound in GOALS
        if name in run.goals
    ]
    if not rows:
        return []
    return ["| target | measured | goal | met |", "|---|---:|---|---|", *rows, ""]


def render(raw: Path) -> tuple[str, bool]:
    settings = json.loads((raw / "run.json").read_text())
    run = Run(raw, settings)
    body: list[str] = []
    for name in settings["SECTIONS"].split():
        body += SECTIONS[name](run)
    m = settings["machine"]
    head = [
        f"## Rollgate vs peers, {settings['started']}",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['kernel']}",
        f"- Load average (1/5/15 min): before the run {settings['load_at_start']}; "
        + "; ".join(settings.get("load_log", [])),
        f"- Versions: {m['tools']}",
        f"- Rollgate: {m['rollgate']}",
        f"- Sections: {settings['SECTIONS']}; DURATION={settings['DURATION']}s",
        "",
        *goals_table(run),
    ]
    tail = [
        "All numbers come from this one run on one machine where load generators, upstreams, "
        "peers and Rollgate share the CPUs: compare ratios, not absolute values."
    ]
    if run.errors:
        tail.append(
            "**WARNING: some requests failed (errors columns); the affected numbers are not valid.**"
        )
    if run.lagged:
        tail.append(
            f"**WARNING: fixed rate not sustained by: {', '.join(run.lagged)}; lower the rate.**"
        )
    return "\n".join(head + body + tail) + "\n", run.errors


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: report.py RAW_DIR", file=sys.stderr)
        return 2
    text, errors = render(Path(argv[1]))
    sys.stdout.write(text)
    return 3 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
