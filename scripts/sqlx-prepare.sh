#!/usr/bin/env bash
# Regenerates `.sqlx/`, the query metadata that lets every build check the `query!` macros
# without a database (SQLX_OFFLINE=true in lib.sh). Run it after adding or changing a query or
# a migration: it starts a private PostgreSQL (port 5436), applies the migrations, and re-expands
# every query macro of the workspace against it (what `cargo sqlx prepare` does, without having
# to install sqlx-cli). Stale files go: the folder is rebuilt from scratch.
#
#   scripts/sqlx-prepare.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT

PORT="${ONECITY_PREPARE_PG_PORT:-5436}"
cd "$ROOT"
rm -rf "$DATA/prepare-pg"
PG_FSYNC=off pg_start "$DATA/prepare-pg" "$PORT"
psql -q -h 127.0.0.1 -p "$PORT" -U postgres -c "create database prepare"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/prepare"
for migration in migrations/*.sql; do
  psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d prepare -f "$migration" >/dev/null
done

rm -rf .sqlx
mkdir .sqlx
# The macros are expanded again only in crates cargo rebuilds: mark their sources changed.
find server app -name '*.rs' -exec touch {} +
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$ROOT/.sqlx" cargo check --workspace --exclude app --all-targets
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$ROOT/.sqlx" cargo check -p app --features ssr --all-targets
log "$(find .sqlx -name 'query-*.json' | wc -l) queries in .sqlx/"
