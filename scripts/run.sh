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

# Demo devices of resident1, driven by the simulator below so My devices shows live readings.
# Their keys stay in .data/devices; a device already registered under a key is reused.
SIM_DEVICES=()
demo_device() { # NAME KIND BRAND MODEL SERIAL LABEL METRIC
  local key="$DATA/devices/$1.key" pub id
  mkdir -p "$DATA/devices"
  pub="$("$BIN" device keygen --key-file "$key")"
  id="$(psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d onecity -tAc "select device_id from device where public_key = decode('$pub', 'hex')")"
  [ -n "$id" ] || id="$("$BIN" device register --account resident1 --kind "$2" --brand "$3" --model "$4" \
    --serial "$5" --label "$6" --key-file "$key")"
  SIM_DEVICES+=(--device "$id,$key,$7")
  DEMO_DEVICE_ID="$id"
}
demo_device water meter.water Aquarius AQ-200 AQ200-000123 "Kitchen water meter" water.litres
demo_device door lock.door Lockwell "Smart Deadbolt 3" LW3-88412 "Front door" door.open
demo_device air sensor.air Breeze "Air One" BRZ-00417 "Living room air" air.pm25
demo_device leak sensor.leak Drip "LeakSense 2" DRP-20931 "Under the sink" leak
LEAK_ID="$DEMO_DEVICE_ID"
demo_device valve valve.water Flowmatic "ShutOff Pro" FMX-7750 "Main water valve" valve.open
VALVE_ID="$DEMO_DEVICE_ID"
# A rule across the two brands, made once: when the leak sensor reports a leak, close the valve.
if [ -z "$(psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d onecity -tAc \
  "select 1 from device_rule where trigger_device_id = '$LEAK_ID' and action_device_id = '$VALVE_ID'")" ]; then
  "$BIN" device link --account resident1 --trigger "$LEAK_ID" --metric leak --comparison == --threshold 1 \
    --action "$VALVE_ID" --command close --notify >/dev/null
fi
export ONECITY_ANCHOR_INTERVAL_SECS="${ONECITY_ANCHOR_INTERVAL_SECS:-15}"

ONECITY_PROFILE=dev \
  ONECITY_LISTEN="127.0.0.1:$PORTAL_PORT" \
  ONECITY_PUBLIC_URL="http://localhost:$PORTAL_PORT" \
  ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT" \
  LEPTOS_SITE_ROOT="$ROOT/target/site" \
  "$BIN" serve &
PORTAL_PID=$!
STARTED_PIDS+=("$PORTAL_PID")
wait_http "http://127.0.0.1:$PORTAL_PORT/readyz" 120
"$BIN" device simulate --url "http://127.0.0.1:$PORTAL_PORT" "${SIM_DEVICES[@]}" --interval-ms 5000 \
  >"$DATA/simulator.log" 2>&1 &
STARTED_PIDS+=($!)

cat >&2 <<MSG

  onecity is running:  http://localhost:$PORTAL_PORT
  sign in as resident1, resident2, staff1 or admin1 (password: password)
  identity provider:   http://127.0.0.1:$IDP_PORT
  ledger:              http://localhost:$PORTAL_PORT/ledger/checkpoint  (keys: /ledger/keys, status: /ledger/status)
  witnesses:           ${WITNESS_NAMES[*]}
  local chain (anvil): $ONECITY_ANCHOR_RPC_URL  (anchors: /ledger/anchors)
  database:            $DATABASE_URL
  devices:             resident1's water meter, door lock, air sensor, leak sensor and valve send
                       signed readings every 5 s; a rule closes the valve when the sensor reports a leak
                       (log: .data/simulator.log)
  Ctrl-C stops everything.

MSG
wait "$PORTAL_PID"
