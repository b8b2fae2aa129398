-- wrk script: POST the prediction body and print one machine-readable line.
-- The body can be overridden with the BENCH_BODY environment variable so
-- run.sh keeps a single source of truth for it.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
wrk.headers["Content-Type"] = "application/json"

-- done() runs once after the test; run.sh parses this line instead of
-- wrk's human-oriented report. errors_status counts non-2xx/3xx replies,
-- which must be zero for the throughput number to mean anything.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.1f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.status, e.timeout))
end
