//! My City data benchmark, run by `scripts/bench-seed.sh` against each city it loaded (the
//! script starts PostgreSQL and four real witness processes and exports their settings).
//! Usage: `city_bench [SAMPLES=2000]` with `DATABASE_URL` naming a seeded database.
//!
//! 1. Sequences the seeded grants' queued ledger entries in the sequencer's batches and has
//!    the witnesses cosign the result (so the grants are active, as on a live portal).
//! 2. For SAMPLES residents picked at random (seeded), one connection, p50/p99 of each data
//!    query a My City page makes: the resident's grants with their state
//!    (`grants::list`), this month's `transit.trips` and `utilities.readings` (`records::read`,
//!    as the gate and the portal read them), the district's notices and facilities; and of the
//!    four together.
//! 3. Prints the plan of the month query for one resident, to show it is served from the
//!    partition's index.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

/// Integrates every queued entry, batch by batch, then has the witnesses cosign.
async fn sequence(db: &PgPool, settings: std::sync::Arc<server::ledger::LedgerSettings>) -> anyhow::Result<()> {
    let queued: i64 =
        sqlx::query_scalar("select count(*) from ledger_entry where leaf_index is null").fetch_one(db).await?;
    let t = Instant::now();
    let mut seq = server::ledger::sequencer::Sequencer::acquire(db, settings.clone())
        .await?
        .ok_or_else(|| anyhow::anyhow!("another sequencer holds the lease"))?;
    let mut batches = 0;
    while seq.integrate_batch().await?.is_some() {
        batches += 1;
    }
    drop(seq);
    let integrated = t.elapsed().as_secs_f64();
    server::ledger::witness_client::cosign_latest(db, &settings).await;
    println!(
        "ledger: {queued} queued entries integrated in {batches} batches in {integrated:.1} s ({:.0} entries/s), \
         cosigned after {:.1} s",
        queued as f64 / integrated.max(1e-3),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let samples: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let config = server::config::ServeArgs::try_parse_from(["serve", "--profile=dev"])?.resolve()?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(secrecy::ExposeSecret::expose_secret(&config.database_url))
        .await?;
    let settings = std::sync::Arc::new(server::ledger::LedgerSettings::from_config(&config)?);
    sequence(&db, settings).await?;

    let (residents, until): (i64, time::Date) =
        sqlx::query_as("select (select count(*) from resident), until_date from seed_city").fetch_one(&db).await?;
    // "This month" of the generated year: its last calendar month.
    let to = until.with_time(time::Time::MIDNIGHT).assume_utc();
    let from = (to - time::Duration::days(1)).replace_day(1)?.replace_time(time::Time::MIDNIGHT);
    let mut dice = server::seed::generate::CitySeed::new(0xbe7c).dice(0);
    let mut conn = db.acquire().await?;
    let scopes = ["transit.trips".to_owned(), "utilities.readings".to_owned()];
    let mut timings: [Vec<Duration>; 5] = Default::default();
    let (mut records, mut grants) = (0usize, 0usize);
    let started = Instant::now();
    for _ in 0..samples {
        // The first resident at or after a random id (wrapping round to the first of all).
        let (resident, district): (Uuid, String) = sqlx::query_as(
            "(select resident_id, district_id from resident where resident_id >= $1 order by resident_id limit 1)
             union all (select resident_id, district_id from resident order by resident_id limit 1) limit 1",
        )
        .bind(dice.uuid())
        .fetch_one(&mut *conn)
        .await?;
        let page = Instant::now();
        let t = Instant::now();
        grants += server::domain::grants::list(&db, resident).await?.len();
        timings[0].push(t.elapsed());
        let t = Instant::now();
        let data = server::domain::records::read(&mut conn, resident, &scopes, (from, to, 200)).await?;
        records += data
            .values()
            .map(|d| match d {
                server::domain::records::ScopeData::Behavioral { records, .. } => records.len(),
                _ => 0,
            })
            .sum::<usize>();
        timings[1].push(t.elapsed());
        let t = Instant::now();
        let notices: Vec<(String, String, String)> = sqlx::query_as(
            "select notice_id, title_en, title_zh from notice
             where (district_id = $1 or district_id is null) and (expires_at is null or expires_at > now())
             order by published_at desc limit 20",
        )
        .bind(&district)
        .fetch_all(&mut *conn)
        .await?;
        timings[2].push(t.elapsed());
        let t = Instant::now();
        let facilities: Vec<(String, String, f64, f64)> =
            sqlx::query_as("select facility_id, kind, lon, lat from facility where district_id = $1")
                .bind(&district)
                .fetch_all(&mut *conn)
                .await?;
        timings[3].push(t.elapsed());
        timings[4].push(page.elapsed());
        anyhow::ensure!(!notices.is_empty() && !facilities.is_empty(), "district {district} has no places");
    }
    println!(
        "{residents} residents, month {from} .. {to}: {samples} residents sampled in {:.1} s, {:.1} grants and {:.1} \
         records of the month each on average",
        started.elapsed().as_secs_f64(),
        grants as f64 / samples as f64,
        records as f64 / samples as f64
    );
    let names = ["grants with state", "month of trips + readings", "district notices", "district facilities"];
    for (name, t) in names.iter().chain(&["all four (one My City page's data)"]).zip(timings) {
        let (p50, p99) = percentiles(t);
        println!("  {name:<36} p50 {p50:>6.2} ms   p99 {p99:>6.2} ms");
    }

    let (resident,): (Uuid,) =
        sqlx::query_as("select resident_id from resident order by resident_id limit 1 offset $1")
            .bind(residents / 2)
            .fetch_one(&db)
            .await?;
    let plan: Vec<String> = sqlx::query_scalar(
        "explain (analyze, costs off, timing off, summary off)
         select occurred_at, data from behavioral_record
         where resident_id = $1 and scope_key = $2 and occurred_at >= $3 and occurred_at < $4
         order by occurred_at desc limit $5",
    )
    .bind(resident)
    .bind("transit.trips")
    .bind(from)
    .bind(to)
    .bind(201_i64)
    .fetch_all(&db)
    .await?;
    println!("plan of one resident's month of trips:\n    {}", plan.join("\n    "));
    Ok(())
}
