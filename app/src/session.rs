//! Who is signed in, as the server keeps it in the session.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Session key under which the signed-in user is stored.
pub const SESSION_USER_KEY: &str = "user";

/// The role that makes an account a resident (`agency_staff` and `admin` come with the
/// agency console).
pub const ROLE_RESIDENT: &str = "resident";

/// The role of agency staff (the console); their agency comes from the provider's `agency`
/// claim (configurable with `--oidc-agency-claim`).
pub const ROLE_AGENCY_STAFF: &str = "agency_staff";

/// The signed-in person. Lives only in the server-side session store; the browser holds an
/// opaque session id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionUser {
    pub account_id: Uuid,
    /// Set for residents (created at their first login).
    pub resident_id: Option<Uuid>,
    pub name: String,
    pub roles: Vec<String>,
    /// For agency staff: the agency they work for, as the provider asserted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<String>,
    /// Kept for the `id_token_hint` of RP-initiated logout; never sent to the browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Who is signed in, for any component below the app's root: provided once by `root::App`.
pub type MeResource =
    leptos::prelude::Resource<Result<Option<crate::serverfns::me::Me>, leptos::prelude::ServerFnError>>;

/// Where the sign-in link goes to come back to `back` (a path on the portal) afterwards.
#[must_use]
pub fn sign_in_href(back: &str) -> String {
    // Percent-encodes everything but unreserved characters and `/`.
    let encoded: String = back
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/auth/login?return_to={encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sign_in_link_carries_the_page_to_come_back_to() {
        assert_eq!(super::sign_in_href("/consent/abc?x=1&y=2"), "/auth/login?return_to=/consent/abc%3Fx%3D1%26y%3D2");
        assert_eq!(super::sign_in_href("/"), "/auth/login?return_to=/");
    }
}
