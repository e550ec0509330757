#!/usr/bin/env bash
# Gate benchmark: a private PostgreSQL, four witness processes, a ledger of ENTRIES entries,
# then the gate's checks alone (p50/p99) and reads per second through the gate against the
# same query with the gate bypassed. Usage:
#   scripts/bench-gate.sh [ENTRIES=1000000] [SECONDS=10] [WORKERS=8,32]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$ROOT"
cargo build --release -p server --bin onecity --example gate_bench
BIN="$CARGO_TARGET_DIR/release/onecity"
rm -rf "$DATA/bench-pg" "$DATA/bench-ledger"
pg_start "$DATA/bench-pg" 5435
psql -q -h 127.0.0.1 -p 5435 -U postgres -c "create database bench"
ledger_stack_start "$BIN" 5435 "$DATA/bench-ledger" 4401 8745
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
DATABASE_URL="postgres://postgres@127.0.0.1:5435/bench" "$CARGO_TARGET_DIR/release/examples/gate_bench" "${1:-1000000}" "${2:-10}" "${3:-8,32}"
