//! Sealing benchmark (run by `scripts/bench-seal.sh [RESIDENTS] [BATCH] [SECONDS]`, which
//! seeds a synthetic city into a fresh database and starts four real witness processes).
//! Everything below runs in one process against the same database, so the ratios compare like
//! with like:
//!
//! 1. Hashing alone: every pending record version read into memory once, then its commitment
//!    and its batch's tree computed, batch by batch, with nothing written: versions/s.
//! 2. Sealing: the real sealer (`ledger::seal::seal_pending`) on the same versions: read,
//!    hash, queue the `records.batch` entry, store the tree, mark each version: versions/s,
//!    and its ratio to (1).
//! 3. Proofs: the sequencer integrates and the witnesses cosign; then for 200 random versions
//!    the existence proof is assembled from storage (ms) and verified with its content as a
//!    bank would (ms); the proof's size in bytes.
//! 4. The sequencer with and without sealing: producers enqueue grant entries for `SECONDS`
//!    while the sequencer runs, first alone, then with the portal's background (paced) sealer
//!    sealing a fresh copy of the city's records at the same time: leaves per second in each,
//!    and the ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chain::leaf::{Event, GrantId, Pseudonym};
use chain::record::RecordVersion;
use sqlx::PgPool;

const PER_TX: usize = 1_000;

/// A pending version as the sealer reads it: id, version, scope, time, content hash, salt.
type PendingRow = (uuid::Uuid, i32, String, time::OffsetDateTime, Vec<u8>, Vec<u8>);

fn grant(i: u64) -> Event {
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&i.to_be_bytes());
    Event::GrantIssued {
        grant_id: GrantId(g),
        resident: Pseudonym([(i % 251) as u8; 32]),
        service_version_hash: chain::Hash([7; 32]),
        scopes: vec!["transit.trips".into()],
        purpose: "Cap monthly fares using the resident's trips".into(),
        valid_from: 1_760_000_000,
        valid_until: 1_790_000_000,
    }
}

/// Producers enqueue grant entries for `seconds` while the sequencer runs; leaves/s.
async fn sequencing(
    db: &PgPool,
    settings: &Arc<server::ledger::LedgerSettings>,
    seconds: u64,
    offset: u64,
) -> anyhow::Result<f64> {
    let before: i64 = sqlx::query_scalar("select tree_size from ledger_tree").fetch_one(db).await?;
    let sequencer = tokio::spawn(server::ledger::sequencer::run(db.clone(), settings.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut next = offset + p * 100_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let bodies: Vec<Vec<u8>> = (0..PER_TX as u64).map(|k| grant(next + k).encode().unwrap()).collect();
                    let kinds = vec!["grant.issued"; PER_TX];
                    sqlx::query("insert into ledger_entry (kind, body) select * from unnest($1::text[], $2::bytea[])")
                        .bind(&kinds)
                        .bind(&bodies)
                        .execute(&db)
                        .await
                        .unwrap();
                    next += PER_TX as u64;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let after: i64 = sqlx::query_scalar("select tree_size from ledger_tree").fetch_one(db).await?;
    let window = started.elapsed().as_secs_f64();
    for p in producers {
        p.await?;
    }
    sequencer.abort();
    Ok((after - before) as f64 / window)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let batch: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(4096);
    let seconds: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let args = server::config::ServeArgs::try_parse_from(["serve", "--profile=dev"])?;
    let config = args.resolve()?;
    let db = server::db::connect_and_migrate(&config).await?;
    let settings = Arc::new(server::ledger::LedgerSettings::from_config(&config)?);

    // 1. Hashing alone.
    sqlx::query("analyze confirmation_record").execute(&db).await?;
    let started = Instant::now();
    let rows: Vec<PendingRow> = sqlx::query_as(
        "select confirmation_record_id, version, scope_key, recorded_at, content_hash, salt from confirmation_record
         where record_batch_id is null order by recorded_at, confirmation_record_id, version",
    )
    .fetch_all(&db)
    .await?;
    let read = started.elapsed();
    let versions: Vec<RecordVersion> = rows
        .into_iter()
        .map(|(id, v, scope, at, hash, salt)| RecordVersion {
            record_id: *id.as_bytes(),
            version: u32::try_from(v).unwrap(),
            scope,
            recorded_at: u64::try_from(at.unix_timestamp()).unwrap(),
            content_hash: chain::Hash::from_slice(&hash).unwrap(),
            salt: salt.as_slice().try_into().unwrap(),
        })
        .collect();
    let n = versions.len();
    anyhow::ensure!(n > 0, "no pending confirmation records: seed a city first");
    let started = Instant::now();
    let mut roots = 0usize;
    for chunk in versions.chunks(batch) {
        let leaves: Vec<chain::Hash> = chunk.iter().map(|v| v.batch_leaf().unwrap()).collect();
        let (_root, tree) = chain::record::batch_tree(&leaves)?;
        roots += tree.len();
    }
    let hashing = started.elapsed().as_secs_f64();
    let hash_rate = n as f64 / hashing;
    println!(
        "hashing alone: {n} versions in {hashing:.2}s = {hash_rate:.0} versions/s ({roots} tree hashes; the read took {:.2}s)",
        read.as_secs_f64()
    );

    // 2. Sealing, the same versions.
    let (sealed, took) = server::ledger::seal::seal_all(&db, batch, false).await?;
    let sealing = took.as_secs_f64();
    let seal_rate = sealed as f64 / sealing;
    let batches: i64 = sqlx::query_scalar("select count(*) from record_batch").fetch_one(&db).await?;
    let tree_bytes: i64 =
        sqlx::query_scalar("select coalesce(sum(length(tree)), 0)::bigint from record_batch").fetch_one(&db).await?;
    println!(
        "sealing: {sealed} versions in {sealing:.2}s = {seal_rate:.0} versions/s in {batches} batches of up to {batch} \
         ({:.2}x hashing alone, {:.2}x including hashing's read; {:.1} bytes of tree per version)",
        seal_rate / hash_rate,
        seal_rate / (n as f64 / (hashing + read.as_secs_f64())),
        tree_bytes as f64 / sealed.max(1) as f64
    );

    // 3. Proofs: integrate and cosign, then assemble and verify 200 of them.
    let sequencer = tokio::spawn(server::ledger::sequencer::run(db.clone(), settings.clone()));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from ledger_entry e where e.kind = 'records.batch' and (e.leaf_index is null or not exists
               (select 1 from ledger_checkpoint c where c.quorum_at is not null and c.tree_size > e.leaf_index))",
        )
        .fetch_one(&db)
        .await?;
        if waiting == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sequencer.abort();
    let sample: Vec<(uuid::Uuid, i32, serde_json::Value)> = sqlx::query_as(
        "select confirmation_record_id, version, data from confirmation_record tablesample system (1) limit 200",
    )
    .fetch_all(&db)
    .await?;
    let policy = settings.policy.clone().expect("the bench runs with witnesses");
    let mut conn = db.acquire().await?;
    let (mut build, mut verify, mut size) = (Vec::new(), Vec::new(), Vec::new());
    for (id, v, data) in &sample {
        let t = Instant::now();
        let bundle = server::ledger::bundle::record_bundle(&mut conn, &settings, *id, *v).await?;
        build.push(t.elapsed().as_secs_f64() * 1e3);
        let json = bundle.to_json()?;
        size.push(json.len() as f64);
        let t = Instant::now();
        let parsed = chain::ProofBundle::from_json(&json)?;
        let verdict = chain::verify_bundle(&parsed, &policy, server::ledger::unix_now())?;
        chain::record::check_content(&verdict.record.expect("a record proof").record, data)?;
        verify.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "proofs ({} sampled): assembled in {:.2} ms, verified with the content in {:.2} ms (medians); {:.0} bytes of JSON",
        sample.len(),
        median(build),
        median(verify),
        median(size)
    );

    // 4. The sequencer alone, then with the sealer sealing a fresh copy of the records.
    let alone = sequencing(&db, &settings, seconds, 0).await?;
    sqlx::query(
        "insert into confirmation_record (confirmation_record_id, resident_id, scope_key, data, content_hash, recorded_at)
         select gen_random_uuid(), resident_id, scope_key, data, content_hash, now() - interval '1 second'
         from confirmation_record",
    )
    .execute(&db)
    .await?;
    let sealer_db = db.clone();
    // What the portal runs in the background: the paced sealer.
    sqlx::query("analyze confirmation_record").execute(&db).await?;
    let sealer = tokio::spawn(async move {
        let started = Instant::now();
        let n = server::ledger::seal::seal_paced(&sealer_db, server::ledger::seal::Contents::Records, batch).await?;
        anyhow::Ok((n, started.elapsed()))
    });
    let with = sequencing(&db, &settings, seconds, 10_000_000_000).await?;
    let sealed_meanwhile = if sealer.is_finished() { "finished" } else { "still sealing" };
    let (resealed, reseal_took) = sealer.await??;
    println!(
        "sequencer: {alone:.0} leaves/s alone, {with:.0} leaves/s next to the portal's paced sealer ({:.2}x; it sealed {resealed} \
         versions in {:.1}s, {sealed_meanwhile} when the {seconds}s window closed)",
        with / alone,
        reseal_took.as_secs_f64()
    );
    Ok(())
}
