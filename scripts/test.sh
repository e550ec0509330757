# shellcheck shell=bash
# ./dev test: every test. Formatting, unit and integration tests against a private
# PostgreSQL, the identity provider's own tests, the chain crate for wasm32, browser tests
# in Debian's Chromium (JavaScript on and off), and clippy.

PG_PORT="${ONECITY_TEST_PG_PORT:-5434}"
IDP_PORT="${ONECITY_TEST_IDP_PORT:-4100}"
PORTAL_PORT="${ONECITY_TEST_PORT:-3100}"

trap cleanup EXIT
trap 'exit 130' INT TERM

step() { log "── $* ──"; }

# Keep a copy of everything for the closing summary line.
mkdir -p "$DATA"
TEST_LOG="$DATA/test-output.log"
exec > >(tee "$TEST_LOG") 2>&1

ensure_build_tools
apt_install chromium fonts-noto-cjk
npm_ci "$ROOT/e2e"
cd "$ROOT"

step "formatting"
cargo fmt --all --check

step "PostgreSQL for the tests"
rm -rf "$DATA/test-pg"
PG_FSYNC=off pg_start "$DATA/test-pg" "$PG_PORT"
# #[sqlx::test] creates (and drops) a fresh database per test on this server.
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

step "unit and integration tests (cargo test)"
cargo test --workspace --exclude app
# The app crate's own tests, with the server side compiled in (`app` is excluded above because
# building it with `ssr` and `hydrate` together breaks SSR).
cargo test -p app --features ssr

step "identity provider tests"
node --test "$ROOT/idp/test/"

step "chain crate for WebAssembly"
cargo build -p chain --target wasm32-unknown-unknown

step "browser tests (Playwright, Debian Chromium)"
cargo leptos build --split
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database onecity_e2e"
E2E_DB="postgres://postgres@127.0.0.1:$PG_PORT/onecity_e2e"
mkdir -p "$DATA"
rm -rf "$DATA/test-idp"
idp_start "$IDP_PORT" "$DATA/test-idp" "http://localhost:$PORTAL_PORT"
BIN="$CARGO_TARGET_DIR/debug/onecity"
export ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/test-ledger/keys/pseudonym.key"
rm -rf "$DATA/test-ledger"
DATABASE_URL="$E2E_DB" "$BIN" seed
ledger_stack_start "$BIN" "$PG_PORT" "$DATA/test-ledger" 4301 8645
export ONECITY_ANCHOR_INTERVAL_SECS=2
export ONECITY_SEAL_INTERVAL_SECS=1
DATABASE_URL="$E2E_DB" \
  ONECITY_PROFILE=dev \
  ONECITY_LISTEN="127.0.0.1:$PORTAL_PORT" \
  ONECITY_PUBLIC_URL="http://localhost:$PORTAL_PORT" \
  ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT" \
  LEPTOS_SITE_ROOT="$ROOT/target/site" \
  "$BIN" serve >"$DATA/test-portal.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$PORTAL_PORT/readyz" 120
if ! (cd "$ROOT/e2e" && ONECITY_URL="http://localhost:$PORTAL_PORT" ONECITY_BIN="$BIN" ONECITY_E2E_DB="$E2E_DB" npx playwright test); then
  log "browser tests failed; the portal's last log lines:"
  tail -n 40 "$DATA/test-portal.log" >&2
  exit 1
fi

step "clippy"
cargo clippy --workspace --exclude app --all-targets -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
# The browser side (the proof checks run there): the WebAssembly build, linted too.
cargo clippy -p app --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

# One closing line over all runners: cargo test, node --test, Playwright.
summary() {
  sed 's/\x1b\[[0-9;]*m//g' "$TEST_LOG" | awk '
    /^test result: /        { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    /^# pass /              { p += $3 }
    /^# fail /              { f += $3 }
    /^  [0-9]+ passed \(/   { p += $1 }
    /^  [0-9]+ failed$/     { f += $1 }
    END { printf "tests: %d passed, %d failed\n", p, f }'
}
log "all tests passed"
summary
