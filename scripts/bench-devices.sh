#!/usr/bin/env bash
# Device ingestion benchmark: a fresh database with RESIDENTS synthetic residents, DEVICES
# devices registered among them, then server/examples/device_bench.rs: signed readings per
# second through the server's ingestion (signature check, counter, insert) against plain
# inserts of the same rows, in one run. Usage:
#   scripts/bench-devices.sh [DEVICES=100000] [PER_REQUEST=5] [WORKERS=8] [RESIDENTS=20000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

RESIDENTS="${4:-20000}"
bench_stack_start device_bench
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
log "seeding $RESIDENTS residents"
"$CARGO_TARGET_DIR/release/onecity" seed --residents "$RESIDENTS" --records "$RESIDENTS" >"$DATA/bench-devices-seed.log" 2>&1 ||
  { tail -20 "$DATA/bench-devices-seed.log" >&2; die "seeding failed"; }
"$BENCH_EXAMPLE" "${1:-100000}" "${2:-5}" "${3:-8}"
