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

mod check;
mod proofs;
mod reasons;
mod receipts;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chain::Pseudonym;
use chain::status::{MemoryStatusStore, StatusMap};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

pub use self::check::Checked;
use self::proofs::{Cache, StatusReplica};
pub(crate) use self::reasons::deny;
pub use self::reasons::{DenyReason, GateError};
use self::receipts::{RECEIPT_QUEUE, ReceiptJob, receipt_writer};
use crate::domain::pseudonym::PseudonymKey;
use crate::domain::records::{Range, ScopeData};
use crate::ledger::LedgerSettings;
use crate::ledger::store::HashCache;

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

    /// The key pseudonyms are derived with (recomputed from rows, never read from them).
    pub(crate) fn pseudonyms(&self) -> &PseudonymKey {
        &self.key
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
}
