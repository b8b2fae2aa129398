# bench/sections.sh: the memory and callgrind sections, which start Rollgate processes of
# their own (sourced by run.sh). Raw output only; bench/report.py makes the tables.

# A config with `n` ONNX versions of one service, alternating the two bundled iris files,
# weights spread evenly in basis points (the remainder to the first; two models 90/10).
write_memory_conf() {
  local n=$1 file=$WORK/memory-$1.yaml i each first bps sep=""
  each=$((10000 / n))
  first=$((10000 - each * (n - 1)))
  # Two models split 90/10, as the proxy and onnx sections do.
  ((n == 2)) && each=1000 first=9000
  {
    printf 'listen:\n  data: 127.0.0.1:%s\nservices:\n  iris:\n    input_width: 4\n    versions:\n' "$MEM_PORT"
    for ((i = 1; i <= n; i++)); do
      printf '      m%02d:\n        onnx: %s/models/iris-v%d.onnx\n' "$i" "$REPO_ROOT" $(((i - 1) % 2 + 1))
    done
    printf '    route:\n      stable: m01\n      weights: {'
    for ((i = 1; i <= n; i++)); do
      bps=$each
      ((i == 1)) && bps=$first
      printf '%s m%02d: %d.%02d' "$sep" "$i" $((bps / 100)) $((bps % 100))
      sep=,
    done
    echo ' }'
  } >"$file"
  echo "$file"
}

vm_kib() { sed -n "s/^$2:\s*\([0-9]*\).*/\1/p" "/proc/$1/status"; }

# Samples VmRSS every 0.2 s into a file, keeping the maximum, until killed.
rss_sampler() {
  local pid=$1 out=$2 max=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(vm_kib "$pid" VmRSS 2>/dev/null || echo 0)
    ((${v:-0} > max)) && { max=$v; echo "$max" >"$out"; }
    sleep 0.2
  done
}

# raw/memory-N.txt: "idle_kib peak_kib hwm_kib"; raw/memory-N-wrk.txt: the load.
section_memory() {
  [[ $SKIP_ROLLGATE == 1 ]] && { log "memory: skipped (SKIP_ROLLGATE=1)"; return 0; }
  local n pid idle sampler url=http://127.0.0.1:$MEM_PORT/v1/models/iris/predict
  for n in $MEMORY_MODELS; do
    start_rollgate_instance "memory-$n" "$(write_memory_conf "$n")" "$MEM_PORT" "$MEM_ADMIN_PORT"
    pid=$RG_PID
    sleep 2
    idle=$(vm_kib "$pid" VmRSS)
    echo 0 >"$WORK/rss-$n"
    rss_sampler "$pid" "$WORK/rss-$n" &
    sampler=$!
    PIDS+=("$sampler")
    measure_max "$url" "memory-$n" "$pid"
    echo "$idle $(cat "$WORK/rss-$n") $(vm_kib "$pid" VmHWM)" >"$WORK/raw/memory-$n.txt"
    kill "$sampler" 2>/dev/null || true
    stop_pid "$pid"
  done
}

# Instructions per request in user space, counted by valgrind: reproducible on a busy machine
# where timings are not. Runs the fixed load against `url` on the process `pid` under
# callgrind; keeps the total (raw/callgrind-NAME.ir) and the per-function annotation.
callgrind_measure() {
  local name=$1 url=$2 pid=$3 dumpno=${4:-1} dump
  callgrind_control -i on "$pid" >/dev/null
  run_load "$OHA" -n 300 -c "$CG_CONNS" --no-tui -m POST -d "$BODY" \
    -H 'content-type: application/json' "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  # shellcheck disable=SC2046  # the JSON flag is one or two words
  run_load "$OHA" -n "$CG_REQUESTS" -c "$CG_CONNS" --no-tui $(oha_json_flag) -m POST -d "$BODY" \
    -H 'content-type: application/json' "$url" >"$WORK/raw/callgrind-$name-oha.json"
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  # Dumps asked for by callgrind_control are numbered from .1; each holds the counts since
  # the last zeroing.
  dump=$(echo "$WORK"/cg/*.out."$pid.$dumpno")
  [[ -f $dump ]] || die "callgrind $name: no dump $dump"
  sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$dump" | head -1 >"$WORK/raw/callgrind-$name.ir"
  callgrind_annotate --inclusive=no --threshold=100 --auto=no "$dump" >"$WORK/raw/callgrind-$name-annotate.txt" 2>/dev/null || true
  cp "$dump" "$WORK/raw/callgrind-$name.out"
  log "callgrind $name: $(cat "$WORK/raw/callgrind-$name.ir") instructions for $CG_REQUESTS requests"
}

# Each proxy runs alone on one thread (nginx: master_process off, one process; Rollgate:
# --workers 1), in front of the same two upstreams; counters zeroed after a warm-up.
section_callgrind() {
  mkdir -p "$WORK/cg" "$WORK/cg-peer"
  local vg=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no) npid rpid
  sed -e "s/worker_processes auto;/worker_processes 1;\nmaster_process off;/" \
    -e "s/listen 127.0.0.1:$PEER_PORT;/listen 127.0.0.1:$CG_PEER_PORT;/" \
    -e "s#$WORK/peer#$WORK/cg-peer#g" "$WORK/peer.conf" >"$WORK/cg-peer.conf"
  "${vg[@]}" --callgrind-out-file="$WORK/cg/nginx.out.%p" nginx -p "$WORK" -c "$WORK/cg-peer.conf" \
    -e "$WORK/logs/cg-peer-error.log" >"$WORK/logs/cg-nginx.log" 2>&1 &
  npid=$!
  PIDS+=("$npid")
  wait_http "nginx under callgrind" POST "http://127.0.0.1:$CG_PEER_PORT/v1/models/bench/predict" 200 "$npid" 60
  callgrind_measure nginx "http://127.0.0.1:$CG_PEER_PORT/v1/models/bench/predict" "$npid"
  stop_pid "$npid"
  [[ $SKIP_ROLLGATE == 1 ]] && return 0
  sed -e "s/127.0.0.1:$ROLLGATE_PORT/127.0.0.1:$CG_RG_PORT/" "$REPO_ROOT/$ROLLGATE_CONFIG" >"$WORK/cg-rollgate.yaml"
  (cd "$REPO_ROOT" && exec "${vg[@]}" --callgrind-out-file="$WORK/cg/rollgate.out.%p" \
      "$ROLLGATE_BIN" serve --config "$WORK/cg-rollgate.yaml" --workers 1 \
      --data-dir "$WORK/cg-rollgate-data" --admin-listen "127.0.0.1:$CG_RG_ADMIN_PORT") \
    >"$WORK/logs/cg-rollgate.log" 2>&1 &
  rpid=$!
  PIDS+=("$rpid")
  wait_http "Rollgate under callgrind" GET "http://127.0.0.1:$CG_RG_PORT/v2/health/ready" 200 "$rpid" 300
  callgrind_measure rollgate "http://127.0.0.1:$CG_RG_PORT/v1/models/bench/predict" "$rpid"
  callgrind_measure onnx "http://127.0.0.1:$CG_RG_PORT/v1/models/iris/predict" "$rpid" 2
  stop_pid "$rpid"
}

# ---------------------------------------------------------------- replicas
# Three replicas on a throwaway PostgreSQL behind an nginx balancer: proxy throughput through
# the balancer against one replica alone, how fast a route change and a new model version
# reach every replica, and how long the controller is leaderless after kill -9 of its replica.
REPLICA_PORTS=(18031 18033 18035) REPLICA_ADMIN_PORTS=(18032 18034 18036) LB_PORT=18030
REPLICA_PIDS=()

start_replica() {
  local i=$1
  (cd "$REPO_ROOT" && exec "$ROLLGATE_BIN" serve --config "$ROLLGATE_CONFIG" \
      --data-dir "$WORK/replica-$i-data" --listen "127.0.0.1:${REPLICA_PORTS[$i]}" \
      --admin-listen "127.0.0.1:${REPLICA_ADMIN_PORTS[$i]}" --store "$PG_URL" \
      --replica-id "r$i" --lease "${REPLICA_LEASE:-3s}") \
    >"$WORK/logs/replica-$i-stdout.log" 2>"$WORK/logs/replica-$i-stderr.log" &
  REPLICA_PIDS[i]=$!
  PIDS+=("$!")
  wait_http "replica r$i" GET "http://127.0.0.1:${REPLICA_PORTS[$i]}/v2/health/ready" 200 "$!" \
    "$ROLLGATE_READY_TIMEOUT"
}

write_lb_conf() {
  cat >"$WORK/lb.conf" <<CONF
daemon off;
worker_processes auto;
pid $WORK/lb.pid;
events { worker_connections 4096; }
http {
$(nginx_http_common lb)
    upstream replicas {
        server 127.0.0.1:${REPLICA_PORTS[0]} max_fails=0;
        server 127.0.0.1:${REPLICA_PORTS[1]} max_fails=0;
        server 127.0.0.1:${REPLICA_PORTS[2]} max_fails=0;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout non_idempotent;
        }
    }
}
CONF
}

section_replicas() {
  skipped replicas && return 0
  PG_DIR=$WORK/pg
  PG_URL=$(bash "$REPO_ROOT/scripts/postgres.sh" start "$PG_DIR")
  local i admins=() pairs=()
  for i in 0 1 2; do start_replica "$i"; done
  write_lb_conf
  start_nginx lb
  local one=http://127.0.0.1:${REPLICA_PORTS[0]}/v1/models/bench/predict
  local lb=http://127.0.0.1:$LB_PORT/v1/models/bench/predict
  probe "$one"
  probe "$lb"
  measure_max "$one" replicas-one "${REPLICA_PIDS[0]}"
  measure_max "$lb" replicas-lb
  for i in 0 1 2; do
    admins+=("http://127.0.0.1:${REPLICA_ADMIN_PORTS[$i]}")
    pairs+=("r$i=${REPLICA_PIDS[$i]}")
  done
  python3 "$BENCH_DIR/replicas_probe.py" propagation "${REPLICA_CHANGES:-200}" "${admins[@]}" \
    >"$WORK/raw/replicas-propagation.txt"
  python3 "$BENCH_DIR/replicas_probe.py" version "$REPO_ROOT/models/iris-v2.onnx" "${admins[@]}" \
    >"$WORK/raw/replicas-version.txt"
  python3 "$BENCH_DIR/replicas_probe.py" failover "$PG_URL" "${pairs[@]}" \
    >"$WORK/raw/replicas-failover.txt"
  log "replicas: $(wc -l <"$WORK/raw/replicas-propagation.txt") changes timed, failover $(cat "$WORK/raw/replicas-failover.txt") s"
  bash "$REPO_ROOT/scripts/postgres.sh" kill "$PG_DIR" || true
}
