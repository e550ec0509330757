//! The gate: the one place through which every read of a resident's data by anyone but the
//! resident passes (docs/gate.md). In order:
//!
//! 1. find the newest grant of this pseudonym at this service, re-reading the row every time;
//!    a revocation row denies at once (`revoked`), before it is cosigned;
//! 2. recompute the grant's `grant.issued` leaf from the row (pseudonym recomputed from the
//!    resident, purpose and version hash from the immutable service version);
//! 3. verify its inclusion in the newest quorum-cosigned checkpoint and the status-map proof
//!    that the grant is active there (`pending` while no such checkpoint covers it; a leaf
//!    that does not match, or a map that disagrees, is `integrity` and raises an alarm);
//! 4. check the window (`expired`), the scopes (`scope_not_granted`), the access mode
//!    (`frequency_exceeded`);
//! 5. in one transaction: lock the grant, re-check revocation and frequency, write the
//!    `access.receipt` row and ledger entry, run the query restricted to the granted scopes,
//!    commit; only then is the data returned ("no receipt, no data").
//!
//! Cached per checkpoint: the verified checkpoint (signatures, quorum, its status.root entry)
//! and proof paths, which are fixed for a given checkpoint. Never cached: the grant row, the
//! leaf recomputed from it, or the verification of the leaf against those paths.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chain::bundle::{EntryProof, StatusProof};
use chain::note::Checkpoint;
use chain::{Event, GrantId, GrantStatus, Hash, MapProof, Pseudonym, SignedCheckpoint};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ledger::LedgerSettings;
use crate::ledger::bundle::entry_proof;
use crate::ledger::store::{status_proof, with_stored_hashes};
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
}

struct GrantRow {
    data_grant_id: Uuid,
    resident_id: Uuid,
    scopes: Vec<String>,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    purpose: String,
    leaf_hash: Vec<u8>,
    access_mode: String,
    max_reads_per_day: Option<i32>,
    agency_id: String,
    leaf_index: Option<i64>,
    revoked: bool,
    quorum_size: i64,
}

impl Gate {
    #[must_use]
    pub fn new(ledger: Arc<LedgerSettings>, key: Arc<PseudonymKey>) -> Self {
        Self { ledger, key, cache: Mutex::new(Cache::default()) }
    }

    /// Reads a resident's data for `reader` through every check above.
    ///
    /// # Errors
    /// [`GateError::Denied`] with its reason; [`GateError::Invalid`] for a malformed range;
    /// [`GateError::Internal`] for storage failures (no data and no receipt then).
    pub async fn read(&self, db: &PgPool, reader: &Reader, req: &ReadRequest) -> Result<Released, GateError> {
        let mut conn = db.acquire().await?;
        let checked = self.check(&mut conn, reader, req).await?;
        self.release(&mut conn, reader, req, checked).await
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
            select g.data_grant_id, g.resident_id, g.scopes, g.valid_from, g.valid_until, sv.purpose, sv.leaf_hash,
                   sv.access_mode, sv.max_reads_per_day, s.agency_id, e.leaf_index as "leaf_index?",
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

        // 2. The leaf as the row says it should be.
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
        Ok(Checked { grant: g, grant_id, scopes, range, now })
    }

    /// Step 5: receipt, then query, one transaction; data leaves only after the commit.
    async fn release(
        &self,
        conn: &mut PgConnection,
        reader: &Reader,
        req: &ReadRequest,
        Checked { grant: g, grant_id, scopes, range, now }: Checked,
    ) -> Result<Released, GateError> {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // FOR UPDATE also blocks a concurrent revocation's foreign-key check until we commit,
        // and makes us see one that committed first: revocation always wins the race.
        let revoked = sqlx::query_scalar!(
            r#"select exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id) as "r!"
               from data_grant g where g.data_grant_id = $1 for update"#,
            g.data_grant_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if revoked {
            return Err(deny(DenyReason::Revoked, "the resident revoked this grant"));
        }
        let read_at = now.replace_nanosecond(0).unwrap_or(now);
        let since = match (g.access_mode.as_str(), g.max_reads_per_day) {
            ("one_off", _) => Some((OffsetDateTime::UNIX_EPOCH, 1)),
            ("recurring", Some(n)) => Some((read_at - time::Duration::days(1), i64::from(n))),
            _ => None,
        };
        if let Some((since, allowed)) = since {
            let used: i64 = sqlx::query_scalar!(
                r#"select count(*) as "n!" from access_receipt where data_grant_id = $1 and read_at > $2"#,
                g.data_grant_id,
                since
            )
            .fetch_one(&mut *tx)
            .await?;
            if used >= allowed {
                let what = if g.access_mode == "one_off" {
                    "this one-off grant has been used".to_owned()
                } else {
                    format!("at most {allowed} reads per 24 hours")
                };
                return Err(deny(DenyReason::FrequencyExceeded, what));
            }
        }
        let event = Event::AccessReceipt {
            grant_id,
            reader: reader.id.clone(),
            scopes: scopes.clone(),
            purpose: g.purpose.clone(),
            time: u64::try_from(read_at.unix_timestamp()).unwrap_or(0),
        };
        let receipt_entry_id = crate::ledger::enqueue(&mut tx, &event).await?;
        let receipt_id = sqlx::query_scalar!(
            // language=PostgreSQL
            r#"insert into access_receipt (data_grant_id, resident_id, service_id, reader, scopes, purpose, read_at,
                                           ledger_entry_id)
               values ($1, $2, $3, $4, $5, $6, $7, $8) returning access_receipt_id"#,
            g.data_grant_id,
            g.resident_id,
            req.service_id,
            reader.id,
            &scopes,
            g.purpose,
            read_at,
            receipt_entry_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let data = records::read(&mut tx, g.resident_id, &scopes, range).await?;
        tx.commit().await?;
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
            None => with_stored_hashes(conn, |r| chain::tree::prove_inclusion(size, index, r)).await?,
        };
        let status = match status {
            Some(s) => s,
            None => {
                let Event::StatusRoot { map_version, .. } =
                    Event::decode(&v.status_entry.leaf_bytes().context("status entry")?).context("status entry")?
                else {
                    return Err(anyhow::anyhow!("checkpoint {size} does not end with a status.root entry").into());
                };
                status_proof(conn, map_version, &grant).await?
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
