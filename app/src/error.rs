//! The error every server function returns: what the pages can show and branch on. `Invalid`
//! names the field like the agency API does; `Denied` carries the gate's reason.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please sign in")]
    Unauthorized,
    #[error("only residents have grants")]
    NotResident,
    #[error("only agency staff use the console")]
    NotStaff,
    #[error("no such {0}")]
    NotFound(String),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("{0}")]
    Conflict(String),
    /// The gate refused a read: `reason` is `no_grant`, `pending`, `expired`, `revoked`,
    /// `scope_not_granted`, `frequency_exceeded` or `integrity`.
    #[error("{message}")]
    Denied { reason: String, message: String },
    #[error("something went wrong; please try again")]
    Internal,
    #[error("{0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // On the server, a request whose arguments do not parse is the client's error: 400,
        // not the 500 server functions answer by default.
        #[cfg(feature = "ssr")]
        if matches!(value, ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_))
            && !ssr::plain_form_post()
            && let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
        {
            opts.set_status(http::StatusCode::BAD_REQUEST);
        }
        Self::ServerFn(value)
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use leptos::prelude::*;
    use time::OffsetDateTime;

    use super::AppError;

    /// Sets the response status a JSON client sees for the error, and returns it.
    #[must_use]
    pub fn fail(e: AppError) -> AppError {
        use http::StatusCode;
        let code = match &e {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotResident | AppError::NotStaff | AppError::Denied { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Internal | AppError::ServerFn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let Some(opts) = use_context::<leptos_axum::ResponseOptions>()
            && !plain_form_post()
        {
            opts.set_status(code);
        }
        e
    }

    /// A form posted by the browser itself (JavaScript off) accepts HTML. Its answer must stay
    /// the redirect back to the page, which shows the error carried in the URL; a status set
    /// here would replace the redirect's 302 and leave the person on a page of JSON.
    #[must_use]
    pub fn plain_form_post() -> bool {
        use_context::<http::request::Parts>().is_some_and(|p| {
            p.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
        })
    }

    /// Logs the detail, tells the client only that something failed.
    #[must_use]
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "server function failed");
        fail(AppError::Internal)
    }

    /// What the server put into the request context for the server functions (an
    /// implementation of one of their traits); a missing one is an internal error.
    ///
    /// # Errors
    /// [`AppError::Internal`].
    pub fn provided<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
        use_context::<T>().ok_or_else(|| {
            tracing::error!(what = std::any::type_name::<T>(), "missing from the request context");
            fail(AppError::Internal)
        })
    }

    /// The signed-in user, or [`AppError::Unauthorized`].
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] when signed out, [`AppError::Internal`] when the session
    /// store fails.
    pub async fn signed_in() -> Result<crate::session::SessionUser, AppError> {
        match crate::serverfns::me::ssr::session_user().await.map_err(|_| fail(AppError::Internal))? {
            Some(user) => Ok(user),
            None => Err(fail(AppError::Unauthorized)),
        }
    }

    /// Parses an RFC 3339 time from a form, naming the field when it is malformed.
    ///
    /// # Errors
    /// [`AppError::Invalid`].
    pub fn parse_time(field: &str, value: &str) -> Result<OffsetDateTime, AppError> {
        OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).map_err(|_| {
            fail(AppError::Invalid {
                field: field.to_owned(),
                problem: "use a date and time like 2026-12-31T00:00:00Z".to_owned(),
            })
        })
    }
}
