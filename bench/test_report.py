"""Tests of bench/report.py on small fixtures: `python3 -m unittest discover -s bench`."""

import json
import tempfile
import unittest
from pathlib import Path

import report

SETTINGS = {
    "SECTIONS": "proxy onnx shadow memory callgrind",
    "DURATION": "5",
    "WARMUP": "1",
    "RATE": "2000",
    "ONNX_RATE": "200",
    "SHADOW_RATE": "500",
    "SHADOW_DELAY_MS": "50",
    "SHADOW_ROUNDS": "2",
    "PROXY_ROUNDS": "3",
    "MEMORY_MODELS": "2",
    "PEER_WORKERS": "2",
    "WRK_THREADS": "2",
    "WRK_CONNS": "32",
    "OHA_CONNS": "32",
    "CG_REQUESTS": "1000",
    "CG_CONNS": "4",
    "SKIP_ROLLGATE": "0",
    "started": "2026-01-01 00:00 UTC",
    "load_at_start": "0.10 0.20 0.30",
    "load_log": ["proxy start: 1.00 0.50 0.30"],
    "machine": {"cores": 2, "cpu": "test CPU", "kernel": "Linux", "tools": "t", "rollgate": "r"},
}


def wrk_line(rps: float, requests: int, status_errors: int = 0) -> str:
    return (
        f"Running 5s test\nWRK_RESULT requests={requests} duration_us=5000000 rps={rps} "
        f"errors_connect=0 errors_read=0 errors_write=0 errors_status={status_errors} "
        "errors_timeout=0\n"
    )


def oha_doc(p50_s: float, p99_s: float, achieved: float, bad: int = 0) -> dict:
    return {
        "summary": {"requestsPerSec": achieved},
        "latencyPercentiles": {"p50": p50_s, "p99": p99_s},
        "statusCodeDistribution": {"200": 1000, **({"502": bad} if bad else {})},
        "errorDistribution": {report.DEADLINE_ABORT: 7},
    }


class Fixture:
    """A raw directory as run.sh leaves it."""

    def __init__(self, root: Path):
        self.raw = root
        (root / "run.json").write_text(json.dumps(SETTINGS))

    def put(self, name: str, text: str) -> None:
        (self.raw / name).write_text(text)

    def target(self, key: str, rps: float, p99_ms: float, ticks=(100, 50, 200, 90), rate=2000):
        self.put(f"{key}-wrk.txt", wrk_line(rps, int(rps * 5)))
        self.put(f"{key}-cpu.txt", " ".join(str(x) for x in (100, *ticks)))
        self.put(f"{key}-oha.json", json.dumps(oha_doc(0.0002, p99_ms / 1000, rate)))
        self.put(f"{key}-oha.rate", str(rate))


class Statistics(unittest.TestCase):
    def test_median_odd_and_even(self):
        self.assertEqual(report.median([3, 1, 2]), 2)
        self.assertEqual(report.median([4, 1, 3, 2]), 2.5)

    def test_added_ratio(self):
        self.assertAlmostEqual(report.added_ratio(1.5, 1.0, 0.5), 2.0)
        self.assertIsNone(report.added_ratio(1.5, 0.5, 0.5))

    def test_ratio_of_nothing_is_not_a_number(self):
        self.assertEqual(report.ratio(3, 2), 1.5)
        self.assertIsNone(report.ratio(3, 0))

    def test_goal_met(self):
        self.assertEqual(report.goal_met(1.2, ">=", 1.1), "yes")
        self.assertEqual(report.goal_met(1.0, ">=", 1.1), "no")
        self.assertEqual(report.goal_met(0.9, "<=", 1.0), "yes")
        self.assertEqual(report.goal_met(None, "<=", 1.0), "n/a")


class RawFiles(unittest.TestCase):
    def test_wrk_line(self):
        w = report.parse_wrk(wrk_line(1234.5, 6000, status_errors=3))
        self.assertEqual((w.rps, w.requests, w.errors), (1234.5, 6000, 3))

    def test_wrk_without_result_line_is_an_error(self):
        with self.assertRaises(ValueError):
            report.parse_wrk("Running 5s test\n")

    def test_cpu_per_request_in_microseconds(self):
        # 100 ticks/s: 50 user ticks = 0.5 s over 1000 requests = 500 µs each.
        cpu = report.parse_cpu("100 10 20 60 30", 1000)
        self.assertAlmostEqual(cpu.user, 500)
        self.assertAlmostEqual(cpu.system, 100)
        self.assertAlmostEqual(cpu.total, 600)

    def test_oha_counts_failures_but_not_deadline_aborts(self):
        o = report.parse_oha(oha_doc(0.001, 0.002, 500, bad=4), 500)
        self.assertEqual(o.errors, 4)
        self.assertAlmostEqual(o.p99_ms, 2.0)

    def test_metric_sum_over_one_service(self):
        text = (
            'rollgate_mirrored_requests_total{service="shadow",version="slow"} 10\n'
            'rollgate_mirrored_requests_total{service="other",version="x"} 99\n'
            'rollgate_mirrored_requests_total{service="shadow",version="b"} 5\n'
        )
        self.assertEqual(report.metric_sum(text, "rollgate_mirrored_requests", "shadow"), 15)

    def test_components_group_by_crate(self):
        annotate = "\n".join(
            [
                "10,000 (100.0%)  PROGRAM TOTALS",
                "",
                "-" * 80,
                "Ir                  file:function",
                "-" * 80,
                "6,000 (60.00%)  ???:hyper::proto::h1::role::parse [/bin/rollgate]",
                "2,000 (20.00%)  crates/rollgate/src/gateway/dispatch.rs:rollgate::gateway::serve [/bin/rollgate]",
                "1,000 (10.00%)  ???:<rollgate::X as tokio::Y>::poll [/bin/rollgate]",
                "1,000 (10.00%)  ./string/../sysdeps/x86_64/multiarch/memmove.S:memcpy [/lib/libc.so.6]",
                "",
                "-- Auto-annotated source: crates/rollgate/src/gateway/dispatch.rs",
                "  500 ( 5.00%)  let x = 1;",
            ]
        )
        rows = report.components(annotate, 10)
        self.assertEqual(rows[0], ("hyper, hyper-util (HTTP/1 server and client)", 600.0, 60.0))
        self.assertEqual(rows[1], ("Rollgate's own code", 300.0, 30.0))
        self.assertEqual(rows[2][0], "libc (memcpy, memcmp)")
        self.assertEqual(len(rows), 3)


class Render(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.fx = Fixture(Path(self.dir.name))

    def tearDown(self):
        self.dir.cleanup()

    def full_run(self):
        fx = self.fx
        # Rollgate's throughput over nginx's per round: 0.8, 0.9, 1.2 -> median 0.9.
        for r, (rg, ng) in enumerate([(800, 1000), (900, 1000), (1200, 1000)], start=1):
            fx.target(f"proxy-direct-{r}", 5000, 0.5)
            fx.target(f"proxy-nginx-{r}", ng, 1.0)
            fx.target(f"proxy-rollgate-{r}", rg, 1.5)
        fx.target("onnx-fastapi", 100, 5.0, rate=200)
        fx.target("onnx-onnx", 2500, 1.0, rate=200)
        for r in (1, 2):
            fx.put(f"shadow-noshadow-{r}-oha.json", json.dumps(oha_doc(0.0002, 0.001, 500)))
            fx.put(f"shadow-shadow-{r}-oha.json", json.dumps(oha_doc(0.0002, 0.0011, 500)))
            fx.put(f"shadow-noshadow-{r}-oha.rate", "500")
            fx.put(f"shadow-shadow-{r}-oha.rate", "500")
        fx.put("shadow-metrics.txt", 'rollgate_mirrored_requests_total{service="shadow"} 42\n')
        fx.put("memory-2.txt", "40960 102400 110000")
        fx.put("memory-2-wrk.txt", wrk_line(2000, 10000))
        for name, ir in (("nginx", 33_000_000), ("rollgate", 50_000_000)):
            fx.put(f"callgrind-{name}.ir", str(ir))
            fx.put(f"callgrind-{name}-oha.json", json.dumps({"statusCodeDistribution": {"200": 1000}}))

    def test_goals_from_medians_of_rounds(self):
        self.full_run()
        text, errors = report.render(self.fx.raw)
        self.assertFalse(errors)
        self.assertIn("| proxy throughput, Rollgate / nginx | 0.90 | >= 1.10 | no |", text)
        # Added p99: (1.5 - 0.5) / (1.0 - 0.5) = 2.0 in every round.
        self.assertIn("| proxy added p99, Rollgate / nginx | 2.00 | <= 1.00 | no |", text)
        self.assertIn("| in-process predict throughput, Rollgate / FastAPI | 25.00 | >= 20.00 | yes |", text)
        self.assertIn("| shadow: primary p99 with / without 100% mirror | 1.10 | <= 1.10 | yes |", text)
        self.assertIn("| 2 | 40.0 | 100.0 | 107.4 | 2000 | 0 |", text)
        self.assertIn("| nginx split_clients | 33000 |", text)
        self.assertIn("Rollgate proxy / nginx: **1.52**", text)
        self.assertIn("Copies mirrored: 42", text)

    def test_failed_requests_invalidate_the_run(self):
        self.full_run()
        self.fx.put("onnx-onnx-wrk.txt", wrk_line(2500, 12500, status_errors=2))
        text, errors = report.render(self.fx.raw)
        self.assertTrue(errors)
        self.assertIn("WARNING: some requests failed", text)

    def test_a_rate_not_sustained_is_reported_once(self):
        self.full_run()
        self.fx.put("proxy-nginx-2-oha.json", json.dumps(oha_doc(0.0002, 0.001, 1000)))
        text, _ = report.render(self.fx.raw)
        self.assertEqual(text.count("proxy-nginx-2 (1000/s of 2000/s)"), 1)

    def test_skipped_rollgate_measures_the_peers_only(self):
        settings = dict(SETTINGS, SKIP_ROLLGATE="1", SECTIONS="proxy")
        (self.fx.raw / "run.json").write_text(json.dumps(settings))
        for r in (1, 2, 3):
            self.fx.target(f"proxy-direct-{r}", 5000, 0.5)
            self.fx.target(f"proxy-nginx-{r}", 1000, 1.0)
        text, errors = report.render(self.fx.raw)
        self.assertFalse(errors)
        self.assertIn("| Rollgate proxy route | skipped: SKIP_ROLLGATE=1 |", text)
        self.assertNotIn("| target | measured |", text)


if __name__ == "__main__":
    unittest.main()


class Replicas(unittest.TestCase):
    def test_propagation_percentiles_version_and_failover(self):
        with tempfile.TemporaryDirectory() as d:
            fx = Fixture(Path(d))
            settings = dict(SETTINGS, SECTIONS="replicas", REPLICA_LEASE="3s")
            (fx.raw / "run.json").write_text(json.dumps(settings))
            fx.put("replicas-one-wrk.txt", wrk_line(10000, 50000))
            fx.put("replicas-lb-wrk.txt", wrk_line(8000, 40000))
            # 1..100 ms: p50 50, p99 99.
            fx.put("replicas-propagation.txt", "\n".join(str(i) for i in range(100, 0, -1)))
            fx.put("replicas-version.txt", "412.5\n")
            fx.put("replicas-failover.txt", "3.04\n")
            text, errors = report.render(fx.raw)
        self.assertFalse(errors)
        self.assertIn("| three replicas through nginx | 8,000 |", text)
        self.assertIn("| ratio | 0.80 |", text)
        self.assertIn("100 changes: p50 50.0 ms, p99 99.0 ms (goal p99 ≤ 100 ms: yes)", text)
        self.assertIn("both others: 412 ms", text)
        self.assertIn("a new lease holder: 3.0 s (lease 3s)", text)

    def test_quantile_is_nearest_rank(self):
        self.assertEqual(report.quantile([3.0, 1.0, 2.0], 0.5), 2.0)
        self.assertEqual(report.quantile([5.0], 0.99), 5.0)
