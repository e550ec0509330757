#!/usr/bin/env bash
# Seeding benchmark: for each city size, `onecity seed` into a fresh database, then a raw
# `COPY` (psql \copy, one transaction) of exactly the same rows into another fresh database
# made from the same template, in the same run; the ratio of the two rates; disk used; and the
# My City data queries (p50/p99) on the loaded city (server/examples/city_bench.rs). Usage:
#   scripts/bench-seed.sh [RESIDENTS=10000,100000] [RECORDS_PER_RESIDENT=100] [SAMPLES=2000]
# Keeps the databases of the largest city when KEEP=1 (in .data/bench-pg, port 5435).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

SIZES="${1:-10000,100000}"
PER="${2:-100}"
SAMPLES="${3:-2000}"
# A fixed year, so every run generates the same cities.
UNTIL="${ONECITY_BENCH_UNTIL:-2026-11-01}"

bench_stack_start city_bench
BIN="$CARGO_TARGET_DIR/release/onecity"
export ONECITY_PSEUDONYM_KEY_FILE="$DATA/bench-ledger/keys/pseudonym.key"
URL="postgres://postgres@127.0.0.1:5435"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5435 -U postgres)
WORK="$DATA/bench-seed"
rm -rf "$WORK" && mkdir -p "$WORK"
now() { date +%s.%N; }
export NO_COLOR=1

# The template both sides start from: schema, districts, catalogue, places, the test
# residents, partitions for the generated year; no synthetic city.
"${PSQL[@]}" -c "create database city_base"
"$BIN" seed --database-url "$URL/city_base" --residents 0 --until "$UNTIL" >"$WORK/base.log" 2>&1
base_size=$("${PSQL[@]}" -tAc "select pg_database_size('city_base')")

# What the seed copies, table by table, in its column order (synthetic rows only), in the
# seed's order of residents (their subjects), so both sides fill the indexes alike.
TABLES=(
  "account|account_id, issuer, subject, display_name, locale, roles|select account_id, issuer, subject, display_name, locale, roles from account where issuer = 'urn:onecity:synthetic'"
  "resident|resident_id, account_id, district_id|select r.resident_id, r.account_id, r.district_id from resident r join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' order by a.subject"
  "civil_record|resident_id, birth_date, annual_income_cents|select c.resident_id, c.birth_date, c.annual_income_cents from civil_record c join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' order by a.subject"
  "confirmation_record|confirmation_record_id, resident_id, scope_key, data, content_hash, recorded_at|select c.confirmation_record_id, c.resident_id, c.scope_key, c.data, c.content_hash, c.recorded_at from confirmation_record c join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' order by a.subject"
  "ledger_entry|ledger_entry_id, kind, body|select ledger_entry_id, kind, body from ledger_entry where ledger_entry_id in (select g.issued_entry_id from data_grant g join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' union all select v.ledger_entry_id from grant_revocation v join data_grant g using (data_grant_id) join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic')"
  "data_grant|data_grant_id, resident_id, service_id, version, pseudonym, scopes, valid_from, valid_until, issued_entry_id, created_at|select g.data_grant_id, g.resident_id, g.service_id, g.version, g.pseudonym, g.scopes, g.valid_from, g.valid_until, g.issued_entry_id, g.created_at from data_grant g join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' order by a.subject"
  "grant_revocation|data_grant_id, revoked_at, reason, ledger_entry_id|select v.data_grant_id, v.revoked_at, v.reason, v.ledger_entry_id from grant_revocation v join data_grant g using (data_grant_id) join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic'"
  "behavioral_record|resident_id, scope_key, occurred_at, data|select b.resident_id, b.scope_key, b.occurred_at, b.data from behavioral_record b join resident r using (resident_id) join account a using (account_id) where a.issuer = 'urn:onecity:synthetic' order by a.subject"
)

REPORT="$WORK/report.txt"
printf '%-10s %-12s %-12s %-9s %-12s %-9s %-11s %-7s %s\n' residents records rows seed_s seed_rows/s copy_s copy_rows/s ratio "disk (MB, per record B)" >"$REPORT"
IFS=, read -r -a sizes <<<"$SIZES"
largest="${sizes[-1]}"
for n in "${sizes[@]}"; do
  records=$((n * PER))
  db="city_$n"
  log "seeding $n residents, $records records"
  "${PSQL[@]}" -c "create database $db template city_base"
  t0=$(now)
  "$BIN" seed --database-url "$URL/$db" --residents "$n" --records "$records" --seed 1 --until "$UNTIL" \
    --chunk-residents 1000 >"$WORK/seed-$n.log" 2>&1
  t1=$(now)
  # The loader's own figures (the COPY pipeline, without connecting and migrating).
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/seed-$n.log" | grep ' seeded ' | tail -1)
  rows=$(sed -E 's/.*rows=([0-9]+).*/\1/' <<<"$line")
  seed_s=$(sed -E 's/.*seconds="([0-9.]+)".*/\1/' <<<"$line")
  size=$("${PSQL[@]}" -tAc "select pg_database_size('$db')")

  log "My City data queries on the $n-resident city"
  DATABASE_URL="$URL/$db" "$BENCH_EXAMPLE" "$SAMPLES" | tee "$WORK/queries-$n.txt"

  # The same rows, exported (not timed) and copied raw into a twin of the template (timed).
  # The seeded database goes first (unless kept), so the disk holds one city at a time.
  log "raw COPY of the same rows"
  script="$WORK/copy-$n.sql"
  : >"$script"
  exported=0
  for t in "${TABLES[@]}"; do
    IFS='|' read -r table cols query <<<"$t"
    "${PSQL[@]}" -d "$db" -c "\\copy ($query) to '$WORK/$table.tsv'"
    exported=$((exported + $(wc -l <"$WORK/$table.tsv")))
    echo "\\copy $table ($cols) from '$WORK/$table.tsv'" >>"$script"
  done
  [ "$exported" -eq "$rows" ] || die "exported $exported rows, the seed reported $rows"
  if [ "$n" != "$largest" ] || [ "${KEEP:-0}" != 1 ]; then "${PSQL[@]}" -c "drop database $db"; fi
  "${PSQL[@]}" -c "create database raw_$n template city_base"
  t2=$(now)
  "${PSQL[@]}" -d "raw_$n" -1 -f "$script"
  t3=$(now)
  "${PSQL[@]}" -c "drop database raw_$n"
  rm -f "$WORK"/*.tsv

  LC_ALL=C awk -v n="$n" -v rec="$records" -v rows="$rows" -v s="$seed_s" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" \
    -v size="$size" -v base="$base_size" 'BEGIN {
      wall = t1 - t0; c = t3 - t2
      printf "%-10d %-12d %-12d %-9.1f %-12.0f %-9.1f %-11.0f %-7.2f %.0f, %.0f (wall %.1f s)\n",
        n, rec, rows, s, rows / s, c, rows / c, c / s, (size - base) / 1048576, (size - base) / rec, wall }' >>"$REPORT"
done

[ "${KEEP:-0}" = 1 ] || "${PSQL[@]}" -c "drop database city_base"

echo
echo "seeding rate vs raw COPY of the same rows (ratio = seed rows/s over COPY rows/s):"
cat "$REPORT"
for n in "${sizes[@]}"; do
  echo
  echo "My City data queries, $n residents:"
  cat "$WORK/queries-$n.txt"
done
