//! Loading the synthetic city in bulk: `COPY` in chunks of residents, one transaction per
//! chunk, resumable.
//!
//! * **Plan.** The city is `(seed, residents, records, until, chunk size)`, stored in
//!   `seed_city` at the first run. A rerun without flags continues that city; a rerun whose
//!   flags differ is refused (a database holds one synthetic city).
//! * **Chunks.** Residents `[k·c, (k+1)·c)` form chunk `k`. A chunk's accounts, residents,
//!   civil and confirmation records, grants with their ledger entries, and behavioral records
//!   are copied in one transaction that also inserts the chunk's `seed_chunk` row. An
//!   interruption (Ctrl-C, a lost connection, a crash) rolls the open chunk back; the next run
//!   skips the chunks that committed.
//! * **Pipeline.** A generator thread formats `COPY` text into 1 MiB buffers while the async
//!   side streams the previous buffer to PostgreSQL, so generating and loading overlap on two
//!   cores.
//! * **Ledger.** Seeded grants are written like any grant: the row and its queued
//!   `grant.issued` (and, when revoked, `grant.revoked`) entry in the same transaction. The
//!   sequencer (the portal's, under its lease) integrates them in batches of its `max_batch`;
//!   the seed never signs anything.

use std::collections::HashSet;
use std::io::Write as _;

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use sqlx::{Connection as _, PgConnection, PgPool};
use time::{Date, Duration, OffsetDateTime};
use tokio::sync::mpsc;

use super::generate::{
    self, CitySeed, District, GENERATOR_VERSION, HISTORY_DAYS, MAX_RECORDS_PER_RESIDENT, OfferedService,
    OfferedVersion, SeedGrant, Small, Vocabulary, copy_bytea, timestamp_text,
};
use super::progress::Progress;
use crate::domain::pseudonym::PseudonymKey;

/// Defaults of `./dev run`: a city a newcomer can click through, loaded in seconds.
pub const DEFAULT_SEED: u64 = 1;
pub const DEFAULT_RESIDENTS: u32 = 1_000;
pub const DEFAULT_RECORDS: u64 = 100_000;
pub const DEFAULT_CHUNK_RESIDENTS: u32 = 1_000;
/// Bytes of COPY text per message to PostgreSQL.
const BUFFER: usize = 1 << 20;
/// Advisory-lock key held while a seed loads ("onecityS").
const SEED_LOCK: i64 = 0x6f6e_6563_6974_7953;

/// Services the synthetic residents never grant. The browser test of the gate
/// (`e2e/tests/gate.api.spec.ts`) expects fare capping to hold exactly `resident1`'s grant.
const NOT_GRANTED: &[&str] = &["fare-capping"];

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, &time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// The synthetic city's flags. Each defaults to the city already in the database, or to the
/// demo size when there is none.
#[derive(Args, Clone, Debug, Default)]
pub struct CityArgs {
    /// Seed number: the same number (with the same sizes and --until) gives the same city
    /// [default: 1].
    #[arg(long = "seed", value_name = "N")]
    pub seed: Option<u64>,
    /// Synthetic residents, besides the identity provider's test accounts; 0 for none
    /// [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=50_000_000))]
    pub residents: Option<u32>,
    /// Behavioral records (trips, receipts, meter readings, service visits) in total over all
    /// synthetic residents [default: 100 per resident].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000_000_000))]
    pub records: Option<u64>,
    /// The generated year of activity ends at the start of this day, UTC (YYYY-MM-DD)
    /// [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub until: Option<Date>,
    /// Residents per chunk: each chunk commits, and resumes, as a whole [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub chunk_residents: Option<u32>,
    /// Load at most this many chunks, then stop (run again to continue).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_chunks: Option<u32>,
}

/// The synthetic city a database holds (or is about to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CityPlan {
    pub seed: u64,
    pub residents: u32,
    pub records: u64,
    pub until: Date,
    pub chunk_residents: u32,
}

impl std::fmt::Display for CityPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--seed {} --residents {} --records {} --until {} --chunk-residents {}",
            self.seed, self.residents, self.records, self.until, self.chunk_residents
        )
    }
}

impl CityPlan {
    /// The city the flags ask for, given the one already stored (if any).
    ///
    /// # Errors
    /// Sizes that do not fit together, or flags that differ from the stored city.
    pub fn resolve(args: &CityArgs, stored: Option<&CityPlan>, today: Date) -> anyhow::Result<Self> {
        let mut plan = Self {
            seed: args.seed.or(stored.map(|s| s.seed)).unwrap_or(DEFAULT_SEED),
            residents: args.residents.or(stored.map(|s| s.residents)).unwrap_or(DEFAULT_RESIDENTS),
            records: 0,
            until: args.until.or(stored.map(|s| s.until)).unwrap_or(today),
            chunk_residents: args
                .chunk_residents
                .or(stored.map(|s| s.chunk_residents))
                .unwrap_or(DEFAULT_CHUNK_RESIDENTS),
        };
        // Without --records, as many records per resident as in the demo city.
        plan.records = args
            .records
            .or(stored.map(|s| s.records))
            .unwrap_or_else(|| u64::from(plan.residents) * (DEFAULT_RECORDS / u64::from(DEFAULT_RESIDENTS)));
        if plan.residents == 0 {
            ensure!(plan.records == 0, "--records {} needs residents to belong to: pass --residents too", plan.records);
        } else {
            let per = plan.records / u64::from(plan.residents);
            ensure!(
                per <= MAX_RECORDS_PER_RESIDENT,
                "--records {} for {} residents is {per} each; at most {MAX_RECORDS_PER_RESIDENT} per resident",
                plan.records,
                plan.residents
            );
        }
        ensure!(
            (Date::from_calendar_date(2000, time::Month::January, 1)?..=today + Duration::days(366))
                .contains(&plan.until),
            "--until {} is out of range: use a day between 2000-01-01 and a year from now",
            plan.until
        );
        if let Some(s) = stored {
            ensure!(
                plan == *s,
                "this database already holds the synthetic city `{s}`, and a database holds one city: \
                 rerun without these flags to continue it, or seed an empty database"
            );
        }
        Ok(plan)
    }

    #[must_use]
    pub fn chunks(&self) -> u32 {
        self.residents.div_ceil(self.chunk_residents)
    }

    fn chunk_range(&self, chunk: u32) -> (u32, u32) {
        let first = chunk * self.chunk_residents;
        (first, (first + self.chunk_residents).min(self.residents))
    }
}

/// What one run loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Chunks loaded by this run, and all chunks of the city.
    pub chunks: u32,
    pub total_chunks: u32,
    pub residents: u64,
    pub records: u64,
    pub confirmations: u64,
    pub grants: u64,
    /// Every row this run copied (all tables).
    pub rows: u64,
    /// Whether the whole city is now in the database.
    pub complete: bool,
}

/// Knobs for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Fail chunk `k` after all its rows are copied, just before its commit (as a crash or a
    /// lost connection there would): the chunk must roll back whole.
    pub fail_before_commit: Option<u32>,
    /// Draw a progress bar (a terminal) or log a line every few seconds (otherwise).
    pub bar: bool,
}

async fn stored_plan(conn: &mut PgConnection) -> anyhow::Result<Option<CityPlan>> {
    let row =
        sqlx::query!("select seed, residents, records, until_date, chunk_residents, generator_version from seed_city")
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        ensure!(
            r.generator_version == GENERATOR_VERSION,
            "this database holds a synthetic city made by generator version {} (this onecity has version \
             {GENERATOR_VERSION}); seed an empty database",
            r.generator_version
        );
        Ok(CityPlan {
            seed: u64::try_from(r.seed)?,
            residents: u32::try_from(r.residents)?,
            records: u64::try_from(r.records)?,
            until: r.until_date,
            chunk_residents: u32::try_from(r.chunk_residents)?,
        })
    })
    .transpose()
}

/// Monthly partitions of `behavioral_record` for every month the city's records (and the
/// demo residents' recent ones) fall in, so nothing lands in the default partition.
async fn ensure_partitions(conn: &mut PgConnection, plan: &CityPlan) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let to = plan.until.max(today);
    let mut month = (plan.until.min(today) - Duration::days(HISTORY_DAYS + 1)).replace_day(1)?;
    while month <= to {
        sqlx::query!("select behavioral_record_partition($1)", month)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot add the partition of behavioral records for {month}"))?;
        month = (month + Duration::days(32)).replace_day(1)?;
    }
    Ok(())
}

async fn resolve_on(conn: &mut PgConnection, args: &CityArgs) -> anyhow::Result<(Option<CityPlan>, CityPlan)> {
    let stored = stored_plan(conn).await?;
    let plan = CityPlan::resolve(args, stored.as_ref(), OffsetDateTime::now_utc().date())?;
    Ok((stored, plan))
}

/// Checks the flags against the city in the database and adds the partitions its records
/// (and the demo residents' records of the last weeks) need, before anything else is
/// written.
///
/// # Errors
/// Conflicting flags (see [`CityPlan::resolve`]), database errors.
pub async fn prepare(db: &PgPool, args: &CityArgs) -> anyhow::Result<CityPlan> {
    let mut conn = db.acquire().await?;
    let (_, plan) = resolve_on(&mut conn, args).await?;
    ensure_partitions(&mut conn, &plan).await?;
    Ok(plan)
}

/// Every published service the synthetic residents may grant, with all its versions.
async fn offered_services(conn: &mut PgConnection) -> anyhow::Result<Vec<OfferedService>> {
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select s.service_id, s.slug, v.version, v.leaf_hash, v.purpose, v.required_scopes, v.optional_scopes
           from service s join service_version v using (service_id)
           where s.status = 'published' and not (s.slug = any($1))
           order by s.agency_id, s.slug, v.version"#,
        &NOT_GRANTED.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<OfferedService> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|s| s.service_id != r.service_id) {
            out.push(OfferedService { service_id: r.service_id, slug: r.slug, versions: Vec::new() });
        }
        if let Some(s) = out.last_mut() {
            s.versions.push(OfferedVersion {
                version: r.version,
                leaf_hash: r.leaf_hash,
                purpose: r.purpose,
                required: r.required_scopes,
                optional: r.optional_scopes,
            });
        }
    }
    Ok(out)
}

/// What the generator thread hands to the loader.
enum Piece {
    /// A chunk's small tables and grants; its behavioral records follow.
    Head(Box<Head>),
    Records(Vec<u8>, u64),
    /// The chunk's behavioral records are complete.
    End,
}

struct Head {
    chunk: u32,
    residents: u32,
    records: u64,
    small: Small,
    grants: Vec<SeedGrant>,
}

struct Generator {
    city: CitySeed,
    plan: CityPlan,
    vocab: Vocabulary,
    districts: Vec<District>,
    services: Vec<OfferedService>,
}

impl Generator {
    /// Generates the chunks in order; stops quietly when the loader has gone away.
    fn run(&self, chunks: &[u32], tx: &mpsc::Sender<Piece>) {
        for &chunk in chunks {
            let (first, end) = self.plan.chunk_range(chunk);
            let mut small = Small::new();
            let mut grants = Vec::new();
            let personas: Vec<_> = (first..end)
                .map(|i| {
                    let p = generate::resident(
                        &self.city,
                        &self.vocab,
                        &self.districts,
                        self.plan.residents,
                        self.plan.records,
                        i,
                        &mut small,
                    );
                    generate::grants(&self.city, &self.vocab, &self.services, &p, &mut grants);
                    p
                })
                .collect();
            let records = personas.iter().map(|p| p.records).sum();
            let head = Head { chunk, residents: end - first, records, small, grants };
            if tx.blocking_send(Piece::Head(Box::new(head))).is_err() {
                return;
            }
            let mut out = Vec::with_capacity(BUFFER + 4096);
            let mut send = |out: &mut Vec<u8>| {
                let full = std::mem::replace(out, Vec::with_capacity(BUFFER + 4096));
                let rows = full.iter().filter(|&&b| b == b'\n').count() as u64;
                tx.blocking_send(Piece::Records(full, rows)).map_err(|_| ())
            };
            for p in &personas {
                if generate::activity(&self.city, &self.vocab, p, &mut out, BUFFER, &mut send).is_err() {
                    return;
                }
            }
            if (!out.is_empty() && send(&mut out).is_err()) || tx.blocking_send(Piece::End).is_err() {
                return;
            }
        }
    }
}

/// Copies `data` (COPY text rows) with `statement`; returns the rows copied.
async fn copy(conn: &mut PgConnection, statement: &str, data: &[u8]) -> anyhow::Result<u64> {
    if data.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await.with_context(|| format!("`{statement}` failed"))
}

fn unix(t: OffsetDateTime) -> anyhow::Result<u64> {
    Ok(u64::try_from(t.unix_timestamp())?)
}

/// The chunk's grants, each with its queued `grant.issued` entry (and `grant.revoked` entry
/// and revocation when the generator revoked it), exactly as `grants::issue` and
/// `grants::revoke` would write them. Returns the rows copied.
async fn write_grants(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    services: &[OfferedService],
    grants: &[SeedGrant],
) -> anyhow::Result<u64> {
    if grants.is_empty() {
        return Ok(0);
    }
    let entries = grants.len() + grants.iter().filter(|g| g.revoked_at.is_some()).count();
    let mut ids: Vec<i64> = sqlx::query_scalar!(
        r#"select nextval(pg_get_serial_sequence('ledger_entry', 'ledger_entry_id')) as "id!"
           from generate_series(1, $1::int)"#,
        i32::try_from(entries)?
    )
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    let mut ids = ids.into_iter();
    let (mut ledger, mut rows, mut revocations) = (Vec::new(), Vec::new(), Vec::new());
    let mut entry = |ledger: &mut Vec<u8>, event: &chain::Event| -> anyhow::Result<i64> {
        let id = ids.next().context("fewer ledger ids than entries")?;
        write!(ledger, "{id}\t{}\t", event.type_name())?;
        copy_bytea(ledger, &event.encode()?);
        ledger.push(b'\n');
        Ok(id)
    };
    for g in grants {
        let service = &services[g.service];
        let OfferedVersion { version, leaf_hash, purpose, .. } = &service.versions[g.version];
        let event = crate::domain::grants::issued_event(
            key,
            g.grant_id,
            g.resident_id,
            service.service_id,
            leaf_hash,
            &g.scopes,
            purpose,
            g.valid_from,
            g.valid_until,
        )?;
        let issued = entry(&mut ledger, &event)?;
        let pseudonym = key.pseudonym(g.resident_id, service.service_id);
        write!(rows, "{}\t{}\t{}\t{version}\t", g.grant_id, g.resident_id, service.service_id)?;
        copy_bytea(&mut rows, &pseudonym.0);
        writeln!(
            rows,
            "\t{{{}}}\t{}\t{}\t{issued}\t{}",
            g.scopes.join(","),
            timestamp_text(g.valid_from),
            timestamp_text(g.valid_until),
            timestamp_text(g.valid_from)
        )?;
        if let Some(at) = g.revoked_at {
            let event = chain::Event::GrantRevoked {
                grant_id: chain::GrantId(*g.grant_id.as_bytes()),
                resident: pseudonym,
                revoked_at: unix(at)?,
            };
            let revoked = entry(&mut ledger, &event)?;
            writeln!(revocations, "{}\t{}\trevoked\t{revoked}", g.grant_id, timestamp_text(at))?;
        }
    }
    let mut n = copy(conn, "copy ledger_entry (ledger_entry_id, kind, body) from stdin", &ledger).await?;
    n += copy(
        conn,
        "copy data_grant (data_grant_id, resident_id, service_id, version, pseudonym, scopes, valid_from, \
         valid_until, issued_entry_id, created_at) from stdin",
        &rows,
    )
    .await?;
    n += copy(
        conn,
        "copy grant_revocation (data_grant_id, revoked_at, reason, ledger_entry_id) from stdin",
        &revocations,
    )
    .await?;
    Ok(n)
}

/// Loads (or continues loading) the synthetic city `args` asks for.
///
/// # Errors
/// Flags that conflict with the city in the database, another seed loading the same
/// database, database errors. Chunks that committed before an error stay loaded.
pub async fn load_city(
    db: &PgPool,
    key: &PseudonymKey,
    districts: Vec<District>,
    args: &CityArgs,
    opts: LoadOptions,
) -> anyhow::Result<Loaded> {
    // A connection of its own: the lock is the session's, and must not go back to the pool.
    let mut conn = db.acquire().await?.detach();
    let locked: bool =
        sqlx::query_scalar!(r#"select pg_try_advisory_lock($1) as "l!""#, SEED_LOCK).fetch_one(&mut conn).await?;
    ensure!(locked, "another `onecity seed` is loading this database; wait for it to finish");
    let result = load_locked(&mut conn, key, districts, args, opts).await;
    // Released at once so a rerun right after an error can start; a connection that broke
    // releases it by closing.
    let unlocked =
        sqlx::query_scalar!(r#"select pg_advisory_unlock($1) as "u!""#, SEED_LOCK).fetch_one(&mut conn).await;
    if unlocked.is_ok() {
        let _ = conn.close().await;
    }
    result
}

async fn load_locked(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    districts: Vec<District>,
    args: &CityArgs,
    opts: LoadOptions,
) -> anyhow::Result<Loaded> {
    let (stored, plan) = resolve_on(conn, args).await?;
    let mut loaded = Loaded { total_chunks: plan.chunks(), ..Loaded::default() };
    if plan.residents == 0 {
        loaded.complete = true;
        return Ok(loaded);
    }
    if stored.is_none() {
        sqlx::query!(
            "insert into seed_city (seed, residents, records, until_date, chunk_residents, generator_version)
             values ($1, $2, $3, $4, $5, $6)",
            i64::try_from(plan.seed)?,
            i32::try_from(plan.residents)?,
            i64::try_from(plan.records)?,
            plan.until,
            i32::try_from(plan.chunk_residents)?,
            GENERATOR_VERSION
        )
        .execute(&mut *conn)
        .await?;
    }
    ensure_partitions(conn, &plan).await?;
    let done: HashSet<i32> =
        sqlx::query_scalar!("select seed_chunk_id from seed_chunk").fetch_all(&mut *conn).await?.into_iter().collect();
    let pending: Vec<u32> = (0..plan.chunks())
        .filter(|c| i32::try_from(*c).is_ok_and(|c| !done.contains(&c)))
        .take(args.max_chunks.map_or(usize::MAX, |m| m as usize))
        .collect();
    if pending.is_empty() {
        sqlx::query!("update seed_city set completed_at = coalesce(completed_at, now())").execute(&mut *conn).await?;
        loaded.complete = true;
        return Ok(loaded);
    }
    tracing::info!(
        city = %plan,
        chunks = pending.len(),
        already_loaded = done.len(),
        "loading the synthetic city"
    );

    let services = offered_services(&mut *conn).await?;
    let generator = Generator {
        city: CitySeed::new(plan.seed),
        plan,
        vocab: Vocabulary::new(&districts, plan.until),
        districts,
        services: services.clone(),
    };
    // Rows to expect: residents' own rows (account, resident, civil record, about five
    // confirmation records, grants with their ledger entries: 9.5 a resident, measured at a
    // million residents) and their behavioral records.
    let estimate: u64 = pending
        .iter()
        .map(|&c| {
            let (first, end) = plan.chunk_range(c);
            let share = |i: u32| plan.records * u64::from(i) / u64::from(plan.residents);
            u64::from(end - first) * 19 / 2 + share(end) - share(first)
        })
        .sum();
    let mut progress = Progress::new(estimate, opts.bar);
    let (tx, mut rx) = mpsc::channel::<Piece>(4);
    let chunks = pending.clone();
    let thread = std::thread::spawn(move || generator.run(&chunks, &tx));

    let result = async {
        for _ in 0..pending.len() {
            let Some(Piece::Head(head)) = rx.recv().await else { bail!("the generator stopped early") };
            let mut tx = conn.begin().await?;
            let mut rows = copy(
                &mut tx,
                "copy account (account_id, issuer, subject, display_name, locale, roles) from stdin",
                &head.small.accounts,
            )
            .await?;
            rows +=
                copy(&mut tx, "copy resident (resident_id, account_id, district_id) from stdin", &head.small.residents)
                    .await?;
            rows += copy(
                &mut tx,
                "copy civil_record (resident_id, birth_date, annual_income_cents) from stdin",
                &head.small.civil,
            )
            .await?;
            rows += copy(
                &mut tx,
                "copy confirmation_record (confirmation_record_id, resident_id, scope_key, data, content_hash, \
                 recorded_at) from stdin",
                &head.small.confirmations,
            )
            .await?;
            rows += write_grants(&mut tx, key, &services, &head.grants).await?;
            progress.add(rows);
            let mut copy_in =
                tx.copy_in_raw("copy behavioral_record (resident_id, scope_key, occurred_at, data) from stdin").await?;
            loop {
                match rx.recv().await {
                    Some(Piece::Records(buf, n)) => {
                        copy_in.send(buf.as_slice()).await?;
                        progress.add(n);
                    }
                    Some(Piece::End) => break,
                    _ => bail!("the generator stopped in the middle of chunk {}", head.chunk),
                }
            }
            let records = copy_in.finish().await.context("copying behavioral records failed")?;
            ensure!(
                records == head.records,
                "chunk {}: {records} records copied, {} generated",
                head.chunk,
                head.records
            );
            if opts.fail_before_commit == Some(head.chunk) {
                bail!("chunk {} failed on purpose before its commit (test)", head.chunk);
            }
            sqlx::query!(
                "insert into seed_chunk (seed_chunk_id, residents, records) values ($1, $2, $3)",
                i32::try_from(head.chunk)?,
                i32::try_from(head.residents)?,
                i64::try_from(records)?
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            loaded.chunks += 1;
            loaded.residents += u64::from(head.residents);
            loaded.records += records;
            loaded.confirmations += head.small.confirmation_count;
            loaded.grants += head.grants.len() as u64;
            loaded.rows += rows + records;
        }
        anyhow::Ok(())
    }
    .await;
    drop(rx);
    let generated = thread.join();
    progress.finish(loaded.rows);
    result?;
    if generated.is_err() {
        bail!("the generator thread panicked");
    }
    let left: i64 =
        sqlx::query_scalar!(r#"select $1::int - count(*) as "n!" from seed_chunk"#, i32::try_from(plan.chunks())?)
            .fetch_one(&mut *conn)
            .await?;
    loaded.complete = left == 0;
    if loaded.complete {
        sqlx::query!("update seed_city set completed_at = coalesce(completed_at, now())").execute(&mut *conn).await?;
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 25);

    #[test]
    fn a_new_city_takes_the_flags_given_and_the_demo_size_for_the_rest() {
        let plan = CityPlan::resolve(&CityArgs::default(), None, TODAY).unwrap();
        assert_eq!(
            plan,
            CityPlan { seed: 1, residents: 1_000, records: 100_000, until: TODAY, chunk_residents: 1_000 }
        );
        let args = CityArgs { residents: Some(1_000_000), ..CityArgs::default() };
        let plan = CityPlan::resolve(&args, None, TODAY).unwrap();
        assert_eq!((plan.residents, plan.records, plan.chunks()), (1_000_000, 100_000_000, 1_000));
        assert_eq!(plan.chunk_range(999), (999_000, 1_000_000));
        let odd = CityPlan { residents: 2_500, ..plan };
        assert_eq!((odd.chunks(), odd.chunk_range(2)), (3, (2_000, 2_500)));
    }

    #[test]
    fn a_stored_city_continues_without_flags_and_refuses_other_flags() {
        let stored =
            CityPlan { seed: 7, residents: 50, records: 500, until: date!(2026 - 10 - 01), chunk_residents: 10 };
        assert_eq!(CityPlan::resolve(&CityArgs::default(), Some(&stored), TODAY).unwrap(), stored);
        let same = CityArgs { seed: Some(7), residents: Some(50), ..CityArgs::default() };
        assert_eq!(CityPlan::resolve(&same, Some(&stored), TODAY).unwrap(), stored);
        let other = CityArgs { records: Some(501), ..CityArgs::default() };
        let err = CityPlan::resolve(&other, Some(&stored), TODAY).unwrap_err().to_string();
        assert!(
            err.contains("already holds the synthetic city `--seed 7 --residents 50 --records 500 --until 2026-10-01"),
            "{err}"
        );
    }

    #[test]
    fn sizes_that_do_not_fit_are_refused_naming_the_flag() {
        let no_one = CityArgs { residents: Some(0), records: Some(3), ..CityArgs::default() };
        assert!(
            CityPlan::resolve(&no_one, None, TODAY).unwrap_err().to_string().contains("--records 3 needs residents")
        );
        let empty = CityArgs { residents: Some(0), ..CityArgs::default() };
        assert_eq!(CityPlan::resolve(&empty, None, TODAY).unwrap().chunks(), 0);
        let busy = CityArgs { residents: Some(2), records: Some(200_002), ..CityArgs::default() };
        assert!(CityPlan::resolve(&busy, None, TODAY).unwrap_err().to_string().contains("at most 100000 per resident"));
        let far = CityArgs { until: Some(date!(2031 - 01 - 01)), ..CityArgs::default() };
        assert!(CityPlan::resolve(&far, None, TODAY).unwrap_err().to_string().contains("--until 2031-01-01"));
    }
}
