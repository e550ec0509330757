# shellcheck shell=bash
# ./dev seed [onecity seed flags]: loads a synthetic city into the database `./dev run` uses
# (.data/pg, port 5433, database `onecity`) with the release build, so a large city loads at
# full speed. Resumable: after an interruption, run the same command again (or plain
# `./dev seed`, or `./dev run`, which continue the city the database holds). Example:
#   ./dev seed --residents 1000000 --records 100000000
# See docs/scale.md ("Loading a city") for time and disk per size.

PG_PORT="${ONECITY_PG_PORT:-5433}"
IDP_PORT="${ONECITY_IDP_PORT:-4000}"

trap cleanup EXIT
trap 'exit 130' INT TERM

apt_install postgresql-15 ca-certificates
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
log "building onecity (release)"
(cd "$ROOT" && cargo build --release -p server --bin onecity)

pg_start "$DATA/pg" "$PG_PORT"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "select 1 from pg_database where datname = 'onecity'" | grep -q 1 ||
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database onecity"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/onecity"
# As in ./dev run: the test residents' accounts belong to the dev provider, and pseudonyms
# are derived with the portal's key.
export ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/keys/pseudonym.key"
"$CARGO_TARGET_DIR/release/onecity" seed "$@"
# Seal every confirmation record the city now holds, with a progress bar and the rate (the
# portal would do it in the background too, a batch at a time).
"$CARGO_TARGET_DIR/release/onecity" records seal
df -h "$DATA/pg" | tail -1 | awk '{ print "[onecity] disk: " $3 " used, " $4 " free on " $6 }' >&2
