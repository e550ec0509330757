#!/usr/bin/env bash
# My City over HTTP under load. Loads a synthetic city (`onecity seed`), starts the portal
# (release build) on it with the identity provider, four witnesses and a chain node, signs
# resident1 in through the provider's real form (curl and a cookie jar), waits until the
# city's grants are cosigned, then runs wrk against resident1's My City page (reloads: the
# page cache serves them while nothing on the page changed), the same while an agency reads
# through the API (the checkpoint moves, the cards are checked again), the same page rendered
# on every request (a second portal with the cache off), the page's data alone, and, in
# the same run, against a bare axum handler running one indexed query on the same database
# (server/examples/bare_handler.rs). Prints requests/s, latency percentiles and the ratios.
#   scripts/bench-mycity.sh [RESIDENTS=10000] [RECORDS_PER_RESIDENT=100] [SECONDS=60] [CONNECTIONS=64]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

N="${1:-10000}"
PER="${2:-100}"
SECS="${3:-60}"
CONNS="${4:-64}"
PORTAL_PORT=3200
IDP_PORT=4500
BARE_PORT=3300
COLD_PORT=3201
PORTAL="http://localhost:$PORTAL_PORT"

apt_install wrk jq
bench_stack_start bare_handler
BIN="$CARGO_TARGET_DIR/release/onecity"
WORK="$DATA/bench-mycity"
rm -rf "$WORK" && mkdir -p "$WORK"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5435 -U postgres -d bench)

idp_start "$IDP_PORT" "$WORK/idp" "$PORTAL"
export ONECITY_OIDC_ISSUER="http://127.0.0.1:$IDP_PORT"
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
log "seeding $N residents with $PER records each"
"$BIN" seed --residents "$N" --records $((N * PER)) --seed 1 >"$WORK/seed.log" 2>&1

ONECITY_PROFILE=dev ONECITY_LISTEN="127.0.0.1:$PORTAL_PORT" ONECITY_PUBLIC_URL="$PORTAL" \
  LEPTOS_SITE_ROOT="$ROOT/target/site" "$BIN" serve >"$WORK/portal.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$PORTAL_PORT/readyz" 120

log "waiting until the seeded grants are integrated and cosigned"
for _ in $(seq 900); do
  state=$("${PSQL[@]}" -tAc "select (select count(*) from ledger_entry where leaf_index is null)
    || ' ' || (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null)
    || ' ' || (select coalesce(max(tree_size), 0) from ledger_tree)")
  read -r queued cosigned size <<<"$state"
  [ "$queued" = 0 ] && [ "$cosigned" = "$size" ] && [ "$size" != 0 ] && break
  sleep 1
done
[ "$queued" = 0 ] && [ "$cosigned" = "$size" ] || die "the ledger did not settle: $state"
# A bulk load leaves every row unvacuumed and the statistics stale: settle both, as an
# operator would after loading, so that autovacuum does not run inside a measurement.
log "vacuum (analyze) after the load"
"${PSQL[@]}" -c "vacuum (analyze)"

log "signing resident1 in through the provider"
jar="$WORK/cookies.txt"
html=$(curl -sS -c "$jar" -b "$jar" -L "$PORTAL/auth/login")
action=$(grep -o 'action="[^"]*"' <<<"$html" | head -1 | sed -e 's/^action="//' -e 's/"$//' -e 's/&amp;/\&/g')
case "$action" in http*) ;; *) action="http://127.0.0.1:$IDP_PORT$action" ;; esac
curl -sS -c "$jar" -b "$jar" -L -o /dev/null --data-urlencode username=resident1 --data-urlencode password=password "$action"
session=$(awk '$6 == "onecity_session" { print $7 }' "$jar" | tail -1)
[ -n "$session" ] || die "resident1 could not sign in"
COOKIE="Cookie: onecity_session=$session"
curl -sS -H "$COOKIE" "$PORTAL/" >"$WORK/page.html"
grep -q 'data-check="verified"' "$WORK/page.html" || die "My City did not show verified cards (see $WORK/page.html)"

resident=$("${PSQL[@]}" -tAc "select resident_id from resident join account using (account_id) where subject = 'resident1'")
"$BENCH_EXAMPLE" "127.0.0.1:$BARE_PORT" "$resident" >"$WORK/bare.log" 2>&1 &
STARTED_PIDS+=($!)
wait_http "http://127.0.0.1:$BARE_PORT/" 30

load() { wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@"; }
log "wrk: My City page, $CONNS connections, ${SECS}s"
load -H "$COOKIE" "$PORTAL/" | tee "$WORK/wrk-page.txt"
# The same reloads while an agency reads residents' data through the API (about 10 reads/s,
# the health department's vaccination reminders, the service with the most grants in a seeded
# city, each grant read up to its daily limit):
# every read's receipt is a ledger entry, so the cosigned checkpoint moves every few hundred
# milliseconds, and at each new one the kept page's cards are checked again before reuse.
IDP="http://127.0.0.1:$IDP_PORT"
token_endpoint=$(curl -sS "$IDP/.well-known/openid-configuration" | jq -r .token_endpoint)
token=$(curl -sS -u agency-health:agency-health-secret -d grant_type=client_credentials \
  --data-urlencode "scope=agency.read agency.publish" "$token_endpoint" | jq -r .access_token)
AUTH="Authorization: Bearer $token"
service=$(curl -sS -H "$AUTH" "$PORTAL/api/v1/services" |
  jq -r '.[] | select(.slug == "vaccination-reminders") | .service_id')
mapfile -t readable < <(curl -sS -H "$AUTH" "$PORTAL/api/v1/services/$service/grants" |
  jq -r '.[] | select(.state == "active") | "\(.pseudonym) \(.scopes[0])"')
[ "${#readable[@]}" -gt 0 ] || die "no active vaccination-reminders grants to read through"
agency_reads() {
  local end=$((SECONDS + SECS)) i=0
  while [ "$SECONDS" -lt "$end" ]; do
    read -r pseudonym scope <<<"${readable[$((i % ${#readable[@]}))]}"
    code=$(curl -sS -o "$WORK/read.json" -w '%{http_code}' -H "$AUTH" -H 'Content-Type: application/json' \
      -d "{\"pseudonym\": \"$pseudonym\", \"scopes\": [\"$scope\"]}" \
      "$PORTAL/api/v1/services/$service/reads" || true)
    if [ "$code" = 200 ]; then echo 200; else echo "$code $(jq -r '.reason // .error // "?"' "$WORK/read.json" 2>/dev/null)"; fi >>"$WORK/reads.txt"
    i=$((i + 1))
    sleep 0.1
  done
}
cosigned() { "${PSQL[@]}" -tAc "select count(*) from ledger_checkpoint where quorum_at is not null"; }
checkpoints_before=$(cosigned)
agency_reads &
reads_pid=$!
STARTED_PIDS+=("$reads_pid")
log "wrk: My City page while an agency reads, $CONNS connections, ${SECS}s"
load -H "$COOKIE" "$PORTAL/" | tee "$WORK/wrk-moving.txt"
wait "$reads_pid" || true
checkpoints_moved=$(($(cosigned) - checkpoints_before))
reads_ok=$(grep -c '^200$' "$WORK/reads.txt" || true)
reads_all=$(wc -l <"$WORK/reads.txt")
reads_denied=$({ grep -v '^200$' "$WORK/reads.txt" || true; } | sort | uniq -c |
  awk '{ printf "%s%s x %s %s", sep, $1, $2, $3; sep = ", " }')

# The same page rendered on every request: a second portal process with its page cache off,
# on the same database (sessions included, so the same cookie signs in). It is what a first
# view, or a view after anything on the page changed, costs.
ONECITY_PROFILE=dev ONECITY_LISTEN="127.0.0.1:$COLD_PORT" ONECITY_PUBLIC_URL="$PORTAL" ONECITY_PAGE_CACHE_MB=0 \
  LEPTOS_SITE_ROOT="$ROOT/target/site" "$BIN" serve >"$WORK/portal-cold.log" 2>&1 &
cold_pid=$!
STARTED_PIDS+=("$cold_pid")
wait_http "http://127.0.0.1:$COLD_PORT/readyz" 120
curl -sS -H "$COOKIE" "http://127.0.0.1:$COLD_PORT/" >"$WORK/page-cold.html"
grep -q 'data-check="verified"' "$WORK/page-cold.html" || die "the second portal did not sign resident1 in"
log "wrk: My City page rendered every time (page cache off), $CONNS connections, ${SECS}s"
load -H "$COOKIE" "http://127.0.0.1:$COLD_PORT/" | tee "$WORK/wrk-cold.txt"
kill "$cold_pid" && wait "$cold_pid" 2>/dev/null || true
# The page's data alone (the my_city server function, JSON, no rendering): splits the page's
# cost between fetching and rendering.
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
log "wrk: the page's data alone (POST /api/me/city), $CONNS connections, ${SECS}s"
load -s "$WORK/post.lua" -H "$COOKIE" "$PORTAL/api/me/city" | tee "$WORK/wrk-data.txt"
log "wrk: bare axum handler, $CONNS connections, ${SECS}s"
load "http://127.0.0.1:$BARE_PORT/" | tee "$WORK/wrk-bare.txt"

# wrk prints latencies as 812.00us, 12.34ms or 1.02s; milliseconds here.
ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.2f", v }' <<<"$1"; }
figures() {
  local f="$1" rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$f")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$f")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$f")")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$f")
  echo "$rps $p50 $p99 ${non2xx:-0}"
}
read -r page_rps page_p50 page_p99 page_bad <<<"$(figures "$WORK/wrk-page.txt")"
read -r cold_rps cold_p50 cold_p99 cold_bad <<<"$(figures "$WORK/wrk-cold.txt")"
read -r moving_rps moving_p50 moving_p99 moving_bad <<<"$(figures "$WORK/wrk-moving.txt")"
read -r data_rps data_p50 data_p99 data_bad <<<"$(figures "$WORK/wrk-data.txt")"
read -r bare_rps bare_p50 bare_p99 bare_bad <<<"$(figures "$WORK/wrk-bare.txt")"
echo
echo "My City over HTTP, $N residents x $PER records, $CONNS connections, ${SECS}s each:"
printf '%-22s %12s %10s %10s %8s\n' target requests/s "p50 ms" "p99 ms" non-2xx
printf '%-22s %12s %10s %10s %8s\n' "My City page" "$page_rps" "$page_p50" "$page_p99" "$page_bad"
printf '%-22s %12s %10s %10s %8s\n' "  while agencies read" "$moving_rps" "$moving_p50" "$moving_p99" "$moving_bad"
printf '%-22s %12s %10s %10s %8s\n' "  rendered every time" "$cold_rps" "$cold_p50" "$cold_p99" "$cold_bad"
printf '%-22s %12s %10s %10s %8s\n' "its data alone (JSON)" "$data_rps" "$data_p50" "$data_p99" "$data_bad"
printf '%-22s %12s %10s %10s %8s\n' "bare axum + 1 query" "$bare_rps" "$bare_p50" "$bare_p99" "$bare_bad"
awk -v a="$page_rps" -v m="$moving_rps" -v c="$cold_rps" -v b="$bare_rps" \
  'BEGIN { printf "ratio (page / bare requests/s): %.2f; while agencies read: %.2f; rendered every time: %.2f\n", a / b, m / b, c / b }'
echo "while agencies read: $reads_ok of $reads_all reads answered 200${reads_denied:+ (others: $reads_denied)}, $checkpoints_moved new cosigned checkpoints in ${SECS}s"

