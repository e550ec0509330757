//! What the gate verifies once per checkpoint and keeps: the checkpoint, its status.root
//! entry, inclusion paths and map proofs, and the replica of the status map.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use chain::bundle::EntryProof;
use chain::note::Checkpoint;
use chain::status::{MemoryStatusStore, StatusMap};
use chain::{Event, GrantId, GrantStatus, Hash, MapProof, SignedCheckpoint};
use sqlx::PgConnection;

use crate::ledger::bundle::entry_proof;
use crate::ledger::store::{extend_status_map, with_stored_hashes_cached};

use super::reasons::deny;
use super::{DenyReason, Gate, GateError};

/// A quorum checkpoint verified once: signatures, quorum, and its closing status.root entry.
pub(super) struct Verified {
    pub(super) checkpoint: Checkpoint,
    pub(super) status_entry: EntryProof,
}

#[derive(Default)]
pub(super) struct Cache {
    pub(super) verified: Option<Arc<Verified>>,
    /// Inclusion paths by leaf index, for `verified`'s size.
    pub(super) inclusion: HashMap<u64, Vec<Hash>>,
    /// Map proofs by grant, for `verified`'s map version.
    pub(super) status: HashMap<GrantId, (Option<GrantStatus>, MapProof)>,
}

/// Bound on cached proofs per checkpoint (each a few hundred bytes).
const MAX_CACHED: usize = 200_000;

/// The grant-status map as persisted, kept in memory and extended version by version as quorum
/// checkpoints name newer ones: a map proof is then computed without a database round trip.
/// Its nodes come from the same tables a database-backed proof would read, and every proof is
/// verified against the root bound into the cosigned checkpoint, so a tampered table can make
/// the gate refuse (integrity) but never accept. Memory grows with the map's history, like the
/// sequencer's own copy (pruning old versions is future work at city scale).
pub(super) struct StatusReplica {
    pub(super) map: StatusMap<MemoryStatusStore>,
    /// The newest version loaded (`None` before the first load).
    pub(super) version: Option<u64>,
}

impl Gate {
    /// The newest quorum checkpoint, verified once per size.
    pub(super) async fn verified_checkpoint(
        &self,
        conn: &mut PgConnection,
        size: u64,
    ) -> Result<Arc<Verified>, GateError> {
        if let Some(v) = self.cache.lock().expect("gate cache").verified.clone().filter(|v| v.checkpoint.size == size) {
            return Ok(v);
        }
        let policy = self.ledger.policy.as_ref().context("no witness policy, so nothing is ever cosigned")?;
        let note: String =
            sqlx::query_scalar!("select note from ledger_checkpoint where tree_size = $1", i64::try_from(size)?)
                .fetch_one(&mut *conn)
                .await?;
        let signed = SignedCheckpoint::parse(note.as_bytes()).context("stored checkpoint does not parse")?;
        if let Err(e) = policy.require_quorum(&signed, crate::ledger::unix_now()) {
            let detail = format!("checkpoint {size} marked as cosigned does not verify: {e}");
            crate::ledger::raise_alarm(conn, "checkpoint_integrity", &detail).await?;
            return Err(deny(DenyReason::Integrity, "the newest cosigned checkpoint does not verify"));
        }
        if signed.checkpoint.size != size {
            return Err(anyhow::anyhow!("checkpoint row {size} holds a note of size {}", signed.checkpoint.size).into());
        }
        let (status_entry, _) = entry_proof(conn, size - 1, size).await?;
        let v = Arc::new(Verified { checkpoint: signed.checkpoint, status_entry });
        let mut cache = self.cache.lock().expect("gate cache");
        // Only ever move forward: a slower request must not replace a newer checkpoint.
        if cache.verified.as_ref().is_none_or(|c| c.checkpoint.size < size) {
            *cache = Cache { verified: Some(v.clone()), ..Cache::default() };
        }
        Ok(v)
    }

    /// The map proof of `grant` at `version`, from the in-memory replica (extended first when
    /// `version` is newer than what it holds).
    pub(super) async fn map_proof(
        &self,
        conn: &mut PgConnection,
        version: u64,
        grant: GrantId,
    ) -> Result<(Option<GrantStatus>, MapProof), GateError> {
        {
            let replica = self.status.read().await;
            if replica.version.is_some_and(|v| v >= version) {
                return Ok(replica.map.get_with_proof(version, &grant).context("status map proof")?);
            }
        }
        let mut replica = self.status.write().await;
        if replica.version.is_none_or(|v| v < version) {
            extend_status_map(conn, &replica.map, replica.version, version).await?;
            replica.version = Some(version);
        }
        Ok(replica.map.get_with_proof(version, &grant).context("status map proof")?)
    }

    /// The inclusion path of `index` and the map proof of `grant` at the verified checkpoint.
    pub(super) async fn proofs(
        &self,
        conn: &mut PgConnection,
        v: &Verified,
        index: u64,
        grant: GrantId,
    ) -> Result<(Vec<Hash>, (Option<GrantStatus>, MapProof)), GateError> {
        let size = v.checkpoint.size;
        let (path, status) = {
            let cache = self.cache.lock().expect("gate cache");
            let same = cache.verified.as_ref().is_some_and(|c| c.checkpoint.size == size);
            (cache.inclusion.get(&index).filter(|_| same).cloned(), cache.status.get(&grant).filter(|_| same).cloned())
        };
        let path = match path {
            Some(p) => p,
            None => {
                with_stored_hashes_cached(conn, Some(&self.hashes), |r| chain::tree::prove_inclusion(size, index, r))
                    .await?
            }
        };
        let status = match status {
            Some(s) => s,
            None => {
                let Event::StatusRoot { map_version, .. } =
                    Event::decode(&v.status_entry.leaf_bytes().context("status entry")?).context("status entry")?
                else {
                    return Err(anyhow::anyhow!("checkpoint {size} does not end with a status.root entry").into());
                };
                self.map_proof(conn, map_version, grant).await?
            }
        };
        let mut cache = self.cache.lock().expect("gate cache");
        if cache.verified.as_ref().is_some_and(|c| c.checkpoint.size == size) {
            if cache.inclusion.len() + cache.status.len() > MAX_CACHED {
                cache.inclusion.clear();
                cache.status.clear();
            }
            cache.inclusion.insert(index, path.clone());
            cache.status.insert(grant, status.clone());
        }
        Ok((path, status))
    }
}
