# shellcheck shell=bash
# ./dev run: PostgreSQL, the identity provider and the portal on this machine, with the
# demo city. Ctrl-C stops everything it started.

PG_PORT="${ONECITY_PG_PORT:-5433}"
IDP_PORT="${ONECITY_IDP_PORT:-4000}"
PORTAL_PORT="${ONECITY_PORT:-3000}"

trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_build_tools
log "building the portal (cargo leptos build --split)"
(cd "$ROOT" && cargo leptos build --split)

pg_start "$DATA/pg" "$PG_PORT"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "select 1 from pg_database where datname = 'onecity'" | grep -q 1 ||
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database onecity"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/onecity"

mkdir -p "$DATA"
idp_start "$IDP_PORT" "$DATA/idp" "http://localhost:$PORTAL_PORT"

BIN="$CARGO_TARGET_DIR/debug/onecity"
# The seed creates the demo residents' accounts for this provider and derives their
# pseudonyms with the portal's key, so both must agree with `serve` below.
export ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/keys/pseudonym.key"
"$BIN" seed
ledger_stack_start "$BIN" "$PG_PORT" "$DATA" "${ONECITY_WITNESS_BASE_PORT:-4201}" "${ONECITY_ANVIL_PORT:-8545}"
export ONECITY_ANCHOR_INTERVAL_SECS="${ONECITY_ANCHOR_INTERVAL_SECS:-15}"

ONECITY_PROFILE=dev \
  ONECITY_LISTEN="127.0.0.1:$PORTAL_PORT" \
  ONECITY_PUBLIC_URL="http://localhost:$PORTAL_PORT" \
  ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT" \
  LEPTOS_SITE_ROOT="$ROOT/target/site" \
  "$BIN" serve &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$PORTAL_PORT/readyz" 120

cat >&2 <<MSG

  onecity is running:  http://localhost:$PORTAL_PORT
  sign in as resident1, resident2, staff1 or admin1 (password: password)
  identity provider:   http://127.0.0.1:$IDP_PORT
  ledger:              http://localhost:$PORTAL_PORT/ledger/checkpoint  (keys: /ledger/keys, status: /ledger/status)
  witnesses:           ${WITNESS_NAMES[*]}
  local chain (anvil): $ONECITY_ANCHOR_RPC_URL  (anchors: /ledger/anchors)
  database:            $DATABASE_URL
  Ctrl-C stops everything.

MSG
wait "${STARTED_PIDS[-1]}"
