#!/usr/bin/env bash
# Installs what Rollgate's tests need beyond the Rust toolchain, skipping what is present:
#   - promtool and prometheus (Debian package `prometheus`): the metrics exposition is checked
#     with promtool, and the Prometheus metric source is tested against a real server;
#   - tritonclient[http] (PyPI): an unmodified Triton client is run against the /v2 routes;
#   - schemathesis (PyPI): the control API is checked against its OpenAPI document;
#   - chromium, chromium-driver (Debian): the dashboard is tested in real headless Chromium;
#   - postgresql (Debian): the shared store and the replica tests run on throwaway clusters
#     (scripts/postgres.sh), and psql inspects them;
#   - nginx (Debian): the load balancer in front of the replicas in the replica tests;
#   - kubectl (Debian): renders the Kubernetes manifests offline (scripts/check-kubernetes.sh).
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

pip_install() {
  python3 -c 'import tritonclient.http, numpy, schemathesis' 2>/dev/null && return 0
  echo "installing Python packages for the client tests"
  python3 -m pip install -q -r tests/requirements.txt
}

cd "$(dirname "$0")/.."
apt_install prometheus chromium chromium-driver fonts-liberation postgresql postgresql-client nginx
# kubectl's package may come from a repository other than Debian's; scripts/check-kubernetes.sh
# says clearly when it is missing.
apt_install kubectl || echo "kubectl could not be installed: the Kubernetes check will fail" >&2
pip_install
