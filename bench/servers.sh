# bench/servers.sh: starting and stopping the processes a bench run measures (sourced by
# run.sh, which defines the ports, WORK, BODY and the log/die helpers). Everything listens on
# 127.0.0.1; nginx's prefix, pid, logs and temp files live in the run's WORK directory.

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
    body="echo_sleep $(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000))); echo -n '$UPSTREAM_REPLY';"
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
  if wants proxy || wants shadow || wants callgrind || wants replicas; then
    start_upstream upstream-a "$UPSTREAM_A_PORT"
    start_upstream upstream-b "$UPSTREAM_B_PORT"
  fi
  wants shadow && start_upstream slow "$SLOW_PORT" "$SHADOW_DELAY_MS"
  { wants proxy || wants callgrind; } && start_peer
  wants onnx && start_fastapi
  { wants proxy || wants onnx || wants shadow; } && need_rg=1
  if [[ $SKIP_ROLLGATE != 1 ]] && ((need_rg)); then
    start_rollgate_instance rollgate "$ROLLGATE_CONFIG" "$ROLLGATE_PORT" "$ROLLGATE_ADMIN_PORT"
    SERVER_PID[rollgate]=$RG_PID
    SERVER_PID[onnx]=$RG_PID
  fi
}
