#!/usr/bin/env bash
# Sustained-sequencing benchmark: a private PostgreSQL, four witness processes, the real
# sequencer, producers enqueueing as fast as they can. Usage:
#   scripts/bench-ledger.sh [SECONDS=60] [PRODUCERS=2] [RATE entries/s, 0 = unlimited]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$ROOT"
cargo build --release -p server --bin onecity --example ledger_bench
BIN="$CARGO_TARGET_DIR/release/onecity"
rm -rf "$DATA/bench-pg" "$DATA/bench-ledger"
pg_start "$DATA/bench-pg" 5435
psql -q -h 127.0.0.1 -p 5435 -U postgres -c "create database bench"
ledger_stack_start "$BIN" 5435 "$DATA/bench-ledger" 4401 8745
DATABASE_URL="postgres://postgres@127.0.0.1:5435/bench" "$CARGO_TARGET_DIR/release/examples/ledger_bench" "${1:-60}" "${2:-2}" "${3:-0}"
