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

use anyhow::{Context as _, bail, ensure};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::mpsc;

use super::generate::{CitySeed, District, GENERATOR_VERSION, Vocabulary};
use super::progress::Progress;
use crate::domain::pseudonym::PseudonymKey;

mod pipeline;
mod plan;

use self::pipeline::*;
pub use self::plan::*;

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
    use time::Date;
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
