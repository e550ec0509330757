#!/usr/bin/env bash
# Sealing benchmark: a fresh database with a synthetic city of RESIDENTS (about five
# confirmation records each), four real witness processes, then server/examples/seal_bench.rs:
# sealing against hashing alone, proof size and times, and the sequencer's leaves per second
# with and without sealing, all in one run. Usage:
#   scripts/bench-seal.sh [RESIDENTS=100000] [BATCH=4096] [SECONDS=20]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

RESIDENTS="${1:-100000}"
bench_stack_start seal_bench
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
log "seeding $RESIDENTS residents (behavioral records kept few: this measures confirmation records)"
"$CARGO_TARGET_DIR/release/onecity" seed --residents "$RESIDENTS" --records "$RESIDENTS" >"$DATA/bench-seal-seed.log" 2>&1 ||
  { tail -20 "$DATA/bench-seal-seed.log" >&2; die "seeding failed"; }
"$BENCH_EXAMPLE" "${2:-4096}" "${3:-20}"
