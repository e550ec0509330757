//! Who is signed in, and the city's districts: the view types and their server functions.
//!
//! Each server function is a thin wrapper: it finds the session and the server's
//! [`ssr::Accounts`] in the request context and calls it.

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

/// The signed-in user, read fresh (so a renamed account shows at once), or `None` when
/// signed out.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, ServerFnError> {
    let Some(user) = ssr::session_user().await? else { return Ok(None) };
    ssr::accounts().map_err(ssr::internal)?.me(&user).await.map_err(ssr::internal)
}

/// The city's districts, public.
#[server(endpoint = "districts")]
pub async fn list_districts() -> Result<Vec<District>, ServerFnError> {
    ssr::accounts().map_err(ssr::internal)?.districts().await.map_err(ssr::internal)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use leptos::prelude::*;

    use super::{District, Me};
    use crate::error::AppError;
    use crate::session::{SESSION_USER_KEY, SessionUser};

    /// Who is signed in and the city's districts, as the server crate reads them (it owns the
    /// database), provided as `Arc<dyn Accounts>` in context.
    #[async_trait::async_trait]
    pub trait Accounts: Send + Sync {
        /// The account behind `user`, or `None` when it no longer exists.
        async fn me(&self, user: &SessionUser) -> Result<Option<Me>, AppError>;
        async fn districts(&self) -> Result<Vec<District>, AppError>;
    }

    /// The implementation the server put into the request context.
    ///
    /// # Errors
    /// [`AppError::Internal`] when it is missing.
    pub fn accounts() -> Result<Arc<dyn Accounts>, AppError> {
        crate::error::ssr::provided()
    }

    /// Logs the detail, tells the client only that something failed.
    pub fn internal(e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "server function failed");
        ServerFnError::new("internal error")
    }

    /// The signed-in user from the request's session, if any.
    ///
    /// # Errors
    /// The session could not be read.
    pub async fn session_user() -> Result<Option<SessionUser>, ServerFnError> {
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(internal)?;
        session.get::<SessionUser>(SESSION_USER_KEY).await.map_err(internal)
    }
}
