//! The sequencer: one process at a time integrates queued entries into the log.
//!
//! * **Lease.** A session-level PostgreSQL advisory lock held on a dedicated connection. Every
//!   write of the sequencer goes through that same connection, so if the process or the
//!   connection dies, the lock and any open batch die with it and another portal process
//!   takes over on its next try.
//! * **Batch.** One transaction: lock the tree row, take the queued entries in arrival order,
//!   apply their grant-status changes as a new status-map version, append them plus a closing
//!   `status.root` entry, store the new tree hashes, sign the checkpoint, commit. A crash
//!   anywhere leaves either the whole batch or none of it; `leaf_index` is unique, so no index
//!   is ever assigned twice.
//! * **Integrity.** When it takes the lease, the sequencer recomputes the root of the stored
//!   tree from the stored entries and from the stored hashes, and refuses to sign while either
//!   disagrees with the last signed checkpoint (an alarm is raised).

use std::sync::Arc;

use anyhow::{Context, bail};
use chain::Hash;
use chain::device::StatusUpdate;
use chain::leaf::Event;
use chain::note::{Checkpoint, SignedCheckpoint};
use chain::status::{MemoryStatusStore, StatusMap};
use chain::tree::{self, EMPTY_ROOT};
use sqlx::{Connection, PgConnection, PgPool};

use super::store::{load_status_map, with_stored_hashes, write_hashes, write_status_batch};
use super::{LedgerSettings, raise_alarm, unix_now, witness_client};

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Advisory-lock key of the sequencer lease ("onecity1" in ASCII).
const LEASE_KEY: i64 = 0x6f6e_6563_6974_7931;

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub entries: usize,
    pub tree_size: u64,
}

/// The sequencer while it holds the lease.
pub struct Sequencer {
    conn: PgConnection,
    settings: Arc<LedgerSettings>,
    status: StatusMap<MemoryStatusStore>,
    /// Set when storage disagrees with a signed checkpoint: nothing is signed any more.
    halted: bool,
}

/// Runs forever: waits for the lease, sequences while holding it, retries after errors.
pub async fn run(db: PgPool, settings: Arc<LedgerSettings>) {
    loop {
        match Sequencer::acquire(&db, settings.clone()).await {
            Ok(Some(mut s)) => {
                tracing::info!("sequencer lease acquired");
                if let Err(e) = s.run_while_leased(&db).await {
                    tracing::warn!(error = format!("{e:#}"), "sequencer stopped; will retry");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "sequencer could not start; will retry"),
        }
        tokio::time::sleep(settings.sequencer_interval * 5).await;
    }
}

impl Sequencer {
    /// Takes the lease if it is free; `None` if another process holds it.
    ///
    /// # Errors
    /// Database errors or an undecodable status map.
    pub async fn acquire(db: &PgPool, settings: Arc<LedgerSettings>) -> anyhow::Result<Option<Self>> {
        let mut conn = db.acquire().await?.detach();
        let got: bool =
            sqlx::query_scalar!("select pg_try_advisory_lock($1) as \"got!\"", LEASE_KEY).fetch_one(&mut conn).await?;
        if !got {
            return Ok(None);
        }
        sqlx::query!(
            // language=PostgreSQL
            "insert into ledger_tree (tree_size, root_hash) values (0, $1) on conflict do nothing",
            &EMPTY_ROOT.0[..]
        )
        .execute(&mut conn)
        .await?;
        let status = load_status_map(&mut conn).await?;
        let mut s = Self { conn, settings, status, halted: false };
        s.verify_storage().await?;
        Ok(Some(s))
    }

    async fn run_while_leased(&mut self, db: &PgPool) -> anyhow::Result<()> {
        // The witness round runs beside integration, not inside it: a slow or hanging witness
        // (up to its timeout) must not hold up sequencing. It stops with the lease.
        // Woken by each new checkpoint; also retries missing witnesses every tick.
        let new_checkpoint = Arc::new(tokio::sync::Notify::new());
        let _witnesses = AbortOnDrop(tokio::spawn({
            let (db, settings, wake) = (db.clone(), self.settings.clone(), new_checkpoint.clone());
            async move {
                loop {
                    witness_client::cosign_latest(&db, &settings).await;
                    let _ = tokio::time::timeout(settings.sequencer_interval, wake.notified()).await;
                }
            }
        }));
        let mut tick = tokio::time::interval(self.settings.sequencer_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.halted {
                // Keep the lease so no other process signs over the problem either; the
                // signed checkpoints still get cosigned.
                self.conn.ping().await?;
                continue;
            }
            if self.integrate_batch().await?.is_some() {
                new_checkpoint.notify_one();
            }
        }
    }

    /// Recomputes the tree from storage and compares with the last signed checkpoint.
    ///
    /// # Errors
    /// Database errors (a mismatch is not an error: it raises an alarm and halts signing).
    pub async fn verify_storage(&mut self) -> anyhow::Result<bool> {
        let Some(cp) =
            sqlx::query!("select tree_size, root_hash, note from ledger_checkpoint order by tree_size desc limit 1")
                .fetch_optional(&mut self.conn)
                .await?
        else {
            return Ok(true);
        };
        let size = u64::try_from(cp.tree_size)?;
        let signed_root = Hash(cp.root_hash.as_slice().try_into().context("checkpoint root is not 32 bytes")?);

        // Rebuild every stored hash from the stored entries and compare them all: an edit deep
        // in the tree changes no frontier hash, so checking only the root would miss it.
        // Linear in the log size, once per lease.
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar!(
            "select body from ledger_entry where leaf_index < $1 order by leaf_index",
            cp.tree_size
        )
        .fetch_all(&mut self.conn)
        .await?;
        let mut rebuilt = tree::MemoryHashStore::new();
        for b in &bodies {
            rebuilt.append(b)?;
        }
        let stored: Vec<Vec<u8>> = sqlx::query_scalar!(
            "select hash from ledger_hash where stored_index < $1 order by stored_index",
            i64::try_from(tree::stored_hash_count(size))?
        )
        .fetch_all(&mut self.conn)
        .await?;

        let mut ok = true;
        // A log continues only under the key that signed it: a replaced key file would
        // otherwise fork the log's identity silently.
        let signed_by_us = SignedCheckpoint::parse(cp.note.as_bytes())
            .and_then(|c| c.verify_log_signature(&self.settings.log_key()))
            .is_ok();
        if !signed_by_us {
            ok = false;
            let detail = format!("the checkpoint at size {size} was not signed by the configured log key");
            raise_alarm(&mut self.conn, "key_mismatch", &detail).await?;
        }
        if bodies.len() as u64 != size || rebuilt.root().ok() != Some(signed_root) {
            ok = false;
            let detail = format!("stored entries do not hash to the root signed at size {size}");
            raise_alarm(&mut self.conn, "entry_mismatch", &detail).await?;
        } else if let Some(i) = (0..rebuilt.stored().len().max(stored.len()))
            .find(|&i| stored.get(i).map(Vec::as_slice) != rebuilt.stored().get(i).map(|h| &h.0[..]))
        {
            ok = false;
            let detail = format!("stored tree hash {i} differs from the hash of the signed entries");
            raise_alarm(&mut self.conn, "hash_mismatch", &detail).await?;
        }
        self.halted = !ok;
        if !ok {
            tracing::error!(
                "sequencer halted: storage disagrees with the signed log; no new checkpoints will be signed"
            );
        }
        Ok(ok)
    }

    /// Integrates up to `max_batch` queued entries and signs the resulting checkpoint.
    /// Returns `None` when the queue was empty.
    ///
    /// # Errors
    /// Database or storage errors; the in-memory status map may then be ahead of the
    /// database, so the caller must drop this sequencer (it reloads on the next lease).
    pub async fn integrate_batch(&mut self) -> anyhow::Result<Option<BatchOutcome>> {
        if self.halted {
            bail!("sequencer is halted by an integrity alarm");
        }
        let mut tx = self.conn.begin().await?;
        let tree =
            sqlx::query!("select tree_size, status_version from ledger_tree for update").fetch_one(&mut *tx).await?;
        let size = u64::try_from(tree.tree_size)?;
        let limit = i64::try_from(self.settings.max_batch)?;
        let queued = sqlx::query!(
            // language=PostgreSQL
            r#"
            select ledger_entry_id, body from ledger_entry
            where leaf_index is null
            order by ledger_entry_id
            limit $1
            for update
            "#,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        if queued.is_empty() {
            return Ok(None);
        }

        let mut updates: Vec<StatusUpdate> = Vec::new();
        for row in &queued {
            match Event::decode(&row.body) {
                Ok(event) => updates.extend(event.status_update()),
                Err(e) => bail!("queued entry {} does not decode: {e}", row.ledger_entry_id),
            }
        }
        let version = u64::try_from(tree.status_version + 1)?;
        let (map_root, batch) = self.status.apply_with_batch(version, &updates)?;
        let status_index = size + queued.len() as u64;
        let now = unix_now();
        let status_body =
            Event::StatusRoot { map_root, map_version: version, log_size: status_index, time: now }.encode()?;

        let mut leaf_hashes: Vec<Hash> = queued.iter().map(|r| tree::leaf_hash(&r.body)).collect();
        leaf_hashes.push(tree::leaf_hash(&status_body));
        let new_hashes = with_stored_hashes(&mut tx, |r| tree::stored_hashes_for_batch(size, &leaf_hashes, r)).await?;
        write_hashes(&mut tx, tree::stored_hash_count(size), &new_hashes).await?;

        let ids: Vec<i64> = queued.iter().map(|r| r.ledger_entry_id).collect();
        let first = tree.tree_size;
        sqlx::query!(
            // language=PostgreSQL
            r#"
            update ledger_entry e set leaf_index = $2 + x.ord - 1, integrated_at = now()
            from unnest($1::bigint[]) with ordinality as x(id, ord)
            where e.ledger_entry_id = x.id
            "#,
            &ids,
            first
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            // language=PostgreSQL
            "insert into ledger_entry (kind, body, leaf_index, integrated_at) values ('status.root', $1, $2, now())",
            status_body,
            i64::try_from(status_index)?
        )
        .execute(&mut *tx)
        .await?;
        write_status_batch(&mut tx, &batch).await?;

        let new_size = status_index + 1;
        let root = with_stored_hashes(&mut tx, |r| tree::tree_root(new_size, r)).await?;
        let checkpoint = Checkpoint::new(self.settings.signer.name(), new_size, root);
        let signed = SignedCheckpoint::sign(checkpoint, &self.settings.signer);
        let note = String::from_utf8(signed.to_bytes())?;
        let new_size_i = i64::try_from(new_size)?;
        sqlx::query!(
            // language=PostgreSQL
            "insert into ledger_checkpoint (tree_size, root_hash, note) values ($1, $2, $3)",
            new_size_i,
            &root.0[..],
            note
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            // language=PostgreSQL
            "update ledger_tree set tree_size = $1, root_hash = $2, status_version = $3, updated_at = now()",
            new_size_i,
            &root.0[..],
            i64::try_from(version)?
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::debug!(entries = queued.len(), tree_size = new_size, "batch integrated");
        Ok(Some(BatchOutcome { entries: queued.len(), tree_size: new_size }))
    }

    #[must_use]
    pub fn is_halted(&self) -> bool {
        self.halted
    }
}
