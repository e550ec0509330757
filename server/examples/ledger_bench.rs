//! Sustained-sequencing benchmark (run by `scripts/bench-ledger.sh [SECONDS] [PRODUCERS]
//! [RATE]`, which starts PostgreSQL
//! and four real witness processes and exports their settings).
//!
//! 1. Baseline: the same entry rows inserted with plain batched INSERTs into a scratch table,
//!    no ledger: rows per second.
//! 2. Ledger: producers enqueue entries (1,000 per transaction) as fast as they can for the
//!    given time while the real sequencer integrates and the real witnesses cosign (quorum 3
//!    of 4). Reported: integrated entries per second, and the latency from an entry's commit
//!    to the first quorum checkpoint that includes it (p50, p99), computed in SQL afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chain::leaf::{Event, GrantId, Pseudonym};
use sqlx::PgPool;

const PER_TX: usize = 1_000;

fn event(i: u64) -> Event {
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&i.to_be_bytes());
    Event::GrantIssued {
        grant_id: GrantId(g),
        resident: Pseudonym([(i % 251) as u8; 32]),
        service_version_hash: chain::Hash([7; 32]),
        scopes: vec!["transit.trips".into(), "utilities.readings".into()],
        purpose: "Cap monthly fares using the resident's trips".into(),
        valid_from: 1_760_000_000,
        valid_until: 1_790_000_000 + i % 1000,
    }
}

/// Enqueues `PER_TX` entries per transaction until stopped, paced to `rate` entries per
/// second (0 = as fast as possible).
async fn produce(db: PgPool, start: u64, stop: Arc<AtomicBool>, step: u64, rate: f64) -> anyhow::Result<u64> {
    let mut n = 0u64;
    let mut next = start;
    let began = tokio::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if rate > 0.0 {
            tokio::time::sleep_until(began + Duration::from_secs_f64(n as f64 / rate)).await;
        }
        let mut tx = db.begin().await?;
        let bodies: Vec<Vec<u8>> = (0..PER_TX as u64).map(|k| event(next + k).encode().unwrap()).collect();
        let kinds = vec!["grant.issued"; PER_TX];
        // The same statement `ledger::enqueue` runs, batched: one round trip per transaction.
        sqlx::query("insert into ledger_entry (kind, body) select * from unnest($1::text[], $2::bytea[])")
            .bind(&kinds)
            .bind(&bodies)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        n += PER_TX as u64;
        next += step;
    }
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let producers: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    // Offered load in entries/s for the ledger run (0 = unlimited: measures capacity).
    let rate: f64 = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let args = server::config::ServeArgs::try_parse_from(["serve", "--profile=dev"])?;
    let config = args.resolve()?;
    let db = server::db::connect_and_migrate(&config).await?;
    let settings = Arc::new(server::ledger::LedgerSettings::from_config(&config)?);
    println!("witnesses: {}, quorum {}", settings.witnesses.len(), settings.quorum());

    // 1. Baseline: plain batched INSERT of the same rows, same batch size, same producers.
    sqlx::query("create table if not exists bench_plain (id bigint generated always as identity primary key, kind text not null, body bytea not null, enqueued_at timestamptz not null default now())")
        .execute(&db)
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let base_secs = seconds.min(20);
    let started = Instant::now();
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                let mut next = p * 1_000_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let bodies: Vec<Vec<u8>> = (0..PER_TX as u64).map(|k| event(next + k).encode().unwrap()).collect();
                    let kinds = vec!["grant.issued"; PER_TX];
                    sqlx::query("insert into bench_plain (kind, body) select * from unnest($1::text[], $2::bytea[])")
                        .bind(&kinds)
                        .bind(&bodies)
                        .execute(&db)
                        .await
                        .unwrap();
                    n += PER_TX as u64;
                    next += PER_TX as u64;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(base_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut plain = 0;
    for t in tasks {
        plain += t.await?;
    }
    let plain_rate = plain as f64 / started.elapsed().as_secs_f64();
    println!(
        "baseline plain batched INSERT: {plain} rows in {:.1}s = {plain_rate:.0} rows/s",
        started.elapsed().as_secs_f64()
    );

    // 2. The ledger: sequencer + witnesses while producers enqueue.
    let size_before: i64 =
        sqlx::query_scalar("select coalesce((select tree_size from ledger_tree), 0)").fetch_one(&db).await?;
    let sequencer = tokio::spawn(server::ledger::sequencer::run(db.clone(), settings.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            tokio::spawn(produce(db.clone(), p * 1_000_000_000, stop.clone(), PER_TX as u64, rate / producers as f64))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let size_at_stop: i64 = sqlx::query_scalar("select tree_size from ledger_tree").fetch_one(&db).await?;
    let window = started.elapsed().as_secs_f64();
    let mut produced = 0;
    for t in tasks {
        produced += t.await??;
    }
    let produce_secs = started.elapsed().as_secs_f64();
    // Let the sequencer and witnesses drain what was committed (bounded wait).
    let drain = Instant::now();
    loop {
        let pending: i64 = sqlx::query_scalar(
            "select count(*) from ledger_entry e where e.leaf_index is null
                or not exists (select 1 from ledger_checkpoint c where c.quorum_at is not null and c.tree_size > e.leaf_index)",
        )
        .fetch_one(&db)
        .await?;
        if pending == 0 || drain.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sequencer.abort();
    let total_secs = started.elapsed().as_secs_f64();
    let size_after: i64 = sqlx::query_scalar("select tree_size from ledger_tree").fetch_one(&db).await?;
    let integrated = size_after - size_before;
    let (p50, p99, max, checkpoints): (f64, f64, f64, i64) = sqlx::query_as(
        r#"
        with lat as (
            select extract(epoch from (
                (select min(c.quorum_at) from ledger_checkpoint c where c.quorum_at is not null and c.tree_size > e.leaf_index)
                - e.enqueued_at))::float8 as s
            from ledger_entry e
            where e.kind = 'grant.issued' and e.leaf_index >= $1
        )
        select percentile_cont(0.5) within group (order by s), percentile_cont(0.99) within group (order by s), max(s),
               (select count(*) from ledger_checkpoint where tree_size > $1)
        from lat
        "#,
    )
    .bind(size_before)
    .fetch_one(&db)
    .await?;
    let rate = produced as f64 / produce_secs;
    println!(
        "ledger: {produced} entries committed in {produce_secs:.1}s = {rate:.0} entries/s ({:.2}x the plain INSERT rate)",
        rate / plain_rate
    );
    println!(
        "ledger: {integrated} leaves integrated (entries + status.root) by {total_secs:.1}s, {checkpoints} checkpoints"
    );
    println!(
        "sequencer throughput while producing: {:.0} leaves/s over {window:.1}s (offered load: {})",
        (size_at_stop - size_before) as f64 / window,
        if rate > 0.0 { format!("{rate:.0}/s") } else { "unlimited".into() }
    );
    println!("commit -> quorum checkpoint latency: p50 {:.3}s, p99 {:.3}s, max {:.3}s", p50, p99, max);
    Ok(())
}
