//! Residents' data as the gate releases it: confirmation records with their content hash
//! (and, filled in by [`crate::ledger::bundle::attach_seals`], their existence proofs),
//! behavioral records by time range, and predicates computed on read and released as a
//! derived value only (yes/no, or the district), never the record behind them. Also the
//! life of a confirmation record: amendment (a new version, the old one kept with its seal)
//! and erasure (content and salts deleted, a purge receipt on the ledger).
//!
//! These functions take a connection and trust their caller: the gate calls them inside its
//! receipt transaction for an agency, the portal for the resident's own data. Nothing here
//! decides who may read.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// `income.below_benefit_threshold`: yearly income under ¥36,000 (in fen, i.e. cents).
pub const BENEFIT_THRESHOLD_CENTS: i64 = 3_600_000;
/// Most behavioral records returned per scope in one read.
pub const MAX_RECORDS: u32 = 1000;

/// Which behavioral records a read asks for.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Earliest time (inclusive, RFC 3339). Default: 31 days before `to`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Latest time (exclusive, RFC 3339). Default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    /// Most records per scope, newest first (1–1000, default 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl Range {
    /// The window and limit with defaults applied.
    ///
    /// # Errors
    /// A limit out of bounds or `from` not before `to`, naming the field.
    pub fn resolve(&self) -> Result<(OffsetDateTime, OffsetDateTime, i64), (&'static str, String)> {
        let to = self.to.unwrap_or_else(OffsetDateTime::now_utc);
        let from = self.from.unwrap_or(to - time::Duration::days(31));
        if from >= to {
            return Err(("from", "must be before `to`".into()));
        }
        let limit = self.limit.unwrap_or(200);
        if !(1..=MAX_RECORDS).contains(&limit) {
            return Err(("limit", format!("must be between 1 and {MAX_RECORDS}")));
        }
        Ok((from, to, i64::from(limit)))
    }
}

/// One confirmation record (its current version).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConfirmationRecord {
    pub id: Uuid,
    /// 1 for the record as first recorded; each amendment adds one.
    pub version: u32,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// SHA-256 (hex) of the record's canonical JSON (keys sorted, no spaces).
    pub content_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: OffsetDateTime,
    /// The existence proof of this version (a proof bundle, version 3, docs/ledger-format.md
    /// §9): its salted commitment in a `records.batch` entry of a quorum-cosigned checkpoint.
    /// Check it with `onecity verify --content <record.json> <seal.json>` or the chain crate's
    /// `verify_bundle` and `record::check_content`. `null` until the version is sealed and that
    /// batch is cosigned (seconds to minutes after it was recorded).
    #[schema(value_type = Option<Object>)]
    pub seal: Option<chain::ProofBundle>,
}

/// One behavioral record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BehavioralRecord {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// What one scope released.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScopeData {
    Confirmation {
        records: Vec<ConfirmationRecord>,
    },
    /// `truncated`: more records matched than the limit; ask again with an earlier `to`.
    Behavioral {
        records: Vec<BehavioralRecord>,
        truncated: bool,
    },
    /// The derived value only: a boolean, a district id, or `null` when the city has no record
    /// to derive it from.
    Predicate {
        #[schema(value_type = Object)]
        value: serde_json::Value,
    },
}

/// The catalogue's scope kinds, read once per process: the catalogue is reference data that
/// only migrations change, and migrations run before the server serves (a new scope needs a
/// restart, which a migration brings anyway). Saves a query on every read.
static SCOPE_KINDS: tokio::sync::OnceCell<HashMap<String, String>> = tokio::sync::OnceCell::const_new();

async fn scope_kinds(conn: &mut PgConnection) -> anyhow::Result<&'static HashMap<String, String>> {
    SCOPE_KINDS
        .get_or_try_init(|| async {
            let rows = sqlx::query!("select scope_key, kind from scope").fetch_all(&mut *conn).await?;
            anyhow::Ok(rows.into_iter().map(|r| (r.scope_key, r.kind)).collect())
        })
        .await
}

/// SHA-256 of a record's canonical JSON ([`chain::record::canonical_json`]), what the seal
/// commits to and any verifier recomputes.
///
/// # Panics
/// When `data` is not a JSON object (the table allows nothing else).
#[must_use]
pub fn content_hash(data: &serde_json::Value) -> [u8; 32] {
    chain::record::content_hash(data).expect("a record's content is a JSON object").0
}

/// Reads `scopes` of a resident's data. Unknown scopes are an error (the caller validated them).
///
/// # Errors
/// Database errors; a scope missing from the catalogue.
pub async fn read(
    conn: &mut PgConnection,
    resident_id: Uuid,
    scopes: &[String],
    (from, to, limit): (OffsetDateTime, OffsetDateTime, i64),
) -> anyhow::Result<BTreeMap<String, ScopeData>> {
    let kinds = scope_kinds(conn).await?;
    let mut out = BTreeMap::new();
    for scope in scopes {
        let kind =
            kinds.get(scope).map(String::as_str).with_context(|| format!("scope {scope:?} is not in the catalogue"))?;
        let data = match kind {
            "confirmation" => ScopeData::Confirmation { records: confirmation(conn, resident_id, scope).await? },
            "behavioral" => {
                let mut records = sqlx::query_as!(
                    BehavioralRecord,
                    // language=PostgreSQL
                    r#"select occurred_at, data from behavioral_record
                       where resident_id = $1 and scope_key = $2 and occurred_at >= $3 and occurred_at < $4
                       order by occurred_at desc limit $5"#,
                    resident_id,
                    scope,
                    from,
                    to,
                    limit + 1
                )
                .fetch_all(&mut *conn)
                .await?;
                let truncated = records.len() as i64 > limit;
                records.truncate(usize::try_from(limit)?);
                ScopeData::Behavioral { records, truncated }
            }
            _ => ScopeData::Predicate { value: predicate(conn, resident_id, scope).await? },
        };
        out.insert(scope.clone(), data);
    }
    Ok(out)
}

async fn confirmation(
    conn: &mut PgConnection,
    resident_id: Uuid,
    scope: &str,
) -> anyhow::Result<Vec<ConfirmationRecord>> {
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select confirmation_record_id, version, data, content_hash, recorded_at from confirmation_record
           where resident_id = $1 and scope_key = $2 and superseded_at is null
           order by recorded_at desc limit 1000"#,
        resident_id,
        scope
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            // A content edited behind the server's back no longer hashes to its stored hash (or,
            // with the hash edited too, to its seal): never release it as the city's record.
            if content_hash(&r.data)[..] != r.content_hash[..] {
                return Err(anyhow::Error::new(Tampered {
                    record: r.confirmation_record_id,
                    version: r.version,
                    what: "its content does not hash to its stored content hash",
                }));
            }
            Ok(ConfirmationRecord {
                id: r.confirmation_record_id,
                version: u32::try_from(r.version)?,
                data: r.data,
                content_hash: hex::encode(r.content_hash),
                recorded_at: r.recorded_at,
                seal: None,
            })
        })
        .collect()
}

/// A stored confirmation record that no longer matches what was recorded or sealed.
#[derive(Debug, thiserror::Error)]
#[error("confirmation record {record} version {version} was altered in storage: {what}")]
pub struct Tampered {
    pub record: Uuid,
    pub version: i32,
    pub what: &'static str,
}

async fn predicate(conn: &mut PgConnection, resident_id: Uuid, scope: &str) -> anyhow::Result<serde_json::Value> {
    let r = sqlx::query!(
        // language=PostgreSQL
        r#"select r.district_id,
                  c.birth_date <= (current_date - interval '65 years')::date as over_65,
                  c.annual_income_cents < $2 as below_threshold
           from resident r left join civil_record c using (resident_id)
           where r.resident_id = $1"#,
        resident_id,
        BENEFIT_THRESHOLD_CENTS
    )
    .fetch_optional(&mut *conn)
    .await?
    .context("no such resident")?;
    Ok(match scope {
        "identity.age_over_65" => r.over_65.into(),
        "income.below_benefit_threshold" => r.below_threshold.into(),
        "residence.district" => r.district_id.into(),
        _ => serde_json::Value::Null,
    })
}

/// Adds a confirmation record, hashing its content.
///
/// # Errors
/// Database errors (unknown resident or scope, data that is not a JSON object).
pub async fn add_confirmation(
    conn: &mut PgConnection,
    resident_id: Uuid,
    scope: &str,
    data: &serde_json::Value,
) -> anyhow::Result<Uuid> {
    Ok(sqlx::query_scalar!(
        "insert into confirmation_record (resident_id, scope_key, data, content_hash) values ($1, $2, $3, $4)
         returning confirmation_record_id",
        resident_id,
        scope,
        data,
        &content_hash(data)[..]
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Why a record cannot be amended or erased.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No current record with that id (for that resident, when one is given).
    #[error("there is no confirmation record {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

/// Amends a record: its current version is marked superseded (and keeps its content, salt
/// and seal, so its existence proof stays valid for the time it held) and version n+1 with
/// `data` and a fresh salt becomes current, to be sealed in the next batch. Returns the new
/// version. Runs in the caller's transaction.
///
/// # Errors
/// [`RecordError::NotFound`] when the record has no current version; database errors.
pub async fn amend_confirmation(
    conn: &mut PgConnection,
    record: Uuid,
    data: &serde_json::Value,
) -> Result<u32, RecordError> {
    let now = OffsetDateTime::now_utc();
    let old = sqlx::query!(
        // language=PostgreSQL
        r#"update confirmation_record set superseded_at = $2
           where confirmation_record_id = $1 and superseded_at is null
           returning version, resident_id, scope_key"#,
        record,
        now
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(RecordError::NotFound(record))?;
    let version = old.version + 1;
    sqlx::query!(
        // language=PostgreSQL
        r#"insert into confirmation_record
               (confirmation_record_id, version, resident_id, scope_key, data, content_hash, recorded_at)
           values ($1, $2, $3, $4, $5, $6, $7)"#,
        record,
        version,
        old.resident_id,
        old.scope_key,
        data,
        &content_hash(data)[..],
        now
    )
    .execute(&mut *conn)
    .await?;
    Ok(u32::try_from(version).context("version")?)
}

/// Who asked for an erasure, as the purge receipt records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// The resident the record is about, from their portal session.
    Resident(Uuid),
    /// A city operator acting on a request received elsewhere (`onecity records erase`).
    Operator(String),
}

impl Requester {
    /// The `requested_by` field of the `records.erased` entry.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Resident(_) => "resident".to_owned(),
            Self::Operator(who) => format!("operator:{who}"),
        }
    }
}

/// What an erasure did.
#[derive(Clone, Debug, Serialize)]
pub struct Erased {
    pub record: Uuid,
    pub versions: u32,
    /// Versions that were sealed: their commitments stay in their batches, now unprovable.
    pub sealed_versions: u32,
    /// The purge receipt (`records.erased`), queued for the ledger.
    pub ledger_entry_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub erased_at: OffsetDateTime,
}

/// Erases a record (the right to erasure): every version's row, content and salt are deleted
/// and a purge receipt names the seals that can no longer be proven, when, and on whose
/// request. A resident may erase only their own records. Runs in the caller's transaction;
/// the sealer's locks are waited for, so a version being sealed right now is erased sealed.
///
/// # Errors
/// [`RecordError::NotFound`] when no such record exists (for that resident); database errors.
pub async fn erase(conn: &mut PgConnection, record: Uuid, requester: &Requester) -> Result<Erased, RecordError> {
    let resident = match requester {
        Requester::Resident(r) => Some(*r),
        Requester::Operator(_) => None,
    };
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select c.version, c.resident_id, c.scope_key, b.batch_root as "batch_root?", c.batch_position
           from confirmation_record c left join record_batch b using (record_batch_id)
           where c.confirmation_record_id = $1 and ($2::uuid is null or c.resident_id = $2)
           order by c.version
           for update of c"#,
        record,
        resident
    )
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else { return Err(RecordError::NotFound(record)) };
    let (owner, scope) = (first.resident_id, first.scope_key.clone());
    let mut seals: Vec<chain::leaf::SealRef> = rows
        .iter()
        .filter_map(|r| {
            let root = chain::Hash::from_slice(r.batch_root.as_deref()?).ok()?;
            Some(chain::leaf::SealRef { batch_root: root, position: u64::try_from(r.batch_position?).ok()? })
        })
        .collect();
    seals.sort();
    let erased_at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    let requested_by = requester.label();
    let ledger_entry_id = crate::ledger::enqueue(
        conn,
        &chain::Event::RecordsErased {
            seals: seals.clone(),
            requested_by: requested_by.clone(),
            erased_at: u64::try_from(erased_at.unix_timestamp()).context("erasure time")?,
        },
    )
    .await?;
    sqlx::query!("delete from confirmation_record where confirmation_record_id = $1", record)
        .execute(&mut *conn)
        .await?;
    let versions = u32::try_from(rows.len()).context("versions")?;
    let sealed_versions = u32::try_from(seals.len()).context("versions")?;
    sqlx::query!(
        // language=PostgreSQL
        r#"insert into record_erasure
               (confirmation_record_id, resident_id, scope_key, versions, sealed_versions, requested_by,
                ledger_entry_id, erased_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        record,
        owner,
        scope,
        i32::try_from(versions).context("versions")?,
        i32::try_from(sealed_versions).context("versions")?,
        requested_by,
        ledger_entry_id,
        erased_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(Erased { record, versions, sealed_versions, ledger_entry_id, erased_at })
}

/// Adds behavioral records in one statement.
///
/// # Errors
/// Database errors.
pub async fn add_behavioral(
    conn: &mut PgConnection,
    resident_id: Uuid,
    scope: &str,
    records: &[(OffsetDateTime, serde_json::Value)],
) -> anyhow::Result<u64> {
    let (times, data): (Vec<OffsetDateTime>, Vec<serde_json::Value>) = records.iter().cloned().unzip();
    Ok(sqlx::query!(
        "insert into behavioral_record (resident_id, scope_key, occurred_at, data)
         select $1, $2, t, d from unnest($3::timestamptz[], $4::jsonb[]) as x(t, d)",
        resident_id,
        scope,
        &times,
        &data
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_key_order_and_sees_every_value() {
        let a = serde_json::json!({"address": "1 Harbour Rd", "share": 0.5});
        let b: serde_json::Value = serde_json::from_str(r#"{"share":0.5,"address":"1 Harbour Rd"}"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&serde_json::json!({"address": "1 Harbour Rd", "share": 1})));
    }

    #[test]
    fn ranges_default_to_the_last_month_and_name_bad_fields() {
        let (from, to, limit) = Range::default().resolve().unwrap();
        assert_eq!(to - from, time::Duration::days(31));
        assert_eq!(limit, 200);
        let bad = Range { limit: Some(0), ..Range::default() };
        assert_eq!(bad.resolve().unwrap_err().0, "limit");
        let now = OffsetDateTime::now_utc();
        let backwards = Range { from: Some(now), to: Some(now), limit: None };
        assert_eq!(backwards.resolve().unwrap_err().0, "from");
    }
}
