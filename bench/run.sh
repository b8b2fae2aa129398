#!/usr/bin/env bash
# bench/run.sh: compare Rollgate with a well-configured nginx proxy on this
# machine, in one run, and report ratios. See bench/README.md for the why.
#
# Everything listens on 127.0.0.1 only and every load phase is time-bounded.
# Env knobs (defaults in brackets):
#   DURATION [10]       seconds per measurement (wrk and oha each)
#   WARMUP [2]          seconds of unmeasured wrk load before each target
#   RATE [2000]         fixed request rate for the oha latency runs
#   WRK_THREADS [2]  WRK_CONNS [32]  OHA_CONNS [32]
#   ROLLGATE_BIN [target/release/rollgate]  (repo-relative; built if missing and default)
#   ROLLGATE_CONFIG [bench/rollgate-bench.yaml]
#   ROLLGATE_READY_TIMEOUT [60]  seconds to wait for /v2/health/ready
#   SKIP_ROLLGATE [0]   1 = measure only direct + nginx (harness self-test)
#   BENCH_CACHE_DIR [~/.cache/rollgate-bench]  where oha is cargo-installed
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO_ROOT/bench
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-2000}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-32}
OHA_CONNS=${OHA_CONNS:-32}
ROLLGATE_BIN=${ROLLGATE_BIN:-target/release/rollgate}
ROLLGATE_CONFIG=${ROLLGATE_CONFIG:-bench/rollgate-bench.yaml}
ROLLGATE_READY_TIMEOUT=${ROLLGATE_READY_TIMEOUT:-60}
SKIP_ROLLGATE=${SKIP_ROLLGATE:-0}
CACHE_DIR=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rollgate-bench}
RESULTS_DIR=$BENCH_DIR/results

# Fixed ports: rollgate-bench.yaml hard-codes 18001 (upstream) and 18003.
UPSTREAM_PORT=18001
PEER_PORT=18002
ROLLGATE_PORT=18003
BODY='{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
UPSTREAM_REPLY='{"predictions":[{"class":1}]}'

# The peer is hit on the same path as Rollgate so request lines are equal.
URL_DIRECT=http://127.0.0.1:$UPSTREAM_PORT/predict
URL_PEER=http://127.0.0.1:$PEER_PORT/v1/models/bench/predict
URL_RG_PROXY=http://127.0.0.1:$ROLLGATE_PORT/v1/models/bench/predict
URL_RG_ONNX=http://127.0.0.1:$ROLLGATE_PORT/v1/models/iris/predict
URL_RG_READY=http://127.0.0.1:$ROLLGATE_PORT/v2/health/ready

TARGETS=(direct nginx rollgate onnx)
declare -A LABEL=([direct]="direct upstream" [nginx]="nginx peer proxy"
  [rollgate]="Rollgate proxy route" [onnx]="Rollgate in-process ONNX")
declare -A URL=([direct]=$URL_DIRECT [nginx]=$URL_PEER
  [rollgate]=$URL_RG_PROXY [onnx]=$URL_RG_ONNX)
declare -A RPS=() P50=() P99=() ERRS=() SKIP=()
PIDS=()
LOAD_PID=""
WORK=""
ANY_ERRORS=0
LAGGED=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Float arithmetic; bash has none. Prints "n/a" when asked to divide by ~0.
calc() { awk "BEGIN { $1 }"; }

# ---------------------------------------------------------------- tools
ensure_apt_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  ((${#missing[@]} == 0)) && return 0
  log "installing from Debian: ${missing[*]}"
  # The package lists may be empty on a fresh machine, so update first.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# oha comes from crates.io; install it once into a cache dir outside the
# repo so reruns are instant and the work tree stays clean.
ensure_oha() {
  if command -v oha >/dev/null; then OHA=$(command -v oha); return 0; fi
  OHA=$CACHE_DIR/oha/bin/oha
  [[ -x $OHA ]] && return 0
  log "cargo install oha --locked into $CACHE_DIR/oha (one-off, a few minutes)"
  mkdir -p "$CACHE_DIR"
  CARGO_TARGET_DIR=$CACHE_DIR/oha-target \
    cargo install oha --locked --root "$CACHE_DIR/oha" >"$CACHE_DIR/oha-install.log" 2>&1 ||
    { tail -20 "$CACHE_DIR/oha-install.log" >&2; die "cargo install oha failed"; }
}

# oha renamed its JSON flag between versions; ask the installed one.
oha_json_flag() {
  if "$OHA" --help | grep -q -- '--output-format'; then
    echo "--output-format json"
  else
    echo "-j"
  fi
}

ensure_rollgate() {
  [[ $SKIP_ROLLGATE == 1 ]] && return 0
  cd "$REPO_ROOT"
  if [[ ! -x $ROLLGATE_BIN && $ROLLGATE_BIN == target/release/rollgate ]]; then
    log "building rollgate (cargo build --release -p rollgate)"
    cargo build --release -p rollgate >&2
  fi
  [[ -x $ROLLGATE_BIN ]] || die "no Rollgate binary at $ROLLGATE_BIN (set ROLLGATE_BIN)"
  [[ -f $ROLLGATE_CONFIG ]] || die "missing Rollgate config $ROLLGATE_CONFIG"
}

# ---------------------------------------------------------------- processes
# Refuse to run next to something already listening: we'd benchmark it.
check_port_free() {
  local port=$1
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port 127.0.0.1:$port is busy (another bench or server running?); free it and retry"
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -n $WORK && -d $WORK/logs ]]; then
    for f in "$WORK"/logs/*; do
      [[ -s $f ]] || continue
      log "--- last lines of $(basename "$f") ---"
      tail -15 "$f" >&2 || true
    done
  fi
  local pid
  [[ -n $LOAD_PID ]] && PIDS+=("$LOAD_PID")
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Give graceful shutdown 5 s, then make sure nothing outlives the run.
  for _ in {1..50}; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [[ -n $WORK ]] && rm -rf "$WORK"
  exit "$rc"
}

# Waits until URL answers with the expected status, or the process dies.
wait_http() {
  local name=$1 method=$2 url=$3 want=$4 pid=$5 timeout=$6 code
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) exited before $url answered $want (its logs, if any, follow)"
    if [[ $method == POST ]]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -X POST \
        -H 'content-type: application/json' --data "$BODY" "$url" || true)
    else
      code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$url" || true)
    fi
    [[ $code == "$want" ]] && return 0
    sleep 0.2
  done
  die "$name: $url did not answer $want within ${timeout}s (last status: ${code:-none})"
}

# Temp prefix for nginx: its pid, logs and temp files never touch /etc or
# /var. The master runs as root and workers as nobody, hence the chmod.
make_workdir() {
  WORK=$(mktemp -d -t rollgate-bench.XXXXXX)
  chmod 755 "$WORK"
  mkdir -p "$WORK/logs" "$WORK/raw"
}

# Shared http{} preamble: temp paths inside the prefix, no access log (its
# disk I/O would be the bottleneck), and no per-connection request cap so
# neither side pays for reconnects that Rollgate doesn't do.
nginx_http_common() {
  local name=$1
  cat <<EOF
    access_log off;
    client_body_temp_path $WORK/$name/body;
    proxy_temp_path $WORK/$name/proxy;
    fastcgi_temp_path $WORK/$name/fastcgi;
    uwsgi_temp_path $WORK/$name/uwsgi;
    scgi_temp_path $WORK/$name/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
EOF
}

write_upstream_conf() {
  cat >"$WORK/upstream.conf" <<EOF
# Fake model server: a fixed prediction, as cheap as nginx can make it.
daemon off;
worker_processes 1;
pid $WORK/upstream.pid;
error_log $WORK/logs/upstream-error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_common upstream)
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location = /predict {
            default_type application/json;
            return 200 '$UPSTREAM_REPLY';
        }
    }
}
EOF
}

write_peer_conf() {
  cat >"$WORK/peer.conf" <<EOF
# The peer: a fair, well-tuned nginx doing the same 90/10 split Rollgate does,
# with pooled keep-alive connections to the upstream.
daemon off;
worker_processes auto;
pid $WORK/peer.pid;
error_log $WORK/logs/peer-error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_common peer)
    split_clients "\${request_id}" \$variant {
        90% v1;
        *   v2;
    }
    upstream v1 { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; keepalive_requests 1000000; }
    upstream v2 { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$PEER_PORT;
        location = /v1/models/bench/predict {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://\$variant/predict;
        }
    }
}
EOF
}

start_nginx() {
  local name=$1
  mkdir -p "$WORK/$name"
  nginx -t -q -p "$WORK" -c "$WORK/$name.conf" -e "$WORK/logs/$name-error.log" ||
    die "nginx config $name.conf is invalid"
  nginx -p "$WORK" -c "$WORK/$name.conf" -e "$WORK/logs/$name-error.log" \
    >"$WORK/logs/$name-stdout.log" 2>&1 &
  PIDS+=($!)
  NGINX_PID=$!
}

start_upstream() {
  write_upstream_conf
  start_nginx upstream
  wait_http "nginx upstream" POST "$URL_DIRECT" 200 "$NGINX_PID" 10
}

start_peer() {
  write_peer_conf
  start_nginx peer
  wait_http "nginx peer" POST "$URL_PEER" 200 "$NGINX_PID" 10
}

start_rollgate() {
  if [[ $SKIP_ROLLGATE == 1 ]]; then
    SKIP[rollgate]="SKIP_ROLLGATE=1"
    SKIP[onnx]="SKIP_ROLLGATE=1"
    return 0
  fi
  # A fresh store per run: a store left by an earlier run would keep its own routes.
  (cd "$REPO_ROOT" && exec "$ROLLGATE_BIN" serve --config "$ROLLGATE_CONFIG" \
      --data-dir "$WORK/rollgate-data" --admin-listen 127.0.0.1:18004) \
    >"$WORK/logs/rollgate-stdout.log" 2>"$WORK/logs/rollgate-stderr.log" &
  PIDS+=($!)
  local pid=$!
  log "waiting for Rollgate ($URL_RG_READY)"
  wait_http "Rollgate ($ROLLGATE_BIN serve)" GET "$URL_RG_READY" 200 "$pid" "$ROLLGATE_READY_TIMEOUT"
}

# One request per target before loading it: a bench of 404s or 502s would
# produce beautiful and meaningless numbers.
probe() {
  local t=$1 out code
  out=$(curl -s -m 5 -w '\n%{http_code}' -X POST -H 'content-type: application/json' \
    --data "$BODY" "${URL[$t]}") || die "${LABEL[$t]}: request to ${URL[$t]} failed"
  code=${out##*$'\n'}
  [[ $code == 200 ]] || die "${LABEL[$t]}: ${URL[$t]} answered $code: ${out%$'\n'*}"
  log "${LABEL[$t]}: probe 200 ${out%$'\n'*}"
}

# ---------------------------------------------------------------- measuring
# Load generators run in the background and are waited for, because bash
# defers a trap until a foreground child exits: this way Ctrl-C or TERM
# reaches cleanup at once and cleanup stops the generator too.
run_load() {
  local rc=0
  "$@" &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  return "$rc"
}

# Closed-loop max throughput: wrk keeps WRK_CONNS requests in flight.
measure_max() {
  local t=$1 raw=$WORK/raw/$1-wrk.txt line
  export BENCH_BODY=$BODY
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WARMUP}s" \
    -s "$BENCH_DIR/post.lua" "${URL[$t]}" >/dev/null
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DURATION}s" \
    -s "$BENCH_DIR/post.lua" "${URL[$t]}" >"$raw"
  line=$(grep '^WRK_RESULT' "$raw") || die "no WRK_RESULT line from wrk for $t"
  RPS[$t]=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
  local errs
  errs=$(grep -oE 'errors_[a-z]+=[0-9]+' <<<"$line" | awk -F= '{ s += $2 } END { print s }')
  ERRS[$t]=$errs
  log "${LABEL[$t]}: wrk ${RPS[$t]} req/s, $errs errors"
  if calc "exit !($RATE > 0.7 * ${RPS[$t]})"; then
    log "WARNING: RATE=$RATE is over 70% of ${LABEL[$t]}'s max; its latency is near saturation"
  fi
}

# Open-loop latency: oha sends RATE req/s on schedule whatever the server
# does, and latency correction counts queueing time from the scheduled send.
measure_latency() {
  local t=$1 raw=$WORK/raw/$1-oha.json
  # shellcheck disable=SC2046  # the JSON flag is one or two words
  run_load "$OHA" -z "${DURATION}s" -q "$RATE" -c "$OHA_CONNS" --latency-correction --no-tui \
    $(oha_json_flag) -m POST -d "$BODY" -H 'content-type: application/json' \
    "${URL[$t]}" >"$raw" 2>"$WORK/logs/oha-$t.log" || die "oha failed for $t"
  P50[$t]=$(jq -r '.latencyPercentiles.p50 * 1000' "$raw")
  P99[$t]=$(jq -r '.latencyPercentiles.p99 * 1000' "$raw")
  local non200 achieved
  non200=$(jq -r '[(.statusCodeDistribution // {}) | to_entries[] | select(.key != "200") | .value] | add // 0' "$raw")
  # Requests still in flight when -z ends are "aborted due to deadline":
  # an artefact of stopping, not a failure of the target.
  non200=$((non200 + $(jq -r '[(.errorDistribution // {}) | to_entries[]
    | select(.key != "aborted due to deadline") | .value] | add // 0' "$raw")))
  ERRS[$t]=$((ERRS[$t] + non200))
  achieved=$(jq -r '.summary.requestsPerSec' "$raw")
  # If the target could not keep up with RATE its percentiles measure a queue.
  if calc "exit !($achieved < 0.95 * $RATE)"; then
    LAGGED+=("${LABEL[$t]} ($(printf '%.0f' "$achieved")/s)")
  fi
  log "${LABEL[$t]}: oha @${RATE}/s (achieved $(printf '%.0f' "$achieved")) p50 $(printf '%.3f' "${P50[$t]}") ms, p99 $(printf '%.3f' "${P99[$t]}") ms, $non200 errors"
}

measure_all() {
  local t
  for t in "${TARGETS[@]}"; do
    [[ -n ${SKIP[$t]:-} ]] && { log "${LABEL[$t]}: skipped (${SKIP[$t]})"; continue; }
    probe "$t"
    measure_max "$t"
    measure_latency "$t"
    ((ERRS[$t] == 0)) || ANY_ERRORS=1
  done
}

# ---------------------------------------------------------------- report
machine_info() {
  local cpu commit dirty=""
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  [[ -n $(git -C "$REPO_ROOT" status --porcelain 2>/dev/null) ]] && dirty=" (dirty tree)"
  echo "- Machine: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr), load average before the run $LOAD_AT_START"
  echo "- Versions: $(nginx -v 2>&1 | sed 's/.*version: //'), $(wrk -v 2>&1 | head -1 | awk '{ print "wrk " $2 }'), $("$OHA" --version | head -1)"
  if [[ $SKIP_ROLLGATE != 1 ]]; then
    echo "- Rollgate: $ROLLGATE_BIN ($("$ROLLGATE_BIN" --version 2>/dev/null | head -1 || echo "version unknown")), commit $commit$dirty"
  else
    echo "- Commit: $commit$dirty"
  fi
  echo "- Load: wrk -t$WRK_THREADS -c$WRK_CONNS -d${DURATION}s (after ${WARMUP}s warm-up); oha -z ${DURATION}s -q $RATE -c $OHA_CONNS --latency-correction"
}

fmt_row() {
  local t=$1
  if [[ -n ${SKIP[$t]:-} ]]; then
    printf '| %s | skipped: %s | | | |\n' "${LABEL[$t]}" "${SKIP[$t]}"
    return 0
  fi
  printf '| %s | %.0f | %.3f | %.3f | %d |\n' "${LABEL[$t]}" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${ERRS[$t]}"
}

# Ratio of Rollgate's to nginx's added latency; n/a when nginx adds ~nothing.
added_ratio() {
  local -n var=$1
  calc "rg = ${var[rollgate]} - ${var[direct]}; ng = ${var[nginx]} - ${var[direct]};
        if (ng <= 0.001) printf \"n/a (Rollgate +%.3f ms, nginx +%.3f ms)\", rg, ng;
        else printf \"%.2f (Rollgate +%.3f ms, nginx +%.3f ms)\", rg / ng, rg, ng"
}

report() {
  echo "## Rollgate vs nginx, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  machine_info
  echo
  echo "| target | max req/s (wrk) | p50 ms @ $RATE/s | p99 ms @ $RATE/s | errors |"
  echo "|---|---:|---:|---:|---:|"
  local t
  for t in "${TARGETS[@]}"; do fmt_row "$t"; done
  echo
  if [[ -z ${SKIP[rollgate]:-} ]]; then
    echo "| Rollgate / nginx | ratio |"
    echo "|---|---|"
    echo "| throughput (higher is better) | $(calc "printf \"%.2f\", ${RPS[rollgate]} / ${RPS[nginx]}") |"
    echo "| added p99 over direct (lower is better) | $(added_ratio P99) |"
    echo "| added p50 over direct (lower is better) | $(added_ratio P50) |"
  else
    echo "Rollgate not measured (${SKIP[rollgate]}): no ratios."
  fi
  echo
  echo "All numbers come from this one run on one machine where load generator, upstream and proxy share the CPUs: compare ratios, not absolute values."
  ((ANY_ERRORS == 0)) || echo "**WARNING: some requests failed (errors column); the affected numbers are not valid.**"
  ((${#LAGGED[@]} == 0)) || echo "**WARNING: fixed rate $RATE/s not sustained by: ${LAGGED[*]}; lower RATE.**"
}

main() {
  cd "$REPO_ROOT"
  ensure_apt_tools
  ensure_oha
  ensure_rollgate
  for port in $UPSTREAM_PORT $PEER_PORT $ROLLGATE_PORT; do check_port_free "$port"; done
  # Other work on the box skews every row: record how busy it was.
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  make_workdir
  start_upstream
  start_peer
  start_rollgate
  measure_all
  mkdir -p "$RESULTS_DIR"
  report | tee "$RESULTS_DIR/latest.md"
  rm -rf "$RESULTS_DIR/raw" && cp -r "$WORK/raw" "$RESULTS_DIR/raw"
  log "wrote $RESULTS_DIR/latest.md (raw wrk/oha output in $RESULTS_DIR/raw/)"
  ((ANY_ERRORS == 0)) || exit 3
}

main "$@"
