# shellcheck shell=bash
# Helpers shared by ./dev run and ./dev test: install what is missing, start and stop the
# embedded parts (PostgreSQL, the identity provider), and clean up only what we started.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${ONECITY_DATA:-$ROOT/.data}"
# Build output outside the clone, reused by later runs of the same clone (CI reuses its own).
# One folder per clone path: cargo treats a workspace member as fresh when its files' mtimes
# are older than the build, so a target folder shared by two clones can run a binary built in
# the other clone, with that clone's paths compiled in (env!("CARGO_MANIFEST_DIR")).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onecity/target-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)}"
# Queries are checked against the committed .sqlx/ data: no database needed to build.
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
export PATH="$HOME/.cargo/bin:$PATH"

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130

STARTED_PIDS=()
PG_DIRS=()
# Folders removed on exit, after the servers above have stopped.
REMOVE_DIRS=()

log() { printf '\033[1m[onecity]\033[0m %s\n' "$*" >&2; }
die() { printf '[onecity] error: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local pid dir
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  for dir in "${PG_DIRS[@]:-}"; do
    [ -n "$dir" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
  done
  for dir in "${REMOVE_DIRS[@]:-}"; do
    if [ -n "$dir" ]; then rm -rf "$dir"; fi
  done
  # An EXIT trap under `set -e` passes a failing last command on as the script's status.
  return 0
}

apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    # An install interrupted earlier leaves packages unpacked but unconfigured, and apt then
    # refuses every install until they are configured.
    DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

# Everything the build needs, installed only when missing.
# ensure_disk_space GIB: a build with a full disk fails half-way with an LLVM I/O error, so
# make room first. Build folders of other clones (target-*, keyed by clone path) and the
# state benchmarks leave behind (.data/bench-*) are the large, regenerable things here; they
# go, oldest first, only while free space is below GIB. Nothing outside them is touched.
ensure_disk_space() {
  local want_kib=$(( $1 * 1024 * 1024 )) dir
  mkdir -p "$HOME/.cache/onecity"
  free_kib() { df -Pk "$HOME/.cache/onecity" | awk 'NR == 2 { print $4 }'; }
  [ "$(free_kib)" -ge "$want_kib" ] && return 0
  log "less than $1 GiB free: removing stale build folders and benchmark state"
  for dir in $(ls -1dtr "$HOME"/.cache/onecity/target-* "$DATA"/bench-* 2>/dev/null); do
    [ "$dir" = "$CARGO_TARGET_DIR" ] && continue
    case "$dir" in "$DATA"/bench-pg) runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1 && continue ;; esac
    log "  removing $dir ($(du -sh "$dir" 2>/dev/null | cut -f1))"
    rm -rf "$dir"
    [ "$(free_kib)" -ge "$want_kib" ] && return 0
  done
  [ "$(free_kib)" -ge "$want_kib" ] || log "warning: still less than $1 GiB free on $(df -P "$HOME/.cache/onecity" | awk 'NR == 2 { print $6 }')"
}

ensure_build_tools() {
  ensure_disk_space "${ONECITY_MIN_FREE_GIB:-12}"
  apt_install postgresql-15 ca-certificates curl
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
  command -v node >/dev/null || apt_install nodejs npm
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: its lock file names a crate version that is not in the registry.
    cargo install wasm-bindgen-cli@"$WASM_BINDGEN_VERSION"
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 30 minutes on 2 cores, once)"
    cargo install --locked cargo-leptos@"$CARGO_LEPTOS_VERSION"
  fi
  npm_ci "$ROOT/idp"
  npm_ci "$ROOT/tools"
}

npm_ci() {
  local dir="$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing npm packages in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# pg_start DIR PORT: a private cluster from Debian's binaries, owned by the postgres user
# (initdb refuses to run as root), listening on 127.0.0.1 and a socket inside DIR.
pg_start() {
  local dir port="$2"
  dir="$(realpath -m "$1")"
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating PostgreSQL cluster in ${dir#"$ROOT"/}"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    die "a PostgreSQL server is already running on ${dir#"$ROOT"/} (another ./dev?); stop it first"
  fi
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${PG_FSYNC:-on}" start >/dev/null
  PG_DIRS+=("$dir")
}

# wait_http URL SECONDS: until the URL answers 2xx.
wait_http() {
  local url="$1" secs="${2:-60}" i
  for ((i = 0; i < secs * 10; i++)); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$url did not come up within ${secs}s"
}

# idp_start PORT DATA_DIR [PORTAL_URL]: the development OpenID provider, with the portal at
# PORTAL_URL as its sign-in client and PORTAL_URL/api/v1 as the audience of agency tokens.
idp_start() {
  local port="$1" data="$2" portal="${3:-http://localhost:3000}"
  IDP_PORT="$port" IDP_DATA_DIR="$data" \
    IDP_REDIRECT_URIS="$portal/auth/callback" \
    IDP_POST_LOGOUT_REDIRECT_URIS="$portal/" \
    IDP_API_AUDIENCE="$portal/api/v1" \
    node "$ROOT/idp/server.mjs" >"$data.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_http "http://127.0.0.1:$port/.well-known/openid-configuration" 30
}

# The consortium: four witnesses named after consortium members.
WITNESS_NAMES=(
  witness.databureau.onecity.example
  witness.court.onecity.example
  witness.notary.onecity.example
  witness.audit.onecity.example
)
LEDGER_ORIGIN="${ONECITY_LEDGER_ORIGIN:-ledger.onecity.example}"

# bench_stack_start EXAMPLE: builds the release binary and the benchmark example, starts a
# fresh PostgreSQL (port 5435) with a `bench` database and the ledger stack, and sets
# BENCH_EXAMPLE to the example's path and DATABASE_URL. Refuses to wipe the state of a
# benchmark that is still running; removes its state on exit unless KEEP=1.
bench_stack_start() {
  local example="$1"
  cd "$ROOT"
  if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DATA/bench-pg" status >/dev/null 2>&1; then
    die "another benchmark is running on .data/bench-pg; wait for it or stop it first"
  fi
  cargo build --release -p server --bin onecity --example "$example"
  rm -rf "$DATA/bench-pg" "$DATA/bench-ledger"
  pg_start "$DATA/bench-pg" 5435
  psql -q -h 127.0.0.1 -p 5435 -U postgres -c "create database bench"
  ledger_stack_start "$CARGO_TARGET_DIR/release/onecity" 5435 "$DATA/bench-ledger" 4401 8745
  BENCH_EXAMPLE="$CARGO_TARGET_DIR/release/examples/$example"
  export DATABASE_URL="postgres://postgres@127.0.0.1:5435/bench"
  # A city of a million residents takes several GiB: gone when the run ends, unless KEEP=1.
  [ "${KEEP:-0}" = 1 ] || REMOVE_DIRS+=("$DATA/bench-pg" "$DATA/bench-ledger")
}

# ledger_stack_start BIN PG_PORT STATE_DIR WITNESS_BASE_PORT ANVIL_PORT
# Starts the four witnesses (each with its own key and its own database) and a local chain
# node, and exports the portal's ledger settings (log key, witnesses, anchor node).
ledger_stack_start() {
  local bin="$1" pg_port="$2" state="$3" wbase="$4" anvil_port="$5" i name port db vkey log_vkey
  mkdir -p "$state/keys"
  export ONECITY_LEDGER_ORIGIN="$LEDGER_ORIGIN"
  export ONECITY_LEDGER_KEY_FILE="$state/keys/log.key"
  log_vkey="$("$bin" ledger-key --key-file "$ONECITY_LEDGER_KEY_FILE" --origin "$LEDGER_ORIGIN")"
  ONECITY_WITNESSES=""
  for i in "${!WITNESS_NAMES[@]}"; do
    name="${WITNESS_NAMES[$i]}"
    port=$((wbase + i))
    db="witness_${i}"
    psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -tc "select 1 from pg_database where datname = '$db'" | grep -q 1 ||
      psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "create database $db" >/dev/null
    vkey="$("$bin" witness keygen --name "$name" --key-file "$state/keys/witness-$i.key")"
    "$bin" witness serve --name "$name" --key-file "$state/keys/witness-$i.key" \
      --database-url "postgres://postgres@127.0.0.1:$pg_port/$db" \
      --listen "127.0.0.1:$port" --log-vkey "$log_vkey" >"$state/witness-$i.log" 2>&1 &
    STARTED_PIDS+=($!)
    ONECITY_WITNESSES+="http://127.0.0.1:$port,$vkey;"
  done
  export ONECITY_WITNESSES="${ONECITY_WITNESSES%;}"
  export ONECITY_WITNESS_QUORUM=3
  "$ROOT/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" --host 127.0.0.1 --port "$anvil_port" \
    --state "$state/anvil-state.json" --silent >"$state/anvil.log" 2>&1 &
  STARTED_PIDS+=($!)
  export ONECITY_ANCHOR_RPC_URL="http://127.0.0.1:$anvil_port"
  for i in "${!WITNESS_NAMES[@]}"; do wait_http "http://127.0.0.1:$((wbase + i))/healthz" 30; done
}
