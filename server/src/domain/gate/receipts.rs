//! Step 5: the data, then the receipt, then the release; and the receipt writer that commits
//! receipts in groups.

use std::collections::HashMap;

use anyhow::Context as _;
use chain::Event;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::domain::records::{self};
use crate::domain::services::AccessMode;

use super::check::Checked;
use super::reasons::deny;
use super::{DenyReason, Gate, GateError, ReadRequest, Reader, Released};

impl Gate {
    /// Step 5: the query restricted to the granted scopes, then the receipt, committed by the
    /// receipt writer; the data is returned only once the receipt is durable. If the receipt is
    /// refused at the last moment (a revocation or another read got in first), the data that
    /// was read is dropped, never returned.
    pub(super) async fn release(
        &self,
        mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
        reader: &Reader,
        req: &ReadRequest,
        Checked { grant: g, access, grant_id, scopes, range, now, verified_at, verified_proof, .. }: Checked,
    ) -> Result<Released, GateError> {
        let data = match read_sealed(&mut conn, &self.ledger, g.resident_id, &scopes, range).await {
            Ok(data) => data,
            Err(e) => {
                // A confirmation record altered in storage is never released: alarm, then fail.
                if let Some(t) = e.downcast_ref::<records::Tampered>() {
                    crate::ledger::raise_alarm(&mut conn, "record.tampered", &t.to_string()).await?;
                }
                return Err(e.into());
            }
        };
        // Back to the pool before waiting for the writer: a pool full of waiting reads must
        // never starve anything else.
        drop(conn);
        let read_at = now.replace_nanosecond(0).unwrap_or(now);
        let limit = match access {
            AccessMode::OneOff => Some(Limit { since: OffsetDateTime::UNIX_EPOCH, allowed: 1, one_off: true }),
            AccessMode::Recurring { max_reads_per_day: n } => {
                Some(Limit { since: read_at - time::Duration::days(1), allowed: i64::from(n), one_off: false })
            }
            AccessMode::Ongoing => None,
        };
        let leaf = Event::AccessReceipt {
            grant_id,
            reader: reader.id.clone(),
            scopes: scopes.clone(),
            purpose: g.purpose.clone(),
            time: u64::try_from(read_at.unix_timestamp()).unwrap_or(0),
            verified_at: Some(verified_at),
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
            verified_size: i64::try_from(verified_at.size).context("checkpoint size")?,
            verified_proof,
            reply,
        };
        self.receipts.send(job).await.map_err(|_| anyhow::anyhow!("the receipt writer has stopped"))?;
        let (receipt_id, receipt_entry_id) =
            answer.await.map_err(|_| anyhow::anyhow!("the receipt writer dropped a receipt"))??;
        Ok(Released { receipt_id, receipt_entry_id, grant_id: g.data_grant_id, read_at, scopes, data })
    }
}

/// The granted scopes' data, every confirmation record with its existence proof.
async fn read_sealed(
    conn: &mut sqlx::PgConnection,
    ledger: &crate::ledger::LedgerSettings,
    resident: Uuid,
    scopes: &[String],
    range: (OffsetDateTime, OffsetDateTime, i64),
) -> anyhow::Result<std::collections::BTreeMap<String, records::ScopeData>> {
    let mut data = records::read(conn, resident, scopes, range).await?;
    crate::ledger::bundle::attach_seals(conn, ledger, &mut data).await?;
    Ok(data)
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
pub(super) const RECEIPT_QUEUE: usize = 4096;

pub(super) struct Limit {
    pub(super) since: OffsetDateTime,
    pub(super) allowed: i64,
    pub(super) one_off: bool,
}

pub(super) struct ReceiptJob {
    pub(super) grant: Uuid,
    pub(super) resident: Uuid,
    pub(super) service: Uuid,
    pub(super) reader: String,
    pub(super) scopes: Vec<String>,
    pub(super) purpose: String,
    pub(super) read_at: OffsetDateTime,
    pub(super) limit: Option<Limit>,
    /// The encoded `access.receipt` leaf.
    pub(super) leaf: Vec<u8>,
    /// The checkpoint the leaf names, and the grant's entry and status proofs in it.
    pub(super) verified_size: i64,
    pub(super) verified_proof: (chain::bundle::EntryProof, chain::bundle::StatusProof),
    pub(super) reply: oneshot::Sender<Result<(Uuid, i64), GateError>>,
}

pub(super) async fn receipt_writer(db: PgPool, mut jobs: mpsc::Receiver<ReceiptJob>) {
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
        // What the gate verified, once per grant and checkpoint (shared by that grant's receipts).
        let mut proofs: HashMap<(Uuid, i64), (serde_json::Value, serde_json::Value)> = HashMap::new();
        for (_, job) in &accepted {
            if let std::collections::hash_map::Entry::Vacant(slot) = proofs.entry((job.grant, job.verified_size)) {
                let (entry, status) = &job.verified_proof;
                slot.insert((serde_json::to_value(entry)?, serde_json::to_value(status)?));
            }
        }
        let (mut p_grant, mut p_size, mut p_entry, mut p_status) = (vec![], vec![], vec![], vec![]);
        for ((grant, size), (entry, status)) in proofs {
            p_grant.push(grant);
            p_size.push(size);
            p_entry.push(entry);
            p_status.push(status);
        }
        sqlx::query!(
            "insert into grant_checkpoint_proof (data_grant_id, checkpoint_size, grant_entry, status)
             select * from unnest($1::uuid[], $2::bigint[], $3::jsonb[], $4::jsonb[])
             on conflict do nothing",
            &p_grant,
            &p_size,
            &p_entry,
            &p_status
        )
        .execute(&mut *tx)
        .await?;
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
                                           purpose, read_at, ledger_entry_id, verified_size)
               select id, grant_id, resident_id, service_id, reader, string_to_array(scopes, ','), purpose, read_at,
                      entry_id, verified_size
               from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                           $8::timestamptz[], $9::bigint[], $10::bigint[])
                    as r(id, grant_id, resident_id, service_id, reader, scopes, purpose, read_at, entry_id,
                         verified_size)"#,
            &cols.id,
            &cols.grant,
            &cols.resident,
            &cols.service,
            &cols.reader,
            &cols.scopes,
            &cols.purpose,
            &cols.read_at,
            &cols.entry,
            &cols.verified_size
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
pub(super) struct ReceiptColumns {
    pub(super) id: Vec<Uuid>,
    pub(super) grant: Vec<Uuid>,
    pub(super) resident: Vec<Uuid>,
    pub(super) service: Vec<Uuid>,
    pub(super) reader: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) purpose: Vec<String>,
    pub(super) read_at: Vec<OffsetDateTime>,
    pub(super) entry: Vec<i64>,
    pub(super) verified_size: Vec<i64>,
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
        self.verified_size.push(job.verified_size);
    }
}
