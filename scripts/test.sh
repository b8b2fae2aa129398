#!/usr/bin/env bash
# Rollgate's whole test suite: formatting, lints, unit, property and integration tests
# (the integration tests start the real binary and real servers on 127.0.0.1).
# Installs what the tests need first, so it is the only command a fresh clone needs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The Kubernetes base and ha overlay render offline and validate against the API schemas.
scripts/check-kubernetes.sh
# The bench report's statistics (medians, ratios, goals) on fixtures.
python3 -m unittest discover -s bench
# Every fuzz target for a bounded time (FUZZ_SECONDS each; 20 here to keep the suite short).
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" scripts/fuzz.sh
