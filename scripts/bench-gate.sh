#!/usr/bin/env bash
# Gate benchmark: a private PostgreSQL, four witness processes, a ledger of ENTRIES entries,
# then the gate's checks alone (p50/p99) and reads per second through the gate against the
# same query with the gate bypassed. Usage:
#   scripts/bench-gate.sh [ENTRIES=1000000] [SECONDS=10] [WORKERS=8,32]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_stack_start gate_bench
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
"$BENCH_EXAMPLE" "${1:-1000000}" "${2:-10}" "${3:-8,32}"
