#!/usr/bin/env bash
# bench/install.sh: installs what bench/run.sh needs, once, explicitly (run.sh installs nothing).
#   Debian: nginx-light, the nginx echo module (the shadow section's slow candidate), wrk, curl,
#           valgrind (SECTIONS=callgrind), python3-venv (the FastAPI peer);
#   crates.io: oha, into BENCH_CACHE_DIR (default ~/.cache/rollgate-bench), outside the repo;
#   PyPI: the FastAPI peer's packages (bench/peers/requirements.txt) into a virtualenv there.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_DIR=${BENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rollgate-bench}
log() { printf '[bench install] %s\n' "$*" >&2; }

install_apt_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx-light)
  [[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]] || missing+=(libnginx-mod-http-echo)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v valgrind >/dev/null || missing+=(valgrind)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_oha() {
  command -v oha >/dev/null && return 0
  [[ -x $CACHE_DIR/oha/bin/oha ]] && return 0
  log "cargo install oha --locked into $CACHE_DIR/oha (a few minutes)"
  mkdir -p "$CACHE_DIR"
  CARGO_TARGET_DIR=$CACHE_DIR/oha-target cargo install oha --locked --root "$CACHE_DIR/oha"
}

# Reinstalled when bench/peers/requirements.txt changes (a stamp file names its hash).
install_peer_venv() {
  local venv=$CACHE_DIR/peers-venv req=$BENCH_DIR/peers/requirements.txt stamp
  stamp=$(sha256sum "$req" | cut -c1-16)
  [[ -x $venv/bin/python && -f $venv/.req-$stamp ]] && return 0
  log "pip install -r bench/peers/requirements.txt into $venv"
  mkdir -p "$CACHE_DIR"
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r "$req"
  rm -f "$venv"/.req-* && touch "$venv/.req-$stamp"
}

install_apt_tools
install_oha
install_peer_venv
log "done"
