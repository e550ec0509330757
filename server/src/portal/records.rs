//! The server's side of `app::serverfns::records`: a resident's confirmation records with
//! their versions and seals, erasure at the resident's request, and the public seal check.

use std::sync::Arc;

use app::error::ssr::internal;
use app::serverfns::records::ssr::{Records, fail};
use app::serverfns::records::{AppError, ErasedView, RecordVersionView, RecordView, RecordsView, SealCheck};
use sqlx::PgPool;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::domain::records::{self, RecordError, Requester};
use crate::ledger::LedgerSettings;

pub struct RecordService {
    db: PgPool,
    ledger: Arc<LedgerSettings>,
}

impl RecordService {
    #[must_use]
    pub fn new(db: PgPool, ledger: Arc<LedgerSettings>) -> Self {
        Self { db, ledger }
    }
}

#[async_trait::async_trait]
impl Records for RecordService {
    async fn records(&self, resident: Uuid) -> Result<RecordsView, AppError> {
        let rows = sqlx::query!(
            // language=PostgreSQL
            r#"select c.confirmation_record_id, c.version, c.scope_key, c.data, c.recorded_at, c.superseded_at,
                      b.period_end as "sealed_at?",
                      exists (select 1 from ledger_checkpoint k
                              where k.quorum_at is not null and k.tree_size > e.leaf_index) as "provable!"
               from confirmation_record c
               left join record_batch b using (record_batch_id)
               left join ledger_entry e on e.ledger_entry_id = b.ledger_entry_id
               where c.resident_id = $1
               order by c.scope_key, c.confirmation_record_id, c.version desc"#,
            resident
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?;
        let mut out: Vec<RecordView> = Vec::new();
        for r in rows {
            let content = chain::record::canonical_json(&r.data).map_err(internal)?;
            let version = RecordVersionView {
                version: r.version,
                content: String::from_utf8(content).map_err(internal)?,
                recorded_at: rfc3339(r.recorded_at),
                superseded_at: r.superseded_at.map(rfc3339),
                provable: r.provable,
                sealed_at: r.sealed_at.map(rfc3339),
            };
            match out.last_mut() {
                Some(last) if last.record_id == r.confirmation_record_id => last.versions.push(version),
                _ => out.push(RecordView {
                    record_id: r.confirmation_record_id,
                    scope: r.scope_key,
                    versions: vec![version],
                }),
            }
        }
        let erased = sqlx::query!(
            // language=PostgreSQL
            r#"select x.confirmation_record_id, x.scope_key, x.versions, x.sealed_versions, x.requested_by,
                      x.erased_at, e.leaf_index
               from record_erasure x join ledger_entry e using (ledger_entry_id)
               where x.resident_id = $1 order by x.erased_at desc"#,
            resident
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|x| ErasedView {
            record_id: x.confirmation_record_id,
            scope: x.scope_key,
            versions: x.versions,
            sealed_versions: x.sealed_versions,
            requested_by: x.requested_by,
            erased_at: rfc3339(x.erased_at),
            leaf_index: x.leaf_index,
        })
        .collect();
        Ok(RecordsView { records: out, erased })
    }

    async fn erase(&self, resident: Uuid, record: Uuid) -> Result<ErasedView, AppError> {
        let mut tx = self.db.begin().await.map_err(internal)?;
        let erased = match records::erase(&mut tx, record, &Requester::Resident(resident)).await {
            Ok(e) => e,
            Err(RecordError::NotFound(_)) => return Err(fail(AppError::NotFound("record".into()))),
            Err(RecordError::Other(e)) => return Err(internal(format!("{e:#}"))),
        };
        let scope =
            sqlx::query_scalar!("select scope_key from record_erasure where confirmation_record_id = $1", record)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        tracing::info!(%record, versions = erased.versions, "record erased at the resident's request");
        Ok(ErasedView {
            record_id: record,
            scope,
            versions: i32::try_from(erased.versions).map_err(internal)?,
            sealed_versions: i32::try_from(erased.sealed_versions).map_err(internal)?,
            requested_by: Requester::Resident(resident).label(),
            erased_at: rfc3339(erased.erased_at),
            leaf_index: None,
        })
    }

    async fn check(&self, proof: String, content: Option<String>) -> Result<SealCheck, AppError> {
        let invalid = |field: &str, problem: String| fail(AppError::Invalid { field: field.to_owned(), problem });
        let policy = self.ledger.policy.as_ref().ok_or_else(|| {
            invalid("proof", "this portal has no witnesses configured, so it cannot check a seal".into())
        })?;
        let bundle = chain::ProofBundle::from_json(&proof).map_err(|e| invalid("proof", e.to_string()))?;
        let verdict = chain::verify_bundle(&bundle, policy, crate::ledger::unix_now())
            .map_err(|e| invalid("proof", format!("NOT VERIFIED: {e}")))?;
        let record = verdict.record.ok_or_else(|| {
            invalid("proof", format!("this proves a {}, not a sealed record", verdict.event.type_name()))
        })?;
        if let Some(text) = &content {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid("content", format!("not JSON: {e}")))?;
            chain::record::check_content(&record.record, &value)
                .map_err(|e| invalid("content", format!("NOT VERIFIED: {e}")))?;
        }
        let time = |t: u64| {
            i64::try_from(t)
                .ok()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(rfc3339)
                .unwrap_or_default()
        };
        Ok(SealCheck {
            record_id: Uuid::from_bytes(record.record.record_id),
            version: record.record.version,
            scope: record.record.scope.clone(),
            recorded_at: time(record.record.recorded_at),
            sealed_by: time(record.sealed_by),
            checkpoint_size: verdict.checkpoint.size,
            cosigners: verdict.cosigners.iter().map(|c| c.name.clone()).collect(),
            content_checked: content.is_some(),
            anchor: verdict.anchor.map(|a| format!("{} / {}", a.chain_id, a.tx_hash)),
        })
    }
}
