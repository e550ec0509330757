//! The sealer: commits confirmation-record versions, and device readings, to the ledger in
//! batches (a batch holds one or the other).
//!
//! Each round takes the versions recorded before the round's cut (a whole second, so a
//! version's time is always inside its batch's period), oldest first, at most `max_batch` at
//! a time, and for each batch, in one transaction: locks the versions (`SKIP LOCKED`, so a
//! second portal process seals other versions, never the same), computes every commitment
//! and the batch tree, queues one `records.batch` entry, stores the tree and gives each
//! version its batch and position. A crash anywhere in between rolls all of it back: no
//! version is sealed twice, none is lost, no entry names a batch that is not stored.
//!
//! Sealing touches neither the tables the gate reads for a grant nor the sequencer's: an
//! agency read and the sequencer never wait for it. The sequencer sees one entry per batch.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chain::Event;
use chain::record::RecordVersion;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest wait between rounds after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How the sealer runs.
#[derive(Clone, Copy, Debug)]
pub struct SealSettings {
    /// Time between rounds.
    pub interval: Duration,
    /// Most versions per batch.
    pub max_batch: usize,
}

/// One sealed batch.
#[derive(Clone, Debug)]
pub struct SealedBatch {
    pub record_batch_id: i64,
    pub ledger_entry_id: i64,
    pub count: usize,
}

/// What a batch holds: confirmation-record versions or device readings (never both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    Records,
    Readings,
}

impl Contents {
    /// Seals one batch of these before `cut`; `None` when nothing is pending.
    ///
    /// # Errors
    /// As [`seal_batch`] and [`seal_reading_batch`].
    pub async fn seal_batch(
        self,
        conn: &mut PgConnection,
        cut: OffsetDateTime,
        max_batch: usize,
    ) -> anyhow::Result<Option<SealedBatch>> {
        match self {
            Self::Records => seal_batch(conn, cut, max_batch).await,
            Self::Readings => seal_reading_batch(conn, cut, max_batch).await,
        }
    }
}

/// Runs forever: seal everything pending (records, then readings; paced, [`seal_paced`]),
/// wait, repeat (backing off after failures).
pub async fn run(db: PgPool, settings: SealSettings) {
    let mut wait = settings.interval;
    loop {
        let mut failed = false;
        for contents in [Contents::Records, Contents::Readings] {
            match seal_paced(&db, contents, settings.max_batch).await {
                Ok(0) => {}
                Ok(n) if contents == Contents::Records => tracing::info!(versions = n, "confirmation records sealed"),
                Ok(n) => tracing::debug!(readings = n, "device readings sealed"),
                Err(e) => {
                    failed = true;
                    tracing::warn!(error = format!("{e:#}"), ?contents, "sealing failed");
                }
            }
        }
        wait = if failed { (wait * 2).min(MAX_BACKOFF) } else { settings.interval };
        tokio::time::sleep(wait).await;
    }
}

/// Seals every version recorded before now in batches of at most `max_batch`, calling
/// `progress` after each batch; returns how many versions were sealed.
///
/// # Errors
/// Database errors (the batch being written is rolled back; earlier batches stay sealed).
pub async fn seal_pending(
    db: &PgPool,
    max_batch: usize,
    mut progress: impl FnMut(&SealedBatch),
) -> anyhow::Result<u64> {
    let cut = round_cut(OffsetDateTime::now_utc());
    let mut sealed = 0u64;
    let mut conn = db.acquire().await?;
    while let Some(batch) = seal_batch(&mut conn, cut, max_batch).await? {
        sealed += batch.count as u64;
        progress(&batch);
        if batch.count < max_batch {
            break;
        }
    }
    Ok(sealed)
}

/// Like [`seal_pending`] for `contents`, resting after each full batch as long as the batch
/// took: the portal's background sealer takes at most half of one connection's time and
/// leaves the rest of the machine to the sequencer and the reads (measured: the sequencer kept
/// 0.54x of its leaves per second next to an unpaced sealer on two cores;
/// `scripts/bench-seal.sh`).
///
/// # Errors
/// As [`seal_pending`].
pub async fn seal_paced(db: &PgPool, contents: Contents, max_batch: usize) -> anyhow::Result<u64> {
    let cut = round_cut(OffsetDateTime::now_utc());
    let mut sealed = 0u64;
    loop {
        let started = Instant::now();
        let batch = {
            let mut conn = db.acquire().await?;
            contents.seal_batch(&mut conn, cut, max_batch).await?
        };
        let Some(batch) = batch else { break };
        sealed += batch.count as u64;
        if batch.count < max_batch {
            break;
        }
        tokio::time::sleep(started.elapsed()).await;
    }
    Ok(sealed)
}

/// The round's cut: the current whole second. Versions recorded at or after it wait for the
/// next round, so every sealed version's second is before its batch's `period_end`.
#[must_use]
pub fn round_cut(now: OffsetDateTime) -> OffsetDateTime {
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Seals one batch of versions recorded before `cut`, oldest first; `None` when nothing is
/// pending (or everything pending is being sealed by another process).
///
/// # Errors
/// Database errors; nothing of the batch is kept then.
pub async fn seal_batch(
    conn: &mut PgConnection,
    cut: OffsetDateTime,
    max_batch: usize,
) -> anyhow::Result<Option<SealedBatch>> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select confirmation_record_id, version, scope_key, recorded_at, content_hash, salt
           from confirmation_record
           where record_batch_id is null and recorded_at < $1
           order by recorded_at, confirmation_record_id, version
           limit $2
           for update skip locked"#,
        cut,
        i64::try_from(max_batch)?
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let versions = rows
        .iter()
        .map(|r| {
            Ok(RecordVersion {
                record_id: *r.confirmation_record_id.as_bytes(),
                version: u32::try_from(r.version)?,
                scope: r.scope_key.clone(),
                recorded_at: u64::try_from(r.recorded_at.unix_timestamp())?,
                content_hash: chain::Hash::from_slice(&r.content_hash)?,
                salt: r.salt.as_slice().try_into().context("a salt is 32 bytes")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let period_start = versions.iter().map(|v| v.recorded_at).min().unwrap_or(0);
    let (batch_id, entry) = store_batch(&mut tx, "records", period_start, cut, move || {
        versions.iter().map(RecordVersion::batch_leaf).collect::<chain::error::Result<Vec<_>>>()
    })
    .await?;
    let count = rows.len();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.confirmation_record_id).collect();
    let vs: Vec<i32> = rows.iter().map(|r| r.version).collect();
    let positions: Vec<i32> = (0..i32::try_from(count)?).collect();
    let updated = sqlx::query!(
        // language=PostgreSQL
        r#"update confirmation_record c set record_batch_id = $1, batch_position = x.p
           from unnest($2::uuid[], $3::int[], $4::int[]) as x(id, v, p)
           where c.confirmation_record_id = x.id and c.version = x.v and c.record_batch_id is null"#,
        batch_id,
        &ids,
        &vs,
        &positions
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    anyhow::ensure!(updated == count as u64, "sealed {updated} of the batch's {count} versions");
    tx.commit().await?;
    Ok(Some(SealedBatch { record_batch_id: batch_id, ledger_entry_id: entry, count }))
}

/// Hashes a batch's leaves into its tree (off the async workers: a few milliseconds of CPU
/// for a full batch), queues its `records.batch` entry for the period `[period_start, cut)`
/// and stores the tree, in the caller's transaction. Returns the batch's id and entry.
async fn store_batch(
    tx: &mut PgConnection,
    contents: &str,
    period_start: u64,
    cut: OffsetDateTime,
    leaves: impl FnOnce() -> chain::error::Result<Vec<chain::Hash>> + Send + 'static,
) -> anyhow::Result<(i64, i64)> {
    let (root, tree, count) = tokio::task::spawn_blocking(move || -> chain::error::Result<_> {
        let leaves = leaves()?;
        let (root, tree) = chain::record::batch_tree(&leaves)?;
        Ok((root, tree, leaves.len()))
    })
    .await??;
    let period_end = u64::try_from(cut.unix_timestamp())?;
    let entry = super::enqueue(
        &mut *tx,
        &Event::RecordsBatch { batch_root: root, count: count as u64, period_start, period_end },
    )
    .await?;
    let tree_bytes: Vec<u8> = tree.iter().flat_map(|h| h.0).collect();
    let batch_id = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"insert into record_batch (ledger_entry_id, batch_root, record_count, period_start, period_end, tree, contents)
           values ($1, $2, $3, to_timestamp($4), $5, $6, $7) returning record_batch_id"#,
        entry,
        &root.0[..],
        i32::try_from(count)?,
        period_start as f64,
        cut,
        tree_bytes,
        contents
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok((batch_id, entry))
}

/// Seals one batch of device readings queued before `cut`: takes them off the queue (`SKIP
/// LOCKED`: a second process takes others), commits them in batch order (queued, then device,
/// then counter) as one `records.batch` entry, and records where each is, all in one
/// transaction. `None` when nothing is queued.
///
/// # Errors
/// Database errors; nothing of the batch is kept then (the readings stay queued).
pub async fn seal_reading_batch(
    conn: &mut PgConnection,
    cut: OffsetDateTime,
    max_batch: usize,
) -> anyhow::Result<Option<SealedBatch>> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let mut rows = sqlx::query!(
        // language=PostgreSQL
        r#"with taken as (select ctid from reading_seal_queue where queued_at < $1 limit $2 for update skip locked)
           delete from reading_seal_queue q using taken where q.ctid = taken.ctid
           returning q.device_id, q.counter, q.measured_at, q.commitment, q.queued_at"#,
        cut,
        i64::try_from(max_batch)?
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.sort_by_key(|r| (r.queued_at, r.device_id, r.counter));
    let period_start = u64::try_from(rows[0].queued_at.unix_timestamp())?;
    let commitments: Vec<Vec<u8>> = rows.iter().map(|r| r.commitment.clone()).collect();
    let (batch_id, entry) = store_batch(&mut tx, "readings", period_start, cut, move || {
        Ok(commitments.iter().map(|c| chain::tree::leaf_hash(c)).collect())
    })
    .await?;
    let count = rows.len();
    let devices: Vec<Uuid> = rows.iter().map(|r| r.device_id).collect();
    let counters: Vec<i64> = rows.iter().map(|r| r.counter).collect();
    let times: Vec<OffsetDateTime> = rows.iter().map(|r| r.measured_at).collect();
    let positions: Vec<i32> = (0..i32::try_from(count)?).collect();
    sqlx::query!(
        // language=PostgreSQL
        r#"insert into sealed_reading (device_id, counter, measured_at, record_batch_id, batch_position)
           select x.d, x.c, x.t, $1, x.p from unnest($2::uuid[], $3::bigint[], $4::timestamptz[], $5::int[]) as x(d, c, t, p)"#,
        batch_id,
        &devices,
        &counters,
        &times,
        &positions
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(SealedBatch { record_batch_id: batch_id, ledger_entry_id: entry, count }))
}

/// Seals everything pending now with a progress line (the `onecity records seal` command for
/// a freshly seeded city): versions, batches, and the rate.
///
/// # Errors
/// As [`seal_pending`].
pub async fn seal_all(db: &PgPool, max_batch: usize, bar: bool) -> anyhow::Result<(u64, Duration)> {
    // Right after a bulk load the table's statistics do not know the rows yet, and the
    // planner's guesses made each batch's queue read a scan of everything: measured at 4,300
    // versions/s on a freshly seeded city, against 31,000/s once analysed.
    sqlx::query("analyze confirmation_record").execute(db).await?;
    let pending: i64 =
        sqlx::query_scalar!(r#"select count(*) as "n!" from confirmation_record where record_batch_id is null"#)
            .fetch_one(db)
            .await?;
    let mut progress = crate::seed::progress::Progress::of("sealing", "records", u64::try_from(pending)?, bar);
    let started = Instant::now();
    let n = seal_pending(db, max_batch, |b| progress.add(b.count as u64)).await?;
    let took = started.elapsed();
    progress.finish(n);
    Ok((n, took))
}
