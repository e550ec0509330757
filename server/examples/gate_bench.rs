//! Gate benchmark, run by `scripts/bench-gate.sh [ENTRIES] [SECONDS] [WORKERS,...]`, which
//! starts PostgreSQL and four real witness processes and exports their settings.
//!
//! 1. Builds a ledger of at least ENTRIES entries (default 1,000,000: one in ten a grant, the
//!    rest receipts, as a city's log would be), with 1,000 demo residents who each granted an
//!    ongoing trip-planning service their transit trips (200 trips each), all cosigned.
//! 2. Gate check alone (`Gate::check`: grant row, leaf, inclusion and status-map proofs against
//!    the newest quorum checkpoint, window and scopes; no receipt, no data), one connection,
//!    p50/p99: first touch of each grant (proof paths fetched) and warm (paths cached).
//! 3. Reads per second for each WORKERS count (default 8 and 32 concurrent readers) and two
//!    payloads (the newest 30 and 200 trips): the full gate (`Gate::read`: checks, data query,
//!    receipt row + ledger entry committed) against the same data query with the gate bypassed
//!    (`records::read` on a pooled connection), alternating twice, SECONDS each, with the real
//!    sequencer and witness rounds running throughout, as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chain::leaf::{Event, GrantId, Pseudonym};
use server::domain::gate::{Gate, ReadRequest, Reader};
use server::domain::records::Range;
use sqlx::PgPool;
use uuid::Uuid;

const RESIDENTS: usize = 1_000;
const BATCH: u64 = 20_000;

fn filler(i: u64) -> Event {
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&i.to_be_bytes());
    if i.is_multiple_of(10) {
        Event::GrantIssued {
            grant_id: GrantId(g),
            resident: Pseudonym([(i % 251) as u8; 32]),
            service_version_hash: chain::Hash([7; 32]),
            scopes: vec!["transit.trips".into()],
            purpose: "Cap monthly fares using the resident's trips".into(),
            valid_from: 1_760_000_000,
            valid_until: 1_790_000_000 + i % 1000,
        }
    } else {
        Event::AccessReceipt {
            grant_id: GrantId(g),
            reader: "transit-authority/client/agency-transit".into(),
            scopes: vec!["transit.trips".into()],
            purpose: "Cap monthly fares using the resident's trips".into(),
            time: 1_764_000_000 + i,
            verified_at: Some(chain::leaf::CheckpointRef { size: 1 + i, root: chain::Hash([8; 32]) }),
        }
    }
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

async fn residents_with_grants(
    db: &PgPool,
    key: &server::domain::pseudonym::PseudonymKey,
    service: Uuid,
) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "with a as (insert into account (issuer, subject, display_name)
                    select 'bench', 'bench-' || n, 'Resident ' || n from generate_series(1, $1) n returning account_id)
         insert into resident (account_id, district_id) select account_id, 'harbor' from a returning resident_id",
    )
    .bind(RESIDENTS as i32)
    .fetch_all(db)
    .await?;
    sqlx::query(
        "insert into behavioral_record (resident_id, scope_key, occurred_at, data)
         select r, 'transit.trips', now() - make_interval(hours => 20 * d),
                jsonb_build_object('from', 'Harbor', 'to', 'Museum', 'fare_cents', 300 + d, 'line', 'M2')
         from unnest($1::uuid[]) r, generate_series(1, 200) d",
    )
    .bind(&ids)
    .execute(db)
    .await?;
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    for r in &ids {
        server::domain::grants::issue(db, key, *r, service, None, &["transit.trips".to_owned()], until).await?;
    }
    Ok(ids)
}

async fn fill_ledger(db: &PgPool, entries: u64) -> anyhow::Result<()> {
    let mut next = 0;
    while next < entries {
        let n = BATCH.min(entries - next);
        let bodies: Vec<Vec<u8>> = (next..next + n).map(|i| filler(i).encode().unwrap()).collect();
        let kinds: Vec<&str> = (next..next + n).map(|i| filler(i).type_name()).collect();
        sqlx::query("insert into ledger_entry (kind, body) select * from unnest($1::text[], $2::bytea[])")
            .bind(&kinds)
            .bind(&bodies)
            .execute(db)
            .await?;
        next += n;
    }
    Ok(())
}

/// Runs `op` on `workers` tasks for `secs`; returns completed operations per second.
async fn throughput<F, Fut>(workers: usize, secs: u64, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (op, stop, done) = (op.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    op(i).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    i += workers;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, d: u64| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (entries, seconds) = (arg(1, 1_000_000), arg(2, 10));
    let worker_counts: Vec<usize> = std::env::args()
        .nth(3)
        .unwrap_or_else(|| "8,32".into())
        .split(',')
        .map(|w| w.trim().parse())
        .collect::<Result<_, _>>()?;
    let workers = worker_counts.iter().copied().max().unwrap_or(8);
    let config = server::config::ServeArgs::try_parse_from(["serve", "--profile=dev"])?.resolve()?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(workers as u32 + 6)
        .connect(secrecy::ExposeSecret::expose_secret(&config.database_url))
        .await?;
    server::MIGRATOR.run(&db).await?;
    let settings = Arc::new(server::ledger::LedgerSettings::from_config(&config)?);
    let key = Arc::new(server::domain::pseudonym::PseudonymKey::load_or_create(&config.pseudonym_key_file)?);
    let gate = Arc::new(Gate::new(&db, settings.clone(), key.clone()));
    println!("witnesses: {}, quorum {}", settings.witnesses.len(), settings.quorum());

    // 1. The city and its ledger.
    let t = Instant::now();
    server::seed::seed_districts(&db).await?;
    server::seed::seed_services(&db).await?;
    let service = server::domain::services::create_service(&db, "transit-authority", "trip-planner").await?;
    let version = server::domain::services::NewVersion {
        name_en: "Trip planner".into(),
        name_zh: "出行规划".into(),
        description_en: String::new(),
        description_zh: String::new(),
        category: "transport".into(),
        purpose: "Suggest better routes from your recent trips".into(),
        required_scopes: vec!["transit.trips".into()],
        optional_scopes: vec![],
        retention_days: 30,
        districts: vec![],
        access_mode: server::domain::services::AccessMode::Ongoing,
        history_days: 0,
    };
    server::domain::services::publish_version(&db, service, &version).await?;
    let residents = residents_with_grants(&db, &key, service).await?;
    fill_ledger(&db, entries).await?;
    let mut seq = server::ledger::sequencer::Sequencer::acquire(&db, settings.clone())
        .await?
        .ok_or_else(|| anyhow::anyhow!("another sequencer holds the lease"))?;
    while seq.integrate_batch().await?.is_some() {}
    drop(seq);
    server::ledger::witness_client::cosign_latest(&db, &settings).await;
    let (size, quorum): (i64, i64) = sqlx::query_as(
        "select tree_size, (select max(tree_size) from ledger_checkpoint where quorum_at is not null) from ledger_tree",
    )
    .fetch_one(&db)
    .await?;
    println!(
        "ledger: {size} entries, newest quorum checkpoint {quorum}; {RESIDENTS} residents with grants; built in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    anyhow::ensure!(quorum == size, "the witnesses did not cosign the whole ledger");

    let reader = Reader { agency_id: "transit-authority".into(), id: "transit-authority/client/bench".into() };
    let request = |r: Uuid| ReadRequest {
        service_id: service,
        pseudonym: key.pseudonym(r, service),
        scopes: vec!["transit.trips".into()],
        range: Range { limit: Some(30), ..Range::default() },
    };

    // 2. The checks alone, one connection: first touch of every grant, then warm.
    let mut conn = db.acquire().await?;
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..6 {
        for r in &residents {
            let t = Instant::now();
            gate.check(&mut conn, &reader, &request(*r)).await?;
            if round == 0 { &mut cold } else { &mut warm }.push(t.elapsed());
        }
    }
    drop(conn);
    let ((c50, c99), (w50, w99)) = (percentiles(cold), percentiles(warm));
    println!("gate check alone, first touch of a grant ({RESIDENTS}): p50 {c50:.0} µs, p99 {c99:.0} µs");
    println!("gate check alone, warm ({} checks): p50 {w50:.0} µs, p99 {w99:.0} µs", RESIDENTS * 5);

    // 3. Reads per second, gate vs bypass, with the sequencer and witnesses running.
    let sequencer = tokio::spawn(server::ledger::sequencer::run(db.clone(), settings.clone()));
    let residents = Arc::new(residents);
    for &workers in &worker_counts {
        for payload in [30u32, 200] {
            let range = Range {
                from: Some(time::OffsetDateTime::now_utc() - time::Duration::days(200)),
                to: None,
                limit: Some(payload),
            };
            let receipts_before: i64 = sqlx::query_scalar("select count(*) from access_receipt").fetch_one(&db).await?;
            let (mut bypass, mut gated, mut gate_reads) = (Vec::new(), Vec::new(), 0.0);
            for _ in 0..2 {
                let (db2, rs) = (db.clone(), residents.clone());
                bypass.push(
                    throughput(workers, seconds, move |i| {
                        let (db, r) = (db2.clone(), rs[i % rs.len()]);
                        async move {
                            let resolved = range.resolve().map_err(|(f, p)| anyhow::anyhow!("{f}: {p}"))?;
                            let mut conn = db.acquire().await?;
                            let data =
                                server::domain::records::read(&mut conn, r, &["transit.trips".to_owned()], resolved)
                                    .await?;
                            anyhow::ensure!(!data.is_empty());
                            Ok(())
                        }
                    })
                    .await?,
                );
                let (db2, rs, g, rd, k) = (db.clone(), residents.clone(), gate.clone(), reader.clone(), key.clone());
                let rate = throughput(workers, seconds, move |i| {
                    let (db, r, g, rd, k) = (db2.clone(), rs[i % rs.len()], g.clone(), rd.clone(), k.clone());
                    async move {
                        let req = ReadRequest {
                            service_id: service,
                            pseudonym: k.pseudonym(r, service),
                            scopes: vec!["transit.trips".into()],
                            range,
                        };
                        g.read(&db, &rd, &req).await.map_err(|e| anyhow::anyhow!("gate refused: {e}"))?;
                        Ok(())
                    }
                })
                .await?;
                gate_reads += rate * seconds as f64;
                gated.push(rate);
            }
            let receipts: i64 = sqlx::query_scalar("select count(*) from access_receipt").fetch_one(&db).await?;
            let (b, g) = (bypass.iter().sum::<f64>() / 2.0, gated.iter().sum::<f64>() / 2.0);
            println!(
                "{workers} workers, {payload} records per read: bypass {bypass:.0?} -> {b:.0}/s, gate {gated:.0?} -> {g:.0}/s, \
                 gate/bypass {:.2}x ({} receipts for ~{gate_reads:.0} reads)",
                g / b,
                receipts - receipts_before
            );
        }
    }
    sequencer.abort();
    Ok(())
}
