//! Who signed in: the profile read from the verified ID token and userinfo, and the account
//! and resident rows it creates or refreshes, in one transaction.

use crate::error::Error;
use app::session::{ROLE_RESIDENT, SessionUser};
use openidconnect::AdditionalClaims;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Claims we read beyond the standard ones (roles live wherever the provider puts them).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(super) struct ExtraClaims {
    #[serde(flatten)]
    pub(super) rest: serde_json::Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

/// What the provider told us about the person.
pub(super) struct Profile {
    pub(super) subject: String,
    pub(super) display_name: String,
    pub(super) email: Option<String>,
    pub(super) locale: Option<String>,
    pub(super) roles: Vec<String>,
    pub(super) agency: Option<String>,
}

/// Creates or refreshes the account, and on a resident's first login their resident record,
/// in one transaction.
pub(super) async fn record_login(db: &PgPool, issuer: &str, p: &Profile) -> Result<SessionUser, Error> {
    let mut tx = db.begin().await?;
    let account_id = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"
        insert into account (issuer, subject, display_name, email, locale, roles, agency_id, last_login_at)
        values ($1, $2, $3, $4, $5, $6, $7, now())
        on conflict on constraint account_issuer_subject_key do update
            set display_name  = excluded.display_name,
                email         = excluded.email,
                locale        = excluded.locale,
                roles         = excluded.roles,
                agency_id     = excluded.agency_id,
                last_login_at = now()
        returning account_id
        "#,
        issuer,
        p.subject,
        p.display_name,
        p.email,
        p.locale,
        &p.roles,
        p.agency,
    )
    .fetch_one(&mut *tx)
    .await?;

    // A provider that asserts no roles at all is treated as a resident-only city login.
    let is_resident = p.roles.is_empty() || p.roles.iter().any(|r| r == ROLE_RESIDENT);
    let resident_id: Option<Uuid> = if is_resident {
        sqlx::query_scalar!(
            // language=PostgreSQL
            r#"
            with inserted as (
                insert into resident (account_id) values ($1)
                on conflict on constraint resident_account_id_key do nothing
                returning resident_id
            )
            select resident_id as "resident_id!" from inserted
            union all
            select resident_id from resident where account_id = $1
            limit 1
            "#,
            account_id
        )
        .fetch_optional(&mut *tx)
        .await?
    } else {
        None
    };
    tx.commit().await?;
    Ok(SessionUser {
        account_id,
        resident_id,
        name: p.display_name.clone(),
        roles: if p.roles.is_empty() { vec![ROLE_RESIDENT.to_owned()] } else { p.roles.clone() },
        agency_id: p.agency.clone(),
        id_token: None,
    })
}

/// Roles at a dot path (`roles`, `realm_access.roles`), as an array of strings or a single
/// space-separated string.
pub(super) fn roles_at(claims: &Value, path: &str) -> Option<Vec<String>> {
    let node = path.split('.').try_fold(claims, |v, key| v.get(key))?;
    match node {
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        _ => None,
    }
}
