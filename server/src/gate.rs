//! The gate: the one place through which every read of a resident's data by anyone but the
//! resident passes (docs/gate.md). In order:
//!
//! 1. find the newest grant of this pseudonym at this service, re-reading the row every time;
//!    a revocation row denies at once (`revoked`), before it is cosigned;
//! 2. recompute the grant's `grant.issued` leaf from the row (pseudonym recomputed from the
//!    resident, purpose and version hash from the immutable service version), and the service
//!    version's `service.published` leaf from the service and version rows: the agency, slug,
//!    purpose, scopes and retention the grant's leaf points at by hash (a service handed to
//!    another agency in the database no longer matches);
//! 3. verify its inclusion in the newest quorum-cosigned checkpoint and the status-map proof
//!    that the grant is active there (`pending` while no such checkpoint covers it; a leaf
//!    that does not match, or a map that disagrees, is `integrity` and raises an alarm);
//! 4. check the window (`expired`), the scopes (`scope_not_granted`), the access mode
//!    (`frequency_exceeded`); the records read are clamped to the grant's window, so a grant
//!    issued today does not open years of history;
//! 5. in one transaction: lock the grant, re-check revocation and frequency, write the
//!    `access.receipt` row and ledger entry, run the query restricted to the granted scopes,
//!    commit; only then is the data returned ("no receipt, no data"). Receipts are append-only
//!    (migration 0013); a grant whose receipt rows and `access.receipt` ledger entries differ
//!    in number had receipts deleted behind the server's back, which would reset its limits:
//!    `integrity`, with an alarm.
//!
//! Cached per checkpoint: the verified checkpoint (signatures, quorum, its status.root entry)
//! and proof paths, which are fixed for a given checkpoint. Never cached: the grant row, the
//! leaf recomputed from it, or the verification of the leaf against those paths.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chain::bundle::{EntryProof, StatusProof};
use chain::note::Checkpoint;
use chain::status::{MemoryStatusStore, StatusMap};
use chain::{Event, GrantId, GrantStatus, Hash, MapProof, Pseudonym, SignedCheckpoint};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::ledger::LedgerSettings;
use crate::ledger::bundle::entry_proof;
use crate::ledger::store::{HashCache, extend_status_map, with_stored_hashes_cached};
use crate::pseudonym::PseudonymKey;
use crate::records::{self, Range, ScopeData};

/// Why the gate refused. Part of the API: agencies branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// No grant from this pseudonym for this service.
    NoGrant,
    /// The grant is not yet in a quorum-cosigned checkpoint.
    Pending,
    /// The grant's window has ended.
    Expired,
    /// The resident revoked the grant (or replaced it by a narrower or extended one).
    Revoked,
    /// A requested scope is not in the grant.
    ScopeNotGranted,
    /// The access mode allows no more reads now (one-off used, or the daily limit reached).
    FrequencyExceeded,
    /// The stored grant does not match the cosigned ledger; an integrity alarm was raised.
    Integrity,
}

impl DenyReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoGrant => "no_grant",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::ScopeNotGranted => "scope_not_granted",
            Self::FrequencyExceeded => "frequency_exceeded",
            Self::Integrity => "integrity",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{message}")]
    Denied { reason: DenyReason, message: String },
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for GateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<std::num::TryFromIntError> for GateError {
    fn from(e: std::num::TryFromIntError) -> Self {
        Self::Internal(e.into())
    }
}

fn deny(reason: DenyReason, message: impl Into<String>) -> GateError {
    GateError::Denied { reason, message: message.into() }
}

/// Who is reading: the agency, and the client or staff member within it. `id` goes into the
/// receipt the resident sees, e.g. `transit-authority/client/agency-transit`.
#[derive(Clone, Debug)]
pub struct Reader {
    pub agency_id: String,
    pub id: String,
}

/// One read through the gate.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    pub service_id: Uuid,
    pub pseudonym: Pseudonym,
    pub scopes: Vec<String>,
    pub range: Range,
}

/// What the gate released, with the receipt that was written first.
#[derive(Clone, Debug)]
pub struct Released {
    pub receipt_id: Uuid,
    pub receipt_entry_id: i64,
    pub grant_id: Uuid,
    pub read_at: OffsetDateTime,
    pub scopes: Vec<String>,
    pub data: BTreeMap<String, ScopeData>,
}

/// A read that passed steps 1–4, ready for its receipt.
pub struct Checked {
    grant: GrantRow,
    grant_id: GrantId,
    scopes: Vec<String>,
    range: (OffsetDateTime, OffsetDateTime, i64),
    now: OffsetDateTime,
    checkpoint_size: i64,
}

impl Checked {
    /// Size of the quorum checkpoint the grant was verified against.
    #[must_use]
    pub fn checkpoint_size(&self) -> i64 {
        self.checkpoint_size
    }
}

/// A quorum checkpoint verified once: signatures, quorum, and its closing status.root entry.
struct Verified {
    checkpoint: Checkpoint,
    status_entry: EntryProof,
}

#[derive(Default)]
struct Cache {
    verified: Option<Arc<Verified>>,
    /// Inclusion paths by leaf index, for `verified`'s size.
    inclusion: HashMap<u64, Vec<Hash>>,
    /// Map proofs by grant, for `verified`'s map version.
    status: HashMap<GrantId, (Option<GrantStatus>, MapProof)>,
}

/// Bound on cached proofs per checkpoint (each a few hundred bytes).
const MAX_CACHED: usize = 200_000;

pub struct Gate {
    ledger: Arc<LedgerSettings>,
    key: Arc<PseudonymKey>,
    cache: Mutex<Cache>,
    receipts: mpsc::Sender<ReceiptJob>,
    status: tokio::sync::RwLock<StatusReplica>,
    /// Stored tree hashes read so far: a grant read again after the log has grown needs only
    /// the few hashes the growth added, not a database round trip for its whole path.
    hashes: HashCache,
}

/// The grant-status map as persisted, kept in memory and extended version by version as quorum
/// checkpoints name newer ones: a map proof is then computed without a database round trip.
/// Its nodes come from the same tables a database-backed proof would read, and every proof is
/// verified against the root bound into the cosigned checkpoint, so a tampered table can make
/// the gate refuse (integrity) but never accept. Memory grows with the map's history, like the
/// sequencer's own copy (pruning old versions is future work at city scale).
struct StatusReplica {
    map: StatusMap<MemoryStatusStore>,
    /// The newest version loaded (`None` before the first load).
    version: Option<u64>,
}

struct GrantRow {
    data_grant_id: Uuid,
    resident_id: Uuid,
    scopes: Vec<String>,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    slug: String,
    version: i32,
    purpose: String,
    required_scopes: Vec<String>,
    optional_scopes: Vec<String>,
    retention_days: i32,
    leaf_hash: Vec<u8>,
    access_mode: String,
    max_reads_per_day: Option<i32>,
    agency_id: String,
    leaf_index: Option<i64>,
    revoked: bool,
    quorum_size: i64,
}

impl Gate {
    /// The gate, and its receipt writer as a task on the current Tokio runtime.
    #[must_use]
    pub fn new(db: &PgPool, ledger: Arc<LedgerSettings>, key: Arc<PseudonymKey>) -> Self {
        let (receipts, jobs) = mpsc::channel(RECEIPT_QUEUE);
        // The writer's own connections, so that it never waits behind requests for the pool.
        let writer_db =
            sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_lazy_with((*db.connect_options()).clone());
        tokio::spawn(receipt_writer(writer_db, jobs));
        let status =
            tokio::sync::RwLock::new(StatusReplica { map: StatusMap::new(MemoryStatusStore::new()), version: None });
        Self { ledger, key, cache: Mutex::new(Cache::default()), receipts, status, hashes: HashCache::default() }
    }

    /// Reads a resident's data for `reader` through every check above.
    ///
    /// # Errors
    /// [`GateError::Denied`] with its reason; [`GateError::Invalid`] for a malformed range;
    /// [`GateError::Internal`] for storage failures (no data and no receipt then).
    pub async fn read(&self, db: &PgPool, reader: &Reader, req: &ReadRequest) -> Result<Released, GateError> {
        let mut conn = db.acquire().await?;
        let checked = self.check(&mut conn, reader, req).await?;
        self.release(conn, reader, req, checked).await
    }

    /// Steps 1–4: everything up to (not including) the receipt. A separate function so the
    /// benchmark can time the checks alone; callers that want data use [`Gate::read`].
    ///
    /// # Errors
    /// As [`Gate::read`].
    pub async fn check(
        &self,
        conn: &mut PgConnection,
        reader: &Reader,
        req: &ReadRequest,
    ) -> Result<Checked, GateError> {
        let range = req.range.resolve().map_err(|(field, problem)| GateError::Invalid { field, problem })?;
        let scopes = chain::leaf::canonical_scopes(req.scopes.iter().cloned());
        if scopes.is_empty() {
            return Err(GateError::Invalid { field: "scopes", problem: "ask for at least one scope".into() });
        }
        // 1. The newest grant of this pseudonym at this service, read fresh.
        let g = sqlx::query_as!(
            GrantRow,
            // language=PostgreSQL
            r#"
            select g.data_grant_id, g.resident_id, g.scopes, g.valid_from, g.valid_until, s.slug, sv.version,
                   sv.purpose, sv.required_scopes, sv.optional_scopes, sv.retention_days, sv.leaf_hash, sv.access_mode, sv.max_reads_per_day, s.agency_id, e.leaf_index as "leaf_index?",
                   exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id) as "revoked!",
                   (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null)
                       as "quorum_size!"
            from data_grant g
            join service s on s.service_id = g.service_id
            join service_version sv on sv.service_id = g.service_id and sv.version = g.version
            join ledger_entry e on e.ledger_entry_id = g.issued_entry_id
            where g.service_id = $1 and g.pseudonym = $2
            order by g.created_at desc, g.data_grant_id
            limit 1
            "#,
            req.service_id,
            &req.pseudonym.0[..]
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(g) = g.filter(|g| g.agency_id == reader.agency_id) else {
            return Err(deny(DenyReason::NoGrant, "no grant from this pseudonym for this service"));
        };
        if g.revoked {
            return Err(deny(DenyReason::Revoked, "the resident revoked this grant"));
        }
        let grant_id = GrantId(*g.data_grant_id.as_bytes());
        // The row was found by its pseudonym column; the pseudonym that counts is the one
        // recomputed from its resident (it is what the leaf commits to). A column edited to point
        // another resident's pseudonym at this grant would release the wrong person's data.
        if self.key.pseudonym(g.resident_id, req.service_id) != req.pseudonym {
            return Err(self.integrity(conn, g.data_grant_id, "its pseudonym is not its resident's").await);
        }

        // 2. The service version as its rows say it was published: its leaf hash is what the
        // grant's leaf commits to, so the agency, slug, purpose, scopes and retention read here
        // are the cosigned ones only if they hash to it.
        let published = crate::services::published_event(
            &g.agency_id,
            &g.slug,
            g.version,
            &g.purpose,
            &g.required_scopes,
            &g.optional_scopes,
            g.retention_days,
        )
        .and_then(|e| Ok(chain::tree::leaf_hash(&e.encode()?)));
        match published {
            Ok(hash) if hash.0[..] == g.leaf_hash[..] => {}
            Ok(_) => {
                let what = "its service version's rows do not match their service.published entry";
                return Err(self.integrity(conn, g.data_grant_id, what).await);
            }
            Err(e) => {
                let what = format!("its service version cannot be encoded: {e}");
                return Err(self.integrity(conn, g.data_grant_id, &what).await);
            }
        }

        // The grant's leaf as the row says it should be.
        let leaf = crate::grants::issued_event(
            &self.key,
            g.data_grant_id,
            g.resident_id,
            req.service_id,
            &g.leaf_hash,
            &g.scopes,
            &g.purpose,
            g.valid_from,
            g.valid_until,
        )
        .and_then(|e| Ok(e.encode()?));
        let leaf = match leaf {
            Ok(l) => l,
            Err(e) => {
                return Err(self.integrity(conn, g.data_grant_id, &format!("row cannot be encoded: {e}")).await);
            }
        };

        // 3. Inclusion in the newest quorum checkpoint and the status-map proof.
        let Some(index) = g.leaf_index.filter(|&i| i < g.quorum_size) else {
            return Err(deny(DenyReason::Pending, "the grant is not yet in a quorum-cosigned checkpoint"));
        };
        let index = u64::try_from(index).context("negative leaf index")?;
        let verified = self.verified_checkpoint(conn, u64::try_from(g.quorum_size)?).await?;
        let (path, (status, map_proof)) = self.proofs(conn, &verified, index, grant_id).await?;
        let now = OffsetDateTime::now_utc();
        let status_proof = StatusProof { entry: verified.status_entry.clone(), status, map_proof };
        let checked = chain::bundle::verify_entry(
            &verified.checkpoint,
            &EntryProof::new(index, &leaf, path),
            Some(&status_proof),
            u64::try_from(now.unix_timestamp()).unwrap_or(0),
        );
        let verdict = match checked {
            Ok((_, Some(v))) => v,
            Ok((_, None)) => return Err(self.integrity(conn, g.data_grant_id, "no status verdict").await),
            Err(e) => {
                return Err(self.integrity(conn, g.data_grant_id, &format!("does not match the ledger: {e}")).await);
            }
        };
        match verdict.status {
            Some(GrantStatus::Active { .. }) => {}
            Some(GrantStatus::Revoked { .. }) => {
                // The cosigned map says revoked but the database lost the revocation: deny,
                // and tell the operators.
                let detail =
                    format!("grant {}: revoked in the cosigned status map but not in the database", g.data_grant_id);
                crate::ledger::raise_alarm(conn, "grant_revocation_missing", &detail).await?;
                return Err(deny(DenyReason::Revoked, "the resident revoked this grant"));
            }
            None => {
                return Err(self.integrity(conn, g.data_grant_id, "absent from the cosigned status map").await);
            }
        }

        // 4. Window, scopes, access mode.
        if now < g.valid_from || now >= g.valid_until {
            return Err(deny(DenyReason::Expired, "the grant's validity window has ended"));
        }
        let missing: Vec<&str> = scopes.iter().filter(|s| !g.scopes.contains(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(deny(
                DenyReason::ScopeNotGranted,
                format!("not granted: {}; granted: {}", missing.join(", "), g.scopes.join(", ")),
            ));
        }
        // Only what the grant's window covers: the agency asked for `from`, the resident agreed
        // from `valid_from` (docs/gate.md).
        let (from, to, limit) = range;
        let to = to.min(g.valid_until);
        let range = (from.max(g.valid_from).min(to), to, limit);
        let checkpoint_size = g.quorum_size;
        Ok(Checked { grant: g, grant_id, scopes, range, now, checkpoint_size })
    }

    /// Step 5: the query restricted to the granted scopes, then the receipt, committed by the
    /// receipt writer; the data is returned only once the receipt is durable. If the receipt is
    /// refused at the last moment (a revocation or another read got in first), the data that
    /// was read is dropped, never returned.
    async fn release(
        &self,
        mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
        reader: &Reader,
        req: &ReadRequest,
        Checked { grant: g, grant_id, scopes, range, now, .. }: Checked,
    ) -> Result<Released, GateError> {
        let data = records::read(&mut conn, g.resident_id, &scopes, range).await?;
        // Back to the pool before waiting for the writer: a pool full of waiting reads must
        // never starve anything else.
        drop(conn);
        let read_at = now.replace_nanosecond(0).unwrap_or(now);
        let limit = match (g.access_mode.as_str(), g.max_reads_per_day) {
            ("one_off", _) => Some(Limit { since: OffsetDateTime::UNIX_EPOCH, allowed: 1, one_off: true }),
            ("recurring", Some(n)) => {
                Some(Limit { since: read_at - time::Duration::days(1), allowed: i64::from(n), one_off: false })
            }
            _ => None,
        };
        let leaf = Event::AccessReceipt {
            grant_id,
            reader: reader.id.clone(),
            scopes: scopes.clone(),
            purpose: g.purpose.clone(),
            time: u64::try_from(read_at.unix_timestamp()).unwrap_or(0),
        }
        .encode()
        .context("receipt leaf")?;
        let (reply, answer) = oneshot::channel();
        let job = ReceiptJob {
            grant: g.data_grant_id,
            resident: g.resident_id,
            service: req.service_id,
            reader: reader.id.clone(),
            scopes: scopes.clone(),
            purpose: g.purpose,
            read_at,
            limit,
            leaf,
            reply,
        };
        self.receipts.send(job).await.map_err(|_| anyhow::anyhow!("the receipt writer has stopped"))?;
        let (receipt_id, receipt_entry_id) =
            answer.await.map_err(|_| anyhow::anyhow!("the receipt writer dropped a receipt"))??;
        Ok(Released { receipt_id, receipt_entry_id, grant_id: g.data_grant_id, read_at, scopes, data })
    }

    async fn integrity(&self, conn: &mut PgConnection, grant: Uuid, what: &str) -> GateError {
        let detail = format!("grant {grant}: {what}");
        if let Err(e) = crate::ledger::raise_alarm(conn, "grant_integrity", &detail).await {
            return GateError::Internal(e);
        }
        deny(DenyReason::Integrity, "the stored grant does not match the cosigned ledger; operators were alerted")
    }

    /// The newest quorum checkpoint, verified once per size.
    async fn verified_checkpoint(&self, conn: &mut PgConnection, size: u64) -> Result<Arc<Verified>, GateError> {
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
    async fn map_proof(
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
    async fn proofs(
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

// ---------------------------------------------------------------------------------------------
// The receipt writer: group commit.
//
// Every read's receipt must be durable before its data is returned, and a commit waits for
// the disk. One transaction per read makes the disk the limit (about a thousand reads a
// second on the development machine, whatever the CPU). So reads hand their receipts to one
// writer task, which commits whatever has queued up while the previous batch was being written:
// one commit, one disk flush, for the whole batch. With no load a batch is a single receipt and
// nothing waits longer than before.
//
// Each batch, in one transaction: lock the batch's grant rows (FOR UPDATE, in id order), which
// blocks a concurrent revocation's foreign-key check until the batch commits; then, in fresh
// statements that see every revocation and receipt committed before the lock was granted,
// refuse receipts of revoked grants and of grants whose access mode allows no more reads
// (counting receipts accepted earlier in the same batch); then insert the ledger entries and
// the receipt rows; commit; answer each read.

/// Most receipts per batch.
const RECEIPT_BATCH: usize = 512;
/// Reads that may wait for the writer before new ones wait to enqueue.
const RECEIPT_QUEUE: usize = 4096;

struct Limit {
    since: OffsetDateTime,
    allowed: i64,
    one_off: bool,
}

struct ReceiptJob {
    grant: Uuid,
    resident: Uuid,
    service: Uuid,
    reader: String,
    scopes: Vec<String>,
    purpose: String,
    read_at: OffsetDateTime,
    limit: Option<Limit>,
    /// The encoded `access.receipt` leaf.
    leaf: Vec<u8>,
    reply: oneshot::Sender<Result<(Uuid, i64), GateError>>,
}

async fn receipt_writer(db: PgPool, mut jobs: mpsc::Receiver<ReceiptJob>) {
    let mut batch = Vec::with_capacity(RECEIPT_BATCH);
    while jobs.recv_many(&mut batch, RECEIPT_BATCH).await > 0 {
        match write_receipts(&db, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                tracing::error!(error = %e, receipts = batch.len(), "writing a batch of receipts failed");
                for job in batch.drain(..) {
                    let _ =
                        job.reply.send(Err(GateError::Internal(anyhow::anyhow!("writing the receipt failed: {e}"))));
                }
            }
        }
    }
}

async fn write_receipts(db: &PgPool, batch: &[ReceiptJob]) -> anyhow::Result<Vec<Result<(Uuid, i64), GateError>>> {
    let mut grants: Vec<Uuid> = batch.iter().map(|j| j.grant).collect();
    grants.sort_unstable();
    grants.dedup();
    let mut tx = db.begin().await?;
    sqlx::query!(
        "select data_grant_id from data_grant where data_grant_id = any($1) order by data_grant_id for update",
        &grants
    )
    .fetch_all(&mut *tx)
    .await?;
    let revoked: Vec<Uuid> =
        sqlx::query_scalar!("select data_grant_id from grant_revocation where data_grant_id = any($1)", &grants)
            .fetch_all(&mut *tx)
            .await?;
    let (limited, since): (Vec<Uuid>, Vec<OffsetDateTime>) =
        batch.iter().filter_map(|j| j.limit.as_ref().map(|l| (j.grant, l.since))).unzip();
    let mut used: HashMap<(Uuid, OffsetDateTime), i64> = HashMap::new();
    let mut tampered: Vec<Uuid> = Vec::new();
    if !limited.is_empty() {
        // The limit counts receipt rows; deleting some would reset it. Every receipt row was
        // written with its access.receipt entry, in one transaction, and neither table allows
        // a delete: a difference between the two counts is a deletion behind the server's back.
        for r in sqlx::query!(
            // language=PostgreSQL
            r#"select l.grant_id as "grant_id!", l.since as "since!",
                      (select count(*) from access_receipt a where a.data_grant_id = l.grant_id and a.read_at > l.since)
                          as "used!",
                      (select count(*) from access_receipt a where a.data_grant_id = l.grant_id) as "rows!",
                      (select count(*) from ledger_entry e
                       where e.kind = 'access.receipt' and substring(e.body from 3 for 16) = uuid_send(l.grant_id))
                          as "entries!"
               from unnest($1::uuid[], $2::timestamptz[]) as l(grant_id, since)"#,
            &limited,
            &since
        )
        .fetch_all(&mut *tx)
        .await?
        {
            if r.rows != r.entries && !tampered.contains(&r.grant_id) {
                let detail = format!(
                    "grant {}: {} receipt rows but {} access.receipt entries in the ledger",
                    r.grant_id, r.rows, r.entries
                );
                crate::ledger::raise_alarm(&mut tx, "receipt_deleted", &detail).await?;
                tampered.push(r.grant_id);
            }
            used.insert((r.grant_id, r.since), r.used);
        }
    }
    // Decide in arrival order; an accepted receipt counts against later ones of the batch.
    let mut accepted_per_grant: HashMap<Uuid, i64> = HashMap::new();
    let mut outcomes: Vec<Result<(Uuid, i64), GateError>> = Vec::with_capacity(batch.len());
    for job in batch {
        if revoked.contains(&job.grant) {
            outcomes.push(Err(deny(DenyReason::Revoked, "the resident revoked this grant")));
            continue;
        }
        if tampered.contains(&job.grant) {
            outcomes.push(Err(deny(
                DenyReason::Integrity,
                "the grant's receipts do not match the ledger; operators were alerted",
            )));
            continue;
        }
        if let Some(l) = &job.limit {
            let earlier = accepted_per_grant.get(&job.grant).copied().unwrap_or(0);
            if used.get(&(job.grant, l.since)).copied().unwrap_or(0) + earlier >= l.allowed {
                let what = if l.one_off {
                    "this one-off grant has been used".to_owned()
                } else {
                    format!("at most {} reads per 24 hours", l.allowed)
                };
                outcomes.push(Err(deny(DenyReason::FrequencyExceeded, what)));
                continue;
            }
        }
        *accepted_per_grant.entry(job.grant).or_default() += 1;
        outcomes.push(Ok((Uuid::new_v4(), 0)));
    }
    let accepted: Vec<(usize, &ReceiptJob)> = batch.iter().enumerate().filter(|(i, _)| outcomes[*i].is_ok()).collect();
    if !accepted.is_empty() {
        // The ledger entries, as `ledger::enqueue` writes them, in one statement. Entries are
        // matched back to receipts by their bytes: two identical leaves (same grant, reader,
        // scopes and second) are interchangeable.
        let leaves: Vec<Vec<u8>> = accepted.iter().map(|(_, j)| j.leaf.clone()).collect();
        let mut ids_by_leaf: HashMap<Vec<u8>, Vec<i64>> = HashMap::new();
        for r in sqlx::query!(
            "insert into ledger_entry (kind, body) select 'access.receipt', b from unnest($1::bytea[]) as b
             returning ledger_entry_id, body",
            &leaves
        )
        .fetch_all(&mut *tx)
        .await?
        {
            ids_by_leaf.entry(r.body).or_default().push(r.ledger_entry_id);
        }
        let mut cols = ReceiptColumns::default();
        for (i, job) in &accepted {
            let entry = ids_by_leaf
                .get_mut(&job.leaf)
                .and_then(Vec::pop)
                .context("a receipt's ledger entry did not come back from the insert")?;
            let Ok((receipt_id, entry_id)) = &mut outcomes[*i] else { unreachable!("accepted above") };
            *entry_id = entry;
            cols.push(*receipt_id, job, entry);
        }
        sqlx::query!(
            // language=PostgreSQL
            r#"insert into access_receipt (access_receipt_id, data_grant_id, resident_id, service_id, reader, scopes,
                                           purpose, read_at, ledger_entry_id)
               select id, grant_id, resident_id, service_id, reader, string_to_array(scopes, ','), purpose, read_at,
                      entry_id
               from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                           $8::timestamptz[], $9::bigint[])
                    as r(id, grant_id, resident_id, service_id, reader, scopes, purpose, read_at, entry_id)"#,
            &cols.id,
            &cols.grant,
            &cols.resident,
            &cols.service,
            &cols.reader,
            &cols.scopes,
            &cols.purpose,
            &cols.read_at,
            &cols.entry
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Receipt rows as column arrays for one `unnest` insert. Scopes travel comma-joined: scope
/// keys are lowercase dotted words, never containing a comma.
#[derive(Default)]
struct ReceiptColumns {
    id: Vec<Uuid>,
    grant: Vec<Uuid>,
    resident: Vec<Uuid>,
    service: Vec<Uuid>,
    reader: Vec<String>,
    scopes: Vec<String>,
    purpose: Vec<String>,
    read_at: Vec<OffsetDateTime>,
    entry: Vec<i64>,
}

impl ReceiptColumns {
    fn push(&mut self, id: Uuid, job: &ReceiptJob, entry: i64) {
        self.id.push(id);
        self.grant.push(job.grant);
        self.resident.push(job.resident);
        self.service.push(job.service);
        self.reader.push(job.reader.clone());
        self.scopes.push(job.scopes.join(","));
        self.purpose.push(job.purpose.clone());
        self.read_at.push(job.read_at);
        self.entry.push(entry);
    }
}
