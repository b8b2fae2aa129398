#!/usr/bin/env bash
# bench/run.sh: compare Rollgate with well-configured peers on this machine, in one run, and
# report ratios. See bench/README.md for what each section does and why.
#
# This script starts the processes and the load generators and keeps their raw output; every
# figure, median, ratio and goal is computed by bench/report.py from that output. It installs
# nothing: bench/install.sh does, once. Everything listens on 127.0.0.1 only and every load
# phase is time-bounded.
#
# Env knobs (defaults in brackets):
#   SECTIONS ["proxy onnx shadow memory"]  which sections to run, in this order; "callgrind"
#                       (instructions per request under valgrind) and "replicas" (three
#                       replicas on a throwaway PostgreSQL behind nginx) run only when named
#   REPLICA_CHANGES [200]  REPLICA_LEASE [3s]  the replicas section's route changes and lease
#   CG_REQUESTS [5000]  CG_CONNS [4]  the callgrind section's measured load
#   DURATION [10]       seconds per measurement (each wrk and each oha run)
#   WARMUP [2]          seconds of unmeasured wrk load before each target
#   RATE [2000]         fixed request rate of the proxy section's latency runs
#   PROXY_ROUNDS [3]    rounds of the proxy section, each measuring direct, nginx, Rollgate in
#                       turn; figures are medians, goals the median of the per-round ratios
#   ONNX_RATE [200]     fixed request rate of the onnx section's latency runs
#   SHADOW_RATE [500]   fixed request rate of the shadow section
#   SHADOW_DELAY_MS [50]  how long the shadow candidate takes to answer
#   SHADOW_ROUNDS [8]   alternating without/with-mirror rounds (p99 at 500/s is noisy:
#                       fewer rounds let one disturbed round decide the ratio)
#   MEMORY_MODELS ["2 20"]  loaded-model counts of the memory section
#   PEER_WORKERS [nproc]  uvicorn worker processes of the FastAPI peer
#   WRK_THREADS [2]  WRK_CONNS [32]  OHA_CONNS [32]
#   ROLLGATE_BIN [target/release/rollgate]  (repo-relative)
#   ROLLGATE_CONFIG [bench/rollgate-bench.yaml]
#   ROLLGATE_READY_TIMEOUT [60]  seconds to wait for /v2/health/ready
#   SKIP_ROLLGATE [0]   1 = measure only the peers (harness self-test)
#   BENCH_CACHE_DIR [~/.cache/rollgate-bench]  oha and the peer's virtualenv (bench/install.sh)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO_ROOT/bench
export SECTIONS=${SECTIONS:-proxy onnx shadow memory} DURATION=${DURATION:-10}
export WARMUP=${WARMUP:-2} RATE=${RATE:-2000} ONNX_RATE=${ONNX_RATE:-200}
export SHADOW_RATE=${SHADOW_RATE:-500} SHADOW_DELAY_MS=${SHADOW_DELAY_MS:-50}
export SHADOW_ROUNDS=${SHADOW_ROUNDS:-8} PROXY_ROUNDS=${PROXY_ROUNDS:-3}
export MEMORY_MODELS=${MEMORY_MODELS:-2 20} PEER_WORKERS=${PEER_WORKERS:-$(nproc)}
export WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-32} OHA_CONNS=${OHA_CONNS:-32}
export CG_REQUESTS=${CG_REQUESTS:-5000} CG_CONNS=${CG_CONNS:-4} SKIP_ROLLGATE=${SKIP_ROLLGATE:-0}
export REPLICA_CHANGES=${REPLICA_CHANGES:-200} REPLICA_LEASE=${REPLICA_LEASE:-3s}
ROLLGATE_BIN=${ROLLGATE_BIN:-target/release/rollgate}
ROLLGATE_CONFIG=${ROLLGATE_CONFIG:-bench/rollgate-bench.yaml}
ROLLGATE_READY_TIMEOUT=${ROLLGATE_READY_TIMEOUT:-60}
CACHE_DIR=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rollgate-bench}
RESULTS_DIR=$BENCH_DIR/results

# Fixed ports: rollgate-bench.yaml hard-codes the upstreams and its data port.
UPSTREAM_A_PORT=18001 PEER_PORT=18002 ROLLGATE_PORT=18003 ROLLGATE_ADMIN_PORT=18004
UPSTREAM_B_PORT=18005 SLOW_PORT=18006 FASTAPI_PORT=18007 MEM_PORT=18013 MEM_ADMIN_PORT=18014
CG_PEER_PORT=18022 CG_RG_PORT=18023 CG_RG_ADMIN_PORT=18024
BODY='{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
UPSTREAM_REPLY='{"predictions":[{"class":1}]}'
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
RG=http://127.0.0.1:$ROLLGATE_PORT
declare -A URL=([direct]=http://127.0.0.1:$UPSTREAM_A_PORT/predict
  [nginx]=http://127.0.0.1:$PEER_PORT/v1/models/bench/predict
  [rollgate]=$RG/v1/models/bench/predict
  [fastapi]=http://127.0.0.1:$FASTAPI_PORT/v1/models/iris/predict
  [onnx]=$RG/v1/models/iris/predict
  [noshadow]=$RG/v1/models/noshadow/predict
  [shadow]=$RG/v1/models/shadow/predict)
# The server process (tree) whose CPU time each target is charged.
declare -A SERVER_PID=()
PIDS=() LOAD_PID="" WORK="" OHA="" PEER_PY="" LOAD_LOG=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
wants() { [[ " $SECTIONS " == *" $1 "* ]]; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
note_load() { LOAD_LOG+=("$1: $(loadavg)"); }
skipped() { [[ $SKIP_ROLLGATE == 1 && $1 != direct && $1 != nginx && $1 != fastapi ]]; }

# shellcheck source=bench/servers.sh
source "$BENCH_DIR/servers.sh"

# ---------------------------------------------------------------- tools (installed by install.sh)
require_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  wants shadow && [[ ! -f $ECHO_MODULE ]] && missing+=("nginx echo module")
  wants callgrind && ! command -v valgrind >/dev/null && missing+=(valgrind)
  OHA=$(command -v oha || echo "$CACHE_DIR/oha/bin/oha")
  [[ -x $OHA ]] || missing+=(oha)
  PEER_PY=$CACHE_DIR/peers-venv/bin/python
  wants onnx && [[ ! -x $PEER_PY ]] && missing+=("the FastAPI peer's virtualenv")
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]}; install with bench/install.sh"
  if [[ $SKIP_ROLLGATE != 1 ]]; then
    [[ -x $REPO_ROOT/$ROLLGATE_BIN || -x $ROLLGATE_BIN ]] ||
      die "no Rollgate binary at $ROLLGATE_BIN: cargo build --release -p rollgate (or set ROLLGATE_BIN)"
  fi
}

# oha renamed its JSON flag between versions; ask the installed one.
oha_json_flag() {
  if "$OHA" --help | grep -q -- '--output-format'; then echo "--output-format json"; else echo "-j"; fi
}

# ---------------------------------------------------------------- measuring (raw output only)
# One request per target before loading it: a bench of 404s or 502s would
# produce beautiful and meaningless numbers.
probe() {
  local url=$1 out code
  out=$(curl -s -m 5 -w '\n%{http_code}' -X POST -H 'content-type: application/json' \
    --data "$BODY" "$url") || die "request to $url failed"
  code=${out##*$'\n'}
  [[ $code == 200 ]] || die "$url answered $code: ${out%$'\n'*}"
}

# Load generators run in the background and are waited for, because bash defers a trap until
# a foreground child exits: this way Ctrl-C or TERM reaches cleanup at once.
run_load() {
  local rc=0
  "$@" &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  return "$rc"
}

# CPU ticks of a process and its children as "user system": nginx's and uvicorn's workers
# are children of the pid the script started.
tree_ticks() {
  local pid=$1 user=0 sys=0 p u s
  for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    read -r u s < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f12,13) || true
    user=$((user + ${u:-0}))
    sys=$((sys + ${s:-0}))
  done
  echo "$user $sys"
}

# Closed-loop max throughput (wrk keeps WRK_CONNS requests in flight) into raw/KEY-wrk.txt,
# and the server tree's CPU ticks around it into raw/KEY-cpu.txt.
measure_max() {
  local url=$1 key=$2 pid=${3:-} before
  export BENCH_BODY=$BODY
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/post.lua" "$url" >/dev/null
  [[ -n $pid ]] && before=$(tree_ticks "$pid")
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DURATION}s" -s "$BENCH_DIR/post.lua" "$url" \
    >"$WORK/raw/$key-wrk.txt"
  [[ -n $pid ]] && echo "$(getconf CLK_TCK) $before $(tree_ticks "$pid")" >"$WORK/raw/$key-cpu.txt"
  log "$key: $(grep '^WRK_RESULT' "$WORK/raw/$key-wrk.txt" || echo 'no WRK_RESULT line')"
}

# Open-loop latency: oha sends `rate` req/s on schedule whatever the server does, and latency
# correction counts queueing time from the scheduled send. Into raw/KEY-oha.json.
measure_latency() {
  local url=$1 rate=$2 key=$3
  echo "$rate" >"$WORK/raw/$key-oha.rate"
  # shellcheck disable=SC2046  # the JSON flag is one or two words
  run_load "$OHA" -z "${DURATION}s" -q "$rate" -c "$OHA_CONNS" --latency-correction --no-tui \
    $(oha_json_flag) -m POST -d "$BODY" -H 'content-type: application/json' "$url" \
    >"$WORK/raw/$key-oha.json" 2>"$WORK/logs/oha-$key.log" || die "oha failed for $key"
  log "$key: oha at $rate/s done"
}

# Throughput then latency of one target.
measure_target() {
  local t=$1 rate=$2 key=$3
  skipped "$t" && { log "$t: skipped (SKIP_ROLLGATE=1)"; return 0; }
  probe "${URL[$t]}"
  measure_max "${URL[$t]}" "$key" "${SERVER_PID[$t]:-}"
  measure_latency "${URL[$t]}" "$rate" "$key"
}

# ---------------------------------------------------------------- sections
section_proxy() {
  local r t
  for ((r = 1; r <= PROXY_ROUNDS; r++)); do
    log "proxy round $r of $PROXY_ROUNDS"
    for t in direct nginx rollgate; do measure_target "$t" "$RATE" "proxy-$t-$r"; done
  done
}

section_onnx() {
  measure_target fastapi "$ONNX_RATE" onnx-fastapi
  measure_target onnx "$ONNX_RATE" onnx-onnx
}

section_shadow() {
  skipped shadow && return 0
  probe "${URL[noshadow]}"
  probe "${URL[shadow]}"
  local round t order
  for ((round = 1; round <= SHADOW_ROUNDS; round++)); do
    # Alternate the order so a drift in machine load does not favour one side.
    order=(noshadow shadow)
    ((round % 2 == 0)) && order=(shadow noshadow)
    for t in "${order[@]}"; do measure_latency "${URL[$t]}" "$SHADOW_RATE" "shadow-$t-$round"; done
  done
  curl -s -m 5 "$RG/metrics" >"$WORK/raw/shadow-metrics.txt"
}

source "$BENCH_DIR/sections.sh"

# ---------------------------------------------------------------- report
# The run's settings and machine facts, for report.py.
write_run_json() {
  local rollgate="skipped (SKIP_ROLLGATE=1)" commit dirty=""
  commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  [[ -n $(git -C "$REPO_ROOT" status --porcelain 2>/dev/null) ]] && dirty=" (dirty tree)"
  [[ $SKIP_ROLLGATE != 1 ]] &&
    rollgate="$ROLLGATE_BIN ($("$ROLLGATE_BIN" --version 2>/dev/null | head -1)), commit $commit$dirty"
  CPU_NAME=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) KERNEL=$(uname -sr) \
    TOOLS="$(nginx -v 2>&1 | sed 's/.*version: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1,2), $("$OHA" --version | head -1)" \
    ROLLGATE="$rollgate" STARTED=$STARTED LOAD_AT_START=$LOAD_AT_START \
    python3 - "${LOAD_LOG[@]}" >"$WORK/raw/run.json" <<'PY'
import json, os, sys
keys = "SECTIONS DURATION WARMUP RATE ONNX_RATE SHADOW_RATE SHADOW_DELAY_MS SHADOW_ROUNDS \
PROXY_ROUNDS MEMORY_MODELS PEER_WORKERS WRK_THREADS WRK_CONNS OHA_CONNS CG_REQUESTS CG_CONNS \
SKIP_ROLLGATE REPLICA_CHANGES REPLICA_LEASE".split()
doc = {k: os.environ[k] for k in keys}
doc.update(started=os.environ["STARTED"], load_at_start=os.environ["LOAD_AT_START"],
           load_log=sys.argv[1:],
           machine={"cores": os.cpu_count(), "cpu": os.environ["CPU_NAME"] or "unknown CPU",
                    "kernel": os.environ["KERNEL"], "tools": os.environ["TOOLS"],
                    "rollgate": os.environ["ROLLGATE"]})
json.dump(doc, sys.stdout, indent=1)
PY
}

main() {
  cd "$REPO_ROOT"
  local s port
  for s in $SECTIONS; do
    [[ $s =~ ^(proxy|onnx|shadow|memory|callgrind|replicas)$ ]] || die "unknown section '$s' (proxy onnx shadow memory callgrind replicas)"
  done
  require_tools
  for port in $UPSTREAM_A_PORT $PEER_PORT $ROLLGATE_PORT $ROLLGATE_ADMIN_PORT $UPSTREAM_B_PORT \
    $SLOW_PORT $FASTAPI_PORT $MEM_PORT $MEM_ADMIN_PORT $CG_PEER_PORT $CG_RG_PORT $CG_RG_ADMIN_PORT \
    $LB_PORT "${REPLICA_PORTS[@]}" "${REPLICA_ADMIN_PORTS[@]}"; do
    check_port_free "$port"
  done
  # Other work on the box skews every row: record how busy it was.
  LOAD_AT_START=$(loadavg)
  STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  make_workdir
  start_servers
  for s in $SECTIONS; do
    note_load "$s start"
    "section_$s"
    note_load "$s end"
  done
  write_run_json
  mkdir -p "$RESULTS_DIR"
  local out rc=0
  out=$RESULTS_DIR/$(date -u '+%Y%m%dT%H%M%SZ').md
  rm -rf "$RESULTS_DIR/raw" && cp -r "$WORK/raw" "$RESULTS_DIR/raw"
  python3 "$BENCH_DIR/report.py" "$RESULTS_DIR/raw" >"$out" || rc=$?
  ((rc == 0 || rc == 3)) || die "report.py failed (raw output kept in $RESULTS_DIR/raw/)"
  cat "$out"
  cp "$out" "$RESULTS_DIR/latest.md"
  log "wrote $out and latest.md (raw output in $RESULTS_DIR/raw/)"
  exit "$rc"
}

main "$@"
