//! Server functions the pages call, and the view types they return.
//!
//! Each server function is a thin wrapper: it finds the pool and the session in the request
//! context and calls a plain function in [`ssr`] that can be tested on its own.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in person as the pages show them (never the ID token or account internals).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Me {
    pub name: String,
    pub roles: Vec<String>,
    pub is_resident: bool,
    pub district: Option<District>,
    /// When the account was first created (RFC 3339).
    pub member_since: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct District {
    pub district_id: String,
    pub name_en: String,
    pub name_zh: String,
}

/// The signed-in user, read fresh from the database (so a renamed account shows at once),
/// or `None` when signed out.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, ServerFnError> {
    let Some(user) = ssr::session_user().await? else { return Ok(None) };
    ssr::me(&ssr::pool()?, &user).await.map_err(ssr::internal)
}

/// The city's districts, public.
#[server(endpoint = "districts")]
pub async fn list_districts() -> Result<Vec<District>, ServerFnError> {
    ssr::districts(&ssr::pool()?).await.map_err(ssr::internal)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{District, Me};
    use crate::session::{ROLE_RESIDENT, SESSION_USER_KEY, SessionUser};
    use leptos::prelude::*;
    use sqlx::PgPool;

    /// Logs the detail, tells the client only that something failed.
    pub fn internal(e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "server function failed");
        ServerFnError::new("internal error")
    }

    /// The pool the server put into the request context.
    pub fn pool() -> Result<PgPool, ServerFnError> {
        use_context::<PgPool>().ok_or_else(|| internal("no database pool in context"))
    }

    /// The signed-in user from the request's session, if any.
    pub async fn session_user() -> Result<Option<SessionUser>, ServerFnError> {
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(internal)?;
        session.get::<SessionUser>(SESSION_USER_KEY).await.map_err(internal)
    }

    pub async fn me(db: &PgPool, user: &SessionUser) -> Result<Option<Me>, sqlx::Error> {
        let row = sqlx::query!(
            // language=PostgreSQL
            r#"
            select a.display_name, a.roles, a.created_at, r.resident_id as "resident_id?",
                   d.district_id as "district_id?", d.name_en as "name_en?", d.name_zh as "name_zh?"
            from account a
                     left join resident r using (account_id)
                     left join district d on d.district_id = r.district_id
            where a.account_id = $1
            "#,
            user.account_id
        )
        .fetch_optional(db)
        .await?;
        Ok(row.map(|r| Me {
            name: r.display_name,
            is_resident: r.resident_id.is_some() || r.roles.iter().any(|x| x == ROLE_RESIDENT),
            roles: r.roles,
            district: match (r.district_id, r.name_en, r.name_zh) {
                (Some(district_id), Some(name_en), Some(name_zh)) => Some(District { district_id, name_en, name_zh }),
                _ => None,
            },
            member_since: r.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        }))
    }

    pub async fn districts(db: &PgPool) -> Result<Vec<District>, sqlx::Error> {
        sqlx::query_as!(
            District,
            // language=PostgreSQL
            "select district_id, name_en, name_zh from district order by name_en"
        )
        .fetch_all(db)
        .await
    }
}
