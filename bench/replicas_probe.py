#!/usr/bin/env python3
"""Measuring tool of the `replicas` bench section (standard library only). It drives the
replicas' control API and prints raw measurements, one per line; bench/report.py computes the
figures from them.

    replicas_probe.py propagation N ADMIN...        ms until every other replica shows a change
    replicas_probe.py version MODEL ADMIN...        ms until every replica serves a new version
    replicas_probe.py failover PG_URL ID=PID...     s from kill -9 of the leader to a new one
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

SERVICE = "bench"


def call(url: str, path: str, body: bytes | None = None, ctype: str = "application/json",
         method: str | None = None):
    req = urllib.request.Request(
        url + path, data=body, method=method or ("POST" if body is not None else "GET"))
    if body is not None:
        req.add_header("content-type", ctype)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def service(admin: str) -> dict:
    return call(admin, f"/api/v1/services/{SERVICE}")


def wait_until(check, timeout: float = 30.0) -> float:
    """Seconds until `check()` holds, polling every half millisecond."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"not reached within {timeout} s")
        time.sleep(0.0005)
    return time.perf_counter() - start


def propagation(n: int, admins: list[str]) -> None:
    for i in range(n):
        origin = admins[i % len(admins)]
        share = i % 9 + 1
        route = {"stable": "v1", "candidate": "v2", "weights": {"v1": 100 - share, "v2": share}}
        body = json.dumps({"route": route}).encode()
        path = f"/api/v1/services/{SERVICE}/route"
        call(origin, path, body, method="PUT")
        revision = service(origin)["revision"]
        start = time.perf_counter()
        for other in admins:
            if other != origin:
                wait_until(lambda: service(other)["revision"] >= revision)
        print(f"{(time.perf_counter() - start) * 1e3:.3f}")


def version(model: str, admins: list[str]) -> None:
    name = f"v{int(time.time())}"
    data = open(model, "rb").read()
    start = time.perf_counter()
    call(admins[0], f"/api/v1/services/iris/update-model?version={name}", data, "application/octet-stream")
    for admin in admins[1:]:
        wait_until(lambda: any(v["name"] == name for v in call(admin, "/api/v1/services/iris")["versions"]))
    print(f"{(time.perf_counter() - start) * 1e3:.3f}")


def holder(pg: str) -> str:
    sql = ("SELECT holder FROM leases WHERE name = 'controller' "
           "AND expires_at > (extract(epoch from clock_timestamp()) * 1000)::BIGINT")
    out = subprocess.run(["psql", pg, "-tA", "-c", sql], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def failover(pg: str, pairs: list[str]) -> None:
    pids = dict(p.split("=", 1) for p in pairs)
    leader = ""
    wait_until(lambda: (leader := holder(pg)) != "", 30)
    leader = holder(pg)
    os.kill(int(pids[leader]), signal.SIGKILL)
    took = wait_until(lambda: holder(pg) not in ("", leader), 60)
    print(f"{took:.3f}")


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    verb, args = argv[1], argv[2:]
    if verb == "propagation":
        propagation(int(args[0]), args[1:])
    elif verb == "version":
        version(args[0], args[1:])
    elif verb == "failover":
        failover(args[0], args[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
