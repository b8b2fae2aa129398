#!/usr/bin/env bash
# bench/run.sh: compare Rollgate with well-configured peers on this machine, in one run, and
# report ratios. See bench/README.md for what each section does and why.
#
# Everything listens on 127.0.0.1 only and every load phase is time-bounded.
# Env knobs (defaults in brackets):
#   SECTIONS ["proxy onnx shadow memory"]  which sections to run, in this order; "callgrind"
#                       (instructions per request under valgrind) runs only when named
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
#   ROLLGATE_BIN [target/release/rollgate]  (repo-relative; built if missing and default)
#   ROLLGATE_CONFIG [bench/rollgate-bench.yaml]
#   ROLLGATE_READY_TIMEOUT [60]  seconds to wait for /v2/health/ready
#   SKIP_ROLLGATE [0]   1 = measure only the peers (harness self-test)
#   BENCH_CACHE_DIR [~/.cache/rollgate-bench]  oha and the peer's virtualenv
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO_ROOT/bench
SECTIONS=${SECTIONS:-proxy onnx shadow memory}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RATE=${RATE:-2000}
ONNX_RATE=${ONNX_RATE:-200}
SHADOW_RATE=${SHADOW_RATE:-500}
SHADOW_DELAY_MS=${SHADOW_DELAY_MS:-50}
SHADOW_ROUNDS=${SHADOW_ROUNDS:-8}
PROXY_ROUNDS=${PROXY_ROUNDS:-3}
MEMORY_MODELS=${MEMORY_MODELS:-2 20}
PEER_WORKERS=${PEER_WORKERS:-$(nproc)}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-32}
OHA_CONNS=${OHA_CONNS:-32}
ROLLGATE_BIN=${ROLLGATE_BIN:-target/release/rollgate}
ROLLGATE_CONFIG=${ROLLGATE_CONFIG:-bench/rollgate-bench.yaml}
ROLLGATE_READY_TIMEOUT=${ROLLGATE_READY_TIMEOUT:-60}
SKIP_ROLLGATE=${SKIP_ROLLGATE:-0}
CACHE_DIR=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rollgate-bench}
RESULTS_DIR=$BENCH_DIR/results
CLK_TCK=$(getconf CLK_TCK)

# Fixed ports: rollgate-bench.yaml hard-codes the upstreams and its data port.
UPSTREAM_A_PORT=18001
PEER_PORT=18002
ROLLGATE_PORT=18003
ROLLGATE_ADMIN_PORT=18004
UPSTREAM_B_PORT=18005
SLOW_PORT=18006
FASTAPI_PORT=18007
MEM_PORT=18013
MEM_ADMIN_PORT=18014
BODY='{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
UPSTREAM_REPLY='{"predictions":[{"class":1}]}'
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

RG=http://127.0.0.1:$ROLLGATE_PORT
declare -A LABEL=([direct]="direct upstream" [nginx]="nginx split_clients proxy"
  [rollgate]="Rollgate proxy route" [fastapi]="FastAPI + scikit-learn"
  [onnx]="Rollgate in-process ONNX" [noshadow]="Rollgate, no mirror"
  [shadow]="Rollgate, 100% mirror to slow")
declare -A URL=([direct]=http://127.0.0.1:$UPSTREAM_A_PORT/predict
  [nginx]=http://127.0.0.1:$PEER_PORT/v1/models/bench/predict
  [rollgate]=$RG/v1/models/bench/predict
  [fastapi]=http://127.0.0.1:$FASTAPI_PORT/v1/models/iris/predict
  [onnx]=$RG/v1/models/iris/predict
  [noshadow]=$RG/v1/models/noshadow/predict
  [shadow]=$RG/v1/models/shadow/predict)
declare -A RPS=() P50=() P99=() ERRS=() SKIP=() CPU=() USR=() SYS=()
# The server process (tree) whose CPU time each target is charged.
declare -A SERVER_PID=()
# Ratio, goal and verdict per target of the issue, filled by the sections that ran.
declare -A GOAL_VALUE=() CG_IR=()
PIDS=()
LOAD_PID=""
WORK=""
ANY_ERRORS=0
LAGGED=()
OHA=""
PEER_PY=""
LOAD_LOG=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Float arithmetic; bash has none.
calc() { awk "BEGIN { $1 }"; }
wants() { [[ " $SECTIONS " == *" $1 "* ]]; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
note_load() { LOAD_LOG+=("$1: $(loadavg)"); }

# ---------------------------------------------------------------- tools
ensure_apt_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  # The shadow section's slow candidate is nginx with echo_sleep.
  if wants shadow && [[ ! -f $ECHO_MODULE ]]; then missing+=(libnginx-mod-http-echo); fi
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  if wants onnx && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
  fi
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

# The FastAPI peer's packages go into a virtualenv in the cache dir, reinstalled when
# bench/peers/requirements.txt changes.
ensure_peer_venv() {
  wants onnx || return 0
  local venv=$CACHE_DIR/peers-venv req=$BENCH_DIR/peers/requirements.txt stamp
  stamp=$(sha256sum "$req" | cut -c1-16)
  PEER_PY=$venv/bin/python
  [[ -x $PEER_PY && -f $venv/.req-$stamp ]] && return 0
  log "pip install -r bench/peers/requirements.txt into $venv (one-off)"
  mkdir -p "$CACHE_DIR"
  [[ -x $PEER_PY ]] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  "$PEER_PY" -m pip install -q -r "$req" >"$CACHE_DIR/peers-pip.log" 2>&1 ||
    { tail -20 "$CACHE_DIR/peers-pip.log" >&2; die "pip install for the FastAPI peer failed"; }
  rm -f "$venv"/.req-* && touch "$venv/.req-$stamp"
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

# Stops one process this script started and waits for it (bounded).
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in {1..100}; do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
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

# A fake model server: a fixed prediction, as cheap as nginx can make it. With a delay it is
# the shadow section's slow candidate (echo module: answers after echo_sleep, no CPU spent).
write_upstream_conf() {
  local name=$1 port=$2 delay_ms=${3:-0} body
  if ((delay_ms > 0)); then
    body="echo_sleep $(calc "printf \"%.3f\", $delay_ms / 1000"); echo -n '$UPSTREAM_REPLY';"
  else
    body="return 200 '$UPSTREAM_REPLY';"
  fi
  {
    ((delay_ms > 0)) && echo "load_module $ECHO_MODULE;"
    cat <<EOF
daemon off;
worker_processes 1;
pid $WORK/$name.pid;
error_log $WORK/logs/$name-error.log warn;
events { worker_connections 4096; }
http {
$(nginx_http_common "$name")
    server {
        listen 127.0.0.1:$port;
        location = /predict {
            default_type application/json;
            $body
        }
    }
}
EOF
  } >"$WORK/$name.conf"
}

write_peer_conf() {
  cat >"$WORK/peer.conf" <<EOF
# The peer: a fair, well-tuned nginx doing the same 90/10 split Rollgate does over the same
# two upstream processes, with pooled keep-alive connections to each.
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
    upstream v1 { server 127.0.0.1:$UPSTREAM_A_PORT; keepalive 64; keepalive_requests 1000000; }
    upstream v2 { server 127.0.0.1:$UPSTREAM_B_PORT; keepalive 64; keepalive_requests 1000000; }
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
  local name=$1 port=$2 delay_ms=${3:-0}
  write_upstream_conf "$name" "$port" "$delay_ms"
  start_nginx "$name"
  [[ $name == upstream-a ]] && SERVER_PID[direct]=$NGINX_PID
  wait_http "nginx $name" POST "http://127.0.0.1:$port/predict" 200 "$NGINX_PID" 10
}

start_peer() {
  write_peer_conf
  start_nginx peer
  SERVER_PID[nginx]=$NGINX_PID
  wait_http "nginx peer" POST "${URL[nginx]}" 200 "$NGINX_PID" 10
}

start_fastapi() {
  (cd "$BENCH_DIR/peers" && exec "$PEER_PY" -m uvicorn fastapi_split:app --host 127.0.0.1 \
      --port "$FASTAPI_PORT" --workers "$PEER_WORKERS" --no-access-log --log-level warning) \
    >"$WORK/logs/fastapi-stdout.log" 2>"$WORK/logs/fastapi-stderr.log" &
  PIDS+=($!)
  SERVER_PID[fastapi]=$!
  log "waiting for the FastAPI peer (${PEER_WORKERS} uvicorn workers; trains its models at start)"
  wait_http "FastAPI peer" POST "${URL[fastapi]}" 200 "$!" 120
}

# Starts `rollgate serve` with a fresh store (a store left by an earlier run would keep its
# own routes); sets RG_PID.
start_rollgate_instance() {
  local name=$1 config=$2 port=$3 admin=$4
  (cd "$REPO_ROOT" && exec "$ROLLGATE_BIN" serve --config "$config" \
      --data-dir "$WORK/$name-data" --admin-listen "127.0.0.1:$admin") \
    >"$WORK/logs/$name-stdout.log" 2>"$WORK/logs/$name-stderr.log" &
  RG_PID=$!
  PIDS+=("$RG_PID")
  log "waiting for Rollgate $name (:$port/v2/health/ready)"
  wait_http "Rollgate $name ($ROLLGATE_BIN serve)" GET "http://127.0.0.1:$port/v2/health/ready" \
    200 "$RG_PID" "$ROLLGATE_READY_TIMEOUT"
}

start_servers() {
  local need_rg=0
  if wants proxy || wants shadow || wants callgrind; then
    start_upstream upstream-a "$UPSTREAM_A_PORT"
    start_upstream upstream-b "$UPSTREAM_B_PORT"
  fi
  wants shadow && start_upstream slow "$SLOW_PORT" "$SHADOW_DELAY_MS"
  { wants proxy || wants callgrind; } && start_peer
  wants onnx && start_fastapi
  { wants proxy || wants onnx || wants shadow; } && need_rg=1
  if [[ $SKIP_ROLLGATE == 1 ]]; then
    local t
    for t in rollgate onnx noshadow shadow; do SKIP[$t]="SKIP_ROLLGATE=1"; done
  elif ((need_rg)); then
    start_rollgate_instance rollgate "$ROLLGATE_CONFIG" "$ROLLGATE_PORT" "$ROLLGATE_ADMIN_PORT"
    SERVER_PID[rollgate]=$RG_PID
    SERVER_PID[onnx]=$RG_PID
  fi
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

# CPU time of a process and its children, as "user system" clock ticks: nginx's workers and
# uvicorn's worker processes are children of the pid the script started. The two are kept
# apart because they say different things: user time is the server's own code, system time
# is mostly the kernel's TCP work, which any proxy pays.
tree_ticks() {
  local pid=$1 user=0 sys=0 p u s
  for p in "$pid" $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    read -r u s < <(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12, $13 }') || true
    user=$((user + ${u:-0}))
    sys=$((sys + ${s:-0}))
  done
  echo "$user $sys"
}

# Sets CPU[key], USR[key] and SYS[key] (µs per request) from two tree_ticks readings.
charge_cpu() {
  local key=$1 served=$2 before=($3) after=($4) per
  per="1e6 / $CLK_TCK / $served"
  USR[$key]=$(calc "printf \"%.1f\", (${after[0]} - ${before[0]}) * $per")
  SYS[$key]=$(calc "printf \"%.1f\", (${after[1]} - ${before[1]}) * $per")
  CPU[$key]=$(calc "printf \"%.1f\", ${USR[$key]} + ${SYS[$key]}")
}

# Closed-loop max throughput: wrk keeps WRK_CONNS requests in flight. Sets RPS[key] and
# ERRS[key]; the key defaults to the target.
measure_max() {
  local t=$1 url=${2:-${URL[$1]}} key=${3:-$1} raw line errs
  raw=$WORK/raw/$key-wrk.txt
  export BENCH_BODY=$BODY
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WARMUP}s" \
    -s "$BENCH_DIR/post.lua" "$url" >/dev/null
  local pid=${4:-${SERVER_PID[$t]:-}} ticks=""
  [[ -n $pid ]] && ticks=$(tree_ticks "$pid")
  run_load wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${DURATION}s" \
    -s "$BENCH_DIR/post.lua" "$url" >"$raw"
  line=$(grep '^WRK_RESULT' "$raw") || die "no WRK_RESULT line from wrk for $key"
  RPS[$key]=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
  if [[ -n $pid ]]; then
    local served
    served=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    charge_cpu "$key" "$served" "$ticks" "$(tree_ticks "$pid")"
  fi
  errs=$(grep -oE 'errors_[a-z]+=[0-9]+' <<<"$line" | awk -F= '{ s += $2 } END { print s }')
  ERRS[$key]=$((${ERRS[$key]:-0} + errs))
  ((errs == 0)) || ANY_ERRORS=1
  log "$key: wrk ${RPS[$key]} req/s, $errs errors, server CPU ${CPU[$key]:-?} µs/request (user ${USR[$key]:-?}, system ${SYS[$key]:-?})"
}

# Open-loop latency: oha sends `rate` req/s on schedule whatever the server
# does, and latency correction counts queueing time from the scheduled send.
measure_latency() {
  local t=$1 rate=$2 key=${3:-$1} raw non200 achieved
  raw=$WORK/raw/$key-oha.json
  # shellcheck disable=SC2046  # the JSON flag is one or two words
  run_load "$OHA" -z "${DURATION}s" -q "$rate" -c "$OHA_CONNS" --latency-correction --no-tui \
    $(oha_json_flag) -m POST -d "$BODY" -H 'content-type: application/json' \
    "${URL[$t]}" >"$raw" 2>"$WORK/logs/oha-$key.log" || die "oha failed for $key"
  P50[$key]=$(jq -r '.latencyPercentiles.p50 * 1000' "$raw")
  P99[$key]=$(jq -r '.latencyPercentiles.p99 * 1000' "$raw")
  non200=$(jq -r '[(.statusCodeDistribution // {}) | to_entries[] | select(.key != "200") | .value] | add // 0' "$raw")
  # Requests still in flight when -z ends are "aborted due to deadline":
  # an artefact of stopping, not a failure of the target.
  non200=$((non200 + $(jq -r '[(.errorDistribution // {}) | to_entries[]
    | select(.key != "aborted due to deadline") | .value] | add // 0' "$raw")))
  ERRS[$key]=$((${ERRS[$key]:-0} + non200))
  ((non200 == 0)) || ANY_ERRORS=1
  achieved=$(jq -r '.summary.requestsPerSec' "$raw")
  # If the target could not keep up with the rate its percentiles measure a queue.
  if calc "exit !($achieved < 0.95 * $rate)"; then
    LAGGED+=("$key ($(printf '%.0f' "$achieved")/s of $rate/s)")
  fi
  log "$key: oha @${rate}/s (achieved $(printf '%.0f' "$achieved")) p50 $(printf '%.3f' "${P50[$key]}") ms, p99 $(printf '%.3f' "${P99[$key]}") ms, $non200 errors"
}

# Throughput then latency of each target; a target whose max is under the rate is warned.
measure_targets() {
  local rate=$1 t
  shift
  for t in "$@"; do
    [[ -n ${SKIP[$t]:-} ]] && { log "${LABEL[$t]}: skipped (${SKIP[$t]})"; continue; }
    probe "$t"
    measure_max "$t"
    if calc "exit !($rate > 0.7 * ${RPS[$t]})"; then
      log "WARNING: rate $rate/s is over 70% of ${LABEL[$t]}'s max; its latency is near saturation"
    fi
    measure_latency "$t" "$rate"
  done
}

fmt_row() {
  local t=$1
  if [[ -n ${SKIP[$t]:-} ]]; then
    printf '| %s | skipped: %s | | | | | | |\n' "${LABEL[$t]}" "${SKIP[$t]}"
    return 0
  fi
  printf '| %s | %.0f | %s | %s | %s | %.3f | %.3f | %d |\n' "${LABEL[$t]}" "${RPS[$t]}" \
    "${CPU[$t]:-?}" "${USR[$t]:-?}" "${SYS[$t]:-?}" \
    "${P50[$t]}" "${P99[$t]}" "${ERRS[$t]}"
}

# Ratio of Rollgate's to nginx's added latency; n/a when nginx adds ~nothing.
added_ratio() {
  local -n var=$1
  calc "rg = ${var[rollgate]} - ${var[direct]}; ng = ${var[nginx]} - ${var[direct]};
        if (ng <= 0.001) printf \"n/a (Rollgate +%.3f ms, nginx +%.3f ms)\", rg, ng;
        else printf \"%.2f (Rollgate +%.3f ms, nginx +%.3f ms)\", rg / ng, rg, ng"
}

# Records one of the issue's targets: GOAL_VALUE[name] = "ratio|goal text|met".
goal() {
  local name=$1 value=$2 op=$3 bound=$4 met=no
  [[ $value == n/a* ]] && { GOAL_VALUE[$name]="$value|$op $bound|n/a"; return 0; }
  calc "exit !($value $op $bound)" && met=yes
  GOAL_VALUE[$name]="$value|$op $bound|$met"
}

# ---------------------------------------------------------------- sections
# The median of its numeric arguments.
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# One proxy round: max throughput then fixed-rate latency of each target, keyed "target#round".
proxy_round() {
  local r=$1 t
  for t in direct nginx rollgate; do
    [[ -n ${SKIP[$t]:-} ]] && continue
    measure_max "$t" "${URL[$t]}" "$t#$r"
    measure_latency "$t" "$RATE" "$t#$r"
  done
}

# Sets each target's figures (RPS, CPU, USR, SYS, P50, P99) to the median over the rounds and
# its errors to their sum.
proxy_medians() {
  local t r var values errs
  for t in direct nginx rollgate; do
    [[ -n ${SKIP[$t]:-} ]] && continue
    for var in RPS CPU USR SYS P50 P99; do
      local -n fig=$var
      values=()
      for ((r = 1; r <= PROXY_ROUNDS; r++)); do values+=("${fig[$t#$r]:-0}"); done
      # shellcheck disable=SC2004  # an associative array: the key is a string
      fig[$t]=$(median "${values[@]}")
      unset -n fig
    done
    errs=0
    for ((r = 1; r <= PROXY_ROUNDS; r++)); do errs=$((errs + ${ERRS[$t#$r]:-0})); done
    ERRS[$t]=$errs
  done
}

# Per-round Rollgate/nginx ratios: TPUT_R (throughput) and P99_R (added p99; "n/a" rounds,
# where nginx added nothing measurable, are left out of the median).
proxy_ratios() {
  local r
  TPUT_R=() P99_R=()
  for ((r = 1; r <= PROXY_ROUNDS; r++)); do
    TPUT_R+=("$(calc "printf \"%.2f\", ${RPS[rollgate#$r]} / ${RPS[nginx#$r]}")")
    P99_R+=("$(calc "rg = ${P99[rollgate#$r]} - ${P99[direct#$r]}; ng = ${P99[nginx#$r]} - ${P99[direct#$r]};
      if (ng <= 0.001) print \"n/a\"; else printf \"%.2f\", rg / ng")")
  done
}

section_proxy() {
  note_load "proxy start"
  local r t
  for t in direct nginx rollgate; do
    [[ -z ${SKIP[$t]:-} ]] && probe "$t"
  done
  for ((r = 1; r <= PROXY_ROUNDS; r++)); do
    log "proxy round $r of $PROXY_ROUNDS"
    proxy_round "$r"
  done
  proxy_medians
  note_load "proxy end"
  {
    echo "### Proxy: direct vs nginx vs Rollgate (90/10 over two upstreams)"
    echo
    echo "wrk -t$WRK_THREADS -c$WRK_CONNS -d${DURATION}s (after ${WARMUP}s warm-up); oha -z ${DURATION}s -q $RATE -c $OHA_CONNS --latency-correction; $PROXY_ROUNDS rounds, each measuring the three targets in turn. Figures are medians over the rounds."
    echo
    echo "| target | max req/s (wrk) | server CPU µs/req | user | system | p50 ms @ $RATE/s | p99 ms @ $RATE/s | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    fmt_row direct
    fmt_row nginx
    fmt_row rollgate
    echo
    if [[ -z ${SKIP[rollgate]:-} ]]; then
      local tput p99 p50 p99_values=()
      proxy_ratios
      for r in "${P99_R[@]}"; do [[ $r == n/a ]] || p99_values+=("$r"); done
      tput=$(printf '%.2f' "$(median "${TPUT_R[@]}")")
      p99="n/a"
      ((${#p99_values[@]} > 0)) && p99=$(printf '%.2f' "$(median "${p99_values[@]}")")
      p50=$(added_ratio P50)
      goal "proxy throughput, Rollgate / nginx" "$tput" ">=" 1.10
      goal "proxy added p99, Rollgate / nginx" "$p99" "<=" 1.00
      echo "| Rollgate / nginx | ratio |"
      echo "|---|---|"
      echo "| throughput (higher is better), median of rounds | $tput (rounds: ${TPUT_R[*]}) |"
      echo "| server CPU per request (lower is better) | $(calc "printf \"%.2f\", ${CPU[rollgate]} / ${CPU[nginx]}") |"
      echo "| user CPU per request (the server's own code) | $(calc "printf \"%.2f\", ${USR[rollgate]} / ${USR[nginx]}") |"
      echo "| system CPU per request (mostly the kernel's TCP work) | $(calc "printf \"%.2f\", ${SYS[rollgate]} / ${SYS[nginx]}") |"
      echo "| added p99 over direct (lower is better), median of rounds | $p99 (rounds: ${P99_R[*]}; medians: $(added_ratio P99)) |"
      echo "| added p50 over direct (lower is better), of the medians | $p50 |"
      echo
    fi
  } >>"$WORK/report-sections.md"
}

section_onnx() {
  note_load "onnx start"
  measure_targets "$ONNX_RATE" fastapi onnx
  note_load "onnx end"
  {
    echo "### In-process model serving: Rollgate ONNX vs FastAPI + scikit-learn (two models, random 90/10)"
    echo
    echo "FastAPI peer: bench/peers/fastapi_split.py under uvicorn, $PEER_WORKERS worker processes. wrk as above; oha at $ONNX_RATE/s."
    echo
    echo "| target | max req/s (wrk) | server CPU µs/req | user | system | p50 ms @ $ONNX_RATE/s | p99 ms @ $ONNX_RATE/s | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    fmt_row fastapi
    fmt_row onnx
    echo
    if [[ -z ${SKIP[onnx]:-} ]]; then
      local tput
      tput=$(calc "printf \"%.2f\", ${RPS[onnx]} / ${RPS[fastapi]}")
      goal "in-process predict throughput, Rollgate / FastAPI" "$tput" ">=" 20
      echo "Throughput Rollgate / FastAPI: **$tput**; server CPU per request FastAPI / Rollgate: **$(calc "printf \"%.1f\", ${CPU[fastapi]} / ${CPU[onnx]}")**"
      echo
    fi
    if [[ -n ${RPS[direct]:-} && -n ${RPS[fastapi]:-} ]]; then
      # The ceiling of this ratio on this machine: a server answering a constant string with
      # no work at all, under the same wrk.
      echo "For scale: nginx answering a constant (the proxy section's direct upstream) reached $(printf '%.0f' "${RPS[direct]}") req/s, **$(calc "printf \"%.1f\", ${RPS[direct]} / ${RPS[fastapi]}")×** the FastAPI peer: no server doing any work can exceed that ratio here."
      echo
    fi
  } >>"$WORK/report-sections.md"
}

# Reads one counter of the shadow service from Rollgate's /metrics (summed over labels).
metric_sum() {
  local name=$1 service=$2
  curl -s -m 5 "$RG/metrics" |
    awk -v n="$name" -v s="service=\"$service\"" '$1 ~ "^"n && index($0, s) { t += $NF } END { printf "%d", t }'
}

section_shadow() {
  [[ -n ${SKIP[shadow]:-} ]] && { log "shadow: skipped (${SKIP[shadow]})"; return 0; }
  note_load "shadow start"
  probe noshadow
  probe shadow
  local round t sum_off=0 sum_on=0 rows=""
  for ((round = 1; round <= SHADOW_ROUNDS; round++)); do
    # Alternate the order so a drift in machine load does not favour one side.
    local order=(noshadow shadow)
    ((round % 2 == 0)) && order=(shadow noshadow)
    for t in "${order[@]}"; do measure_latency "$t" "$SHADOW_RATE" "$t-$round"; done
    sum_off=$(calc "print $sum_off + ${P99[noshadow-$round]}")
    sum_on=$(calc "print $sum_on + ${P99[shadow-$round]}")
    rows+=$(printf '| %d | %.3f / %.3f | %.3f / %.3f | %d |' "$round" \
      "${P50[noshadow-$round]}" "${P99[noshadow-$round]}" "${P50[shadow-$round]}" \
      "${P99[shadow-$round]}" "$((ERRS[noshadow-$round] + ERRS[shadow-$round]))")$'\n'
  done
  note_load "shadow end"
  local mirrored dropped ratio
  mirrored=$(metric_sum rollgate_mirrored_requests shadow)
  dropped=$(metric_sum rollgate_mirror_dropped shadow)
  ratio=$(calc "printf \"%.2f\", $sum_on / $sum_off")
  goal "shadow: primary p99 with / without 100% mirror" "$ratio" "<=" 1.10
  {
    echo "### Shadow overhead: primary latency with a 100% mirror to a ${SHADOW_DELAY_MS} ms candidate"
    echo
    echo "oha -z ${DURATION}s -q $SHADOW_RATE -c $OHA_CONNS --latency-correction, $SHADOW_ROUNDS alternating rounds; the primary is the fast upstream in both services."
    echo
    echo "| round | no mirror p50 / p99 ms | 100% mirror p50 / p99 ms | errors |"
    echo "|---:|---:|---:|---:|"
    printf '%s' "$rows"
    echo
    echo "Copies mirrored: $mirrored, dropped (mirror queue full): $dropped."
    echo "Primary p99 with / without mirror (mean over rounds): **$ratio**"
    echo
  } >>"$WORK/report-sections.md"
}

# A config with `n` ONNX versions of one service, alternating the two bundled iris files,
# weights spread evenly (two decimals, the remainder to the first).
write_memory_conf() {
  local n=$1 file i
  file=$WORK/memory-$n.yaml
  {
    echo "listen:"
    echo "  data: 127.0.0.1:$MEM_PORT"
    echo "services:"
    echo "  iris:"
    echo "    input_width: 4"
    echo "    versions:"
    for ((i = 1; i <= n; i++)); do
      printf '      m%02d:\n        onnx: %s/models/iris-v%d.onnx\n' "$i" "$REPO_ROOT" $(((i - 1) % 2 + 1))
    done
    echo "    route:"
    echo "      stable: m01"
    printf '      weights: {'
    if ((n == 2)); then
      printf ' m01: 90, m02: 10'
    else
      local each=$((10000 / n)) first
      first=$((10000 - each * (n - 1)))
      for ((i = 1; i <= n; i++)); do
        local bps=$each
        ((i == 1)) && bps=$first
        printf '%s m%02d: %s' "$( ((i > 1)) && echo ,)" "$i" "$(calc "printf \"%.2f\", $bps / 100")"
      done
    fi
    echo ' }'
  } >"$file"
  echo "$file"
}

vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Samples VmRSS every 0.2 s into a file, keeping the maximum, until killed.
rss_sampler() {
  local pid=$1 out=$2 max=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(vm_kib "$pid" VmRSS 2>/dev/null || echo 0)
    ((${v:-0} > max)) && { max=$v; echo "$max" >"$out"; }
    sleep 0.2
  done
}

section_memory() {
  [[ $SKIP_ROLLGATE == 1 ]] && { log "memory: skipped (SKIP_ROLLGATE=1)"; return 0; }
  note_load "memory start"
  local n rows="" conf pid idle sampler peak hwm url=http://127.0.0.1:$MEM_PORT/v1/models/iris/predict
  for n in $MEMORY_MODELS; do
    conf=$(write_memory_conf "$n")
    start_rollgate_instance "memory-$n" "$conf" "$MEM_PORT" "$MEM_ADMIN_PORT"
    pid=$RG_PID
    sleep 2
    idle=$(vm_kib "$pid" VmRSS)
    echo 0 >"$WORK/rss-$n"
    rss_sampler "$pid" "$WORK/rss-$n" &
    sampler=$!
    PIDS+=("$sampler")
    measure_max onnx "$url" "memory-$n" "$pid"
    peak=$(cat "$WORK/rss-$n")
    hwm=$(vm_kib "$pid" VmHWM)
    kill "$sampler" 2>/dev/null || true
    stop_pid "$pid"
    rows+=$(printf '| %d | %.1f | %.1f | %.1f | %.0f | %d |' "$n" "$(calc "print $idle / 1024")" \
      "$(calc "print $peak / 1024")" "$(calc "print $hwm / 1024")" "${RPS[memory-$n]}" \
      "${ERRS[memory-$n]}")$'\n'
    log "memory, $n models: idle $idle KiB, under load max $peak KiB, VmHWM $hwm KiB"
  done
  note_load "memory end"
  {
    echo "### Memory: resident size of Rollgate with N loaded ONNX models"
    echo
    echo "One service with N versions (the bundled iris-v1/iris-v2 files, alternating), a separate Rollgate process per N. Idle: VmRSS 2 s after ready. Under load: maximum VmRSS sampled every 0.2 s during wrk -t$WRK_THREADS -c$WRK_CONNS -d${DURATION}s on the predict route; VmHWM: peak since start."
    echo
    echo "| models | idle RSS MiB | under load RSS MiB | VmHWM MiB | req/s during load | errors |"
    echo "|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
    echo
  } >>"$WORK/report-sections.md"
}

# ---------------------------------------------------------------- callgrind (not default)
# Instructions per request in user space, counted by valgrind: reproducible on a busy machine
# where timings are not. Each proxy runs alone on one thread (nginx: master_process off, one
# process; Rollgate: --workers 1), in front of the same two upstreams, and gets CG_REQUESTS
# requests after a warm-up; the counters are zeroed between the two.
CG_REQUESTS=${CG_REQUESTS:-5000}
CG_CONNS=${CG_CONNS:-4}
CG_PEER_PORT=18022
CG_RG_PORT=18023
CG_RG_ADMIN_PORT=18024

# Runs the fixed load against `url` on the process `pid` under callgrind; prints Ir/request
# and keeps the dump and its annotation in the raw dir.
callgrind_measure() {
  local name=$1 url=$2 pid=$3 dumpno=${4:-1} dump ir
  callgrind_control -i on "$pid" >/dev/null
  run_load "$OHA" -n 300 -c "$CG_CONNS" --no-tui -m POST -d "$BODY" \
    -H 'content-type: application/json' "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  # shellcheck disable=SC2046  # the JSON flag is one or two words
  run_load "$OHA" -n "$CG_REQUESTS" -c "$CG_CONNS" --no-tui $(oha_json_flag) -m POST -d "$BODY" \
    -H 'content-type: application/json' "$url" >"$WORK/raw/callgrind-$name-oha.json"
  local ok
  ok=$(jq -r '.statusCodeDistribution["200"] // 0' "$WORK/raw/callgrind-$name-oha.json")
  ((ok == CG_REQUESTS)) || { ANY_ERRORS=1; log "callgrind $name: only $ok of $CG_REQUESTS answered 200"; }
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  # Dumps asked for by callgrind_control are numbered from .1; each holds the counts since
  # the last zeroing.
  dump=$(echo "$WORK"/cg/*.out."$pid.$dumpno")
  [[ -f $dump ]] || die "callgrind $name: no dump $dump"
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  callgrind_annotate --inclusive=no "$dump" 2>/dev/null | head -60 >"$WORK/raw/callgrind-$name-top.txt" || true
  callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null |
    awk -v requests="$CG_REQUESTS" -f "$BENCH_DIR/callgrind-components.awk" \
      >"$WORK/raw/callgrind-$name-components.tsv" || true
  cp "$dump" "$WORK/raw/callgrind-$name.out"
  CG_IR[$name]=$(calc "printf \"%.0f\", $ir / $CG_REQUESTS")
  log "callgrind $name: $ir instructions for $CG_REQUESTS requests = ${CG_IR[$name]} per request"
}

section_callgrind() {
  command -v valgrind >/dev/null || die "valgrind is needed for SECTIONS=callgrind (apt-get install valgrind)"
  mkdir -p "$WORK/cg" "$WORK/cg-peer"
  local vg=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no)
  # nginx: the same split as the proxy section's peer, one process, no master.
  sed -e "s/worker_processes auto;/worker_processes 1;\nmaster_process off;/" \
    -e "s/listen 127.0.0.1:$PEER_PORT;/listen 127.0.0.1:$CG_PEER_PORT;/" \
    -e "s#$WORK/peer#$WORK/cg-peer#g" "$WORK/peer.conf" >"$WORK/cg-peer.conf"
  mkdir -p "$WORK/cg-peer"
  "${vg[@]}" --callgrind-out-file="$WORK/cg/nginx.out.%p" nginx -p "$WORK" -c "$WORK/cg-peer.conf" \
    -e "$WORK/logs/cg-peer-error.log" >"$WORK/logs/cg-nginx.log" 2>&1 &
  local npid=$!
  PIDS+=("$npid")
  wait_http "nginx under callgrind" POST "http://127.0.0.1:$CG_PEER_PORT/v1/models/bench/predict" 200 "$npid" 60
  callgrind_measure nginx "http://127.0.0.1:$CG_PEER_PORT/v1/models/bench/predict" "$npid"
  stop_pid "$npid"
  if [[ $SKIP_ROLLGATE != 1 ]]; then
    sed -e "s/127.0.0.1:$ROLLGATE_PORT/127.0.0.1:$CG_RG_PORT/" "$REPO_ROOT/$ROLLGATE_CONFIG" \
      >"$WORK/cg-rollgate.yaml"
    (cd "$REPO_ROOT" && exec "${vg[@]}" --callgrind-out-file="$WORK/cg/rollgate.out.%p" \
        "$ROLLGATE_BIN" serve --config "$WORK/cg-rollgate.yaml" --workers 1 \
        --data-dir "$WORK/cg-rollgate-data" --admin-listen "127.0.0.1:$CG_RG_ADMIN_PORT") \
      >"$WORK/logs/cg-rollgate.log" 2>&1 &
    local rpid=$!
    PIDS+=("$rpid")
    wait_http "Rollgate under callgrind" GET "http://127.0.0.1:$CG_RG_PORT/v2/health/ready" 200 "$rpid" 300
    callgrind_measure rollgate "http://127.0.0.1:$CG_RG_PORT/v1/models/bench/predict" "$rpid"
    callgrind_measure onnx "http://127.0.0.1:$CG_RG_PORT/v1/models/iris/predict" "$rpid" 2
    stop_pid "$rpid"
  fi
  {
    echo "### Instructions per proxied request (callgrind, user space)"
    echo
    echo "oha -n $CG_REQUESTS -c $CG_CONNS after 300 warm-up requests; one thread each (nginx master_process off, Rollgate --workers 1). Top functions of each in raw/callgrind-*-top.txt."
    echo
    echo "| proxy | instructions / request |"
    echo "|---|---:|"
    echo "| nginx split_clients | ${CG_IR[nginx]} |"
    [[ -n ${CG_IR[rollgate]:-} ]] && echo "| Rollgate proxy route | ${CG_IR[rollgate]} |"
    [[ -n ${CG_IR[onnx]:-} ]] && echo "| Rollgate in-process ONNX route (no upstream) | ${CG_IR[onnx]} |"
    [[ -n ${CG_IR[rollgate]:-} ]] && echo "" && echo "Rollgate proxy / nginx: **$(calc "printf \"%.2f\", ${CG_IR[rollgate]} / ${CG_IR[nginx]}")**"
    echo
    components_table rollgate "Rollgate proxy route"
  } >>"$WORK/report-sections.md"
}

# Where one target's instructions went, by component (crate of each function's self cost).
components_table() {
  local name=$1 label=$2 tsv=$WORK/raw/callgrind-$1-components.tsv
  [[ -s $tsv ]] || return 0
  echo "$label, instructions per request by component (self cost of each function, grouped by crate; bench/callgrind-components.awk):"
  echo
  echo "| component | instructions / request | share |"
  echo "|---|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$tsv"
  echo
}

# ---------------------------------------------------------------- report
machine_info() {
  local cpu commit dirty=""
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  [[ -n $(git -C "$REPO_ROOT" status --porcelain 2>/dev/null) ]] && dirty=" (dirty tree)"
  echo "- Machine: $(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr)"
  echo "- Load average (1/5/15 min): before the run $LOAD_AT_START; ${LOAD_LOG[*]/%/;}"
  echo "- Versions: $(nginx -v 2>&1 | sed 's/.*version: //'), $(wrk -v 2>&1 | head -1 | awk '{ print "wrk " $2 }'), $("$OHA" --version | head -1)"
  if [[ $SKIP_ROLLGATE != 1 ]]; then
    echo "- Rollgate: $ROLLGATE_BIN ($("$ROLLGATE_BIN" --version 2>/dev/null | head -1 || echo "version unknown")), commit $commit$dirty"
  else
    echo "- Commit: $commit$dirty"
  fi
  echo "- Sections: $SECTIONS; DURATION=${DURATION}s"
}

goals_table() {
  ((${#GOAL_VALUE[@]} > 0)) || return 0
  echo "| target | measured | goal | met |"
  echo "|---|---:|---|---|"
  local name v
  for name in "proxy throughput, Rollgate / nginx" "proxy added p99, Rollgate / nginx" \
    "in-process predict throughput, Rollgate / FastAPI" \
    "shadow: primary p99 with / without 100% mirror"; do
    v=${GOAL_VALUE[$name]:-}
    [[ -n $v ]] || continue
    IFS='|' read -r value bound met <<<"$v"
    echo "| $name | $value | $bound | $met |"
  done
  echo
}

report() {
  echo "## Rollgate vs peers, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  machine_info
  echo
  goals_table
  cat "$WORK/report-sections.md"
  echo "All numbers come from this one run on one machine where load generators, upstreams, peers and Rollgate share the CPUs: compare ratios, not absolute values."
  ((ANY_ERRORS == 0)) || echo "**WARNING: some requests failed (errors columns); the affected numbers are not valid.**"
  ((${#LAGGED[@]} == 0)) || echo "**WARNING: fixed rate not sustained by: ${LAGGED[*]}; lower the rate.**"
}

main() {
  cd "$REPO_ROOT"
  local s
  for s in $SECTIONS; do
    [[ $s =~ ^(proxy|onnx|shadow|memory|callgrind)$ ]] || die "unknown section '$s' (proxy onnx shadow memory callgrind)"
  done
  ensure_apt_tools
  ensure_oha
  ensure_peer_venv
  ensure_rollgate
  for port in $UPSTREAM_A_PORT $PEER_PORT $ROLLGATE_PORT $ROLLGATE_ADMIN_PORT $UPSTREAM_B_PORT \
    $SLOW_PORT $FASTAPI_PORT $MEM_PORT $MEM_ADMIN_PORT $CG_PEER_PORT $CG_RG_PORT $CG_RG_ADMIN_PORT; do
    check_port_free "$port"
  done
  # Other work on the box skews every row: record how busy it was.
  LOAD_AT_START=$(loadavg)
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  make_workdir
  : >"$WORK/report-sections.md"
  start_servers
  for s in $SECTIONS; do "section_$s"; done
  mkdir -p "$RESULTS_DIR"
  local stamp out
  stamp=$(date -u '+%Y%m%dT%H%M%SZ')
  out=$RESULTS_DIR/$stamp.md
  report | tee "$out"
  cp "$out" "$RESULTS_DIR/latest.md"
  rm -rf "$RESULTS_DIR/raw" && cp -r "$WORK/raw" "$RESULTS_DIR/raw"
  log "wrote $out and latest.md (raw wrk/oha output in $RESULTS_DIR/raw/)"
  ((ANY_ERRORS == 0)) || exit 3
}

main "$@"
