#!/usr/bin/env bash
# Runs every fuzz target on its committed seed corpus (fuzz/corpus/<target>) for a while:
#   fuzz/run.sh [SECONDS per target, default 20] [target...]
# New inputs go to target/fuzz-corpus/<target>, so the committed corpus stays as made by
#   cargo run -p lagrange-node --example fuzz_corpus -- fuzz/corpus
# Needs cargo-fuzz (cargo install cargo-fuzz); runs on the stable toolchain (no sanitizer).
# FUZZ_SEED fixes libFuzzer's seed; FUZZ_RUNS stops a target after that many
# executions if its time is not up first (the long runs: FUZZ_RUNS=10000000 fuzz/run.sh 3600).
# FUZZ_NO_BUILD=1 runs the targets as last built (`cd fuzz && cargo fuzz build --sanitizer
# none`), so that editing the sources meanwhile does not rebuild them under a long run.
# Exits non-zero on the first crash, leaving the input under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
  mapfile -t TARGETS < <(cd fuzz && cargo fuzz list)
fi
for t in "${TARGETS[@]}"; do
  mkdir -p "target/fuzz-corpus/$t"
  echo "== $t: ${SECS}s"
  log="target/fuzz-corpus/$t.log"
  status=0
  corpora=("target/fuzz-corpus/$t" "fuzz/corpus/$t")
  if [[ -n ${FUZZ_NO_BUILD:-} ]]; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    mkdir -p "fuzz/artifacts/$t"
    run=("fuzz/target/$host/release/$t" -artifact_prefix="fuzz/artifacts/$t/" "${corpora[@]}")
  else
    run=(cargo fuzz run --sanitizer none "$t" "${corpora[@]}" --)
  fi
  "${run[@]}" \
    -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=1048576 -print_final_stats=1 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} \
    >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|#[0-9]+ +DONE +cov" "$log" || true
  if ((status != 0)); then
    grep -E "ERROR|panicked|SUMMARY|Test unit written" "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz target $t failed (log: $log)" >&2
    exit 1
  fi
done
