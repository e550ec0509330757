//! Residents' data as the gate releases it: confirmation records with their content hash,
//! behavioral records by time range, and predicates computed on read and released as a
//! derived value only (yes/no, or the district), never the record behind them.
//!
//! These functions take a connection and trust their caller: the gate calls them inside its
//! receipt transaction for an agency, the portal for the resident's own data. Nothing here
//! decides who may read.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
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

/// One confirmation record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConfirmationRecord {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// SHA-256 (hex) of the record's canonical JSON (keys sorted, no spaces).
    pub content_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: OffsetDateTime,
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

/// SHA-256 of a record's canonical JSON (`serde_json` writes object keys sorted).
#[must_use]
pub fn content_hash(data: &serde_json::Value) -> [u8; 32] {
    let bytes = serde_json::to_vec(data).expect("a JSON value always serializes");
    Sha256::digest(bytes).into()
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
        r#"select confirmation_record_id, data, content_hash, recorded_at from confirmation_record
           where resident_id = $1 and scope_key = $2 order by recorded_at desc limit 1000"#,
        resident_id,
        scope
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ConfirmationRecord {
            id: r.confirmation_record_id,
            data: r.data,
            content_hash: hex::encode(r.content_hash),
            recorded_at: r.recorded_at,
        })
        .collect())
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
