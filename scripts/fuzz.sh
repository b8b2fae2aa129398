#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/) for a bounded time, starting from the committed seed
# corpora in fuzz/corpus/<target>/. Installs cargo-fuzz if it is missing.
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh router
#
# FUZZ_SECONDS: time per target (default 30). FUZZ_SANITIZER: cargo-fuzz's --sanitizer
# (default `none`: the workspace forbids unsafe code, so the fuzzers look for panics and broken
# invariants; `address` also checks the unsafe code of dependencies, at a slower build).
# cargo-fuzz passes nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets a stable toolchain
# accept them. New inputs go to a scratch corpus under the target directory, so the committed
# seeds stay small; a crash fails the script and its input is left in fuzz/artifacts/<target>/
# (reproduce with `cargo fuzz run <target> fuzz/artifacts/<target>/<file>`, then add it as a
# regression test).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=(request_parser plan_config router); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  scratch="$target_dir/corpus/$t"
  mkdir -p "$scratch"
  echo "fuzzing $t for ${seconds}s (sanitizer: $sanitizer)"
  cargo fuzz run "$t" --sanitizer "$sanitizer" --target-dir "$target_dir" \
    "$scratch" "fuzz/corpus/$t" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
done
echo "fuzzing: ${#targets[@]} targets ran ${seconds}s each without a crash"
