#!/usr/bin/env bash
# Sustained-sequencing benchmark: a private PostgreSQL, four witness processes, the real
# sequencer, producers enqueueing as fast as they can. Usage:
#   scripts/bench-ledger.sh [SECONDS=60] [PRODUCERS=2] [RATE entries/s, 0 = unlimited]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_stack_start ledger_bench
"$BENCH_EXAMPLE" "${1:-60}" "${2:-2}" "${3:-0}"
