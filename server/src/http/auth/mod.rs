//! Sign-in with OpenID Connect, by the book (OpenID Connect Core 1.0 §3.1, RFC 7636, RP-Initiated
//! Logout 1.0):
//!
//! * authorization code flow with PKCE S256, a random `state` (CSRF) and `nonce` (replay),
//!   all three kept server-side in the session and consumed by the first callback that
//!   presents them, so a callback can be used once;
//! * the ID token's signature, issuer, audience, expiry and nonce are verified by
//!   `openidconnect`, and `at_hash` when present;
//! * the session id is rotated at login (no session fixation) and the whole session is
//!   destroyed at logout, before the browser is sent to the provider's end-session endpoint;
//! * the backend HTTP client never follows redirects (SSRF hardening, as the crate advises).
//!
//! Which claim holds the roles is configuration (`--oidc-roles-claim`), so Keycloak, Azure AD
//! or a national eID can be used without code changes.

use app::session::{ROLE_AGENCY_STAFF, SESSION_USER_KEY, SessionUser};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{CoreAuthenticationFlow, CoreGenderClaim};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_sessions::Session;

use crate::AppState;
use crate::error::{Error, HtmlError};

mod account;
mod oidc;

use self::account::*;
pub use self::oidc::*;

/// Session key of a login in progress.
const PENDING_LOGIN_KEY: &str = "oidc.pending";

/// Everything needed to finish the login the browser was sent off to do.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/locale", post(set_locale))
}

#[derive(Deserialize)]
struct LoginParams {
    return_to: Option<String>,
}

/// Only paths on this portal: an open redirect would let a phishing link bounce through our
/// login to anywhere. Browsers drop tabs and newlines from URLs and read `\\` as `/`, so
/// `/\t/evil.example` becomes `//evil.example` (another host); such characters are refused
/// outright, and what is left must resolve, against the public URL, to the same origin.
fn safe_return_to(raw: Option<&str>, public: &url::Url) -> String {
    let fallback = || "/".to_owned();
    let Some(p) = raw else { return fallback() };
    let plain = p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.contains("://")
        && !p.chars().any(|c| c.is_control() || c.is_whitespace());
    if !plain {
        return fallback();
    }
    match public.join(p) {
        Ok(resolved) if resolved.origin() == public.origin() => p.to_owned(),
        _ => fallback(),
    }
}

/// Starts a login: new PKCE verifier, state and nonce, then off to the provider.
async fn login(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<LoginParams>,
) -> Result<Response, HtmlError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = state
        .oidc
        .client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in &state.oidc.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let pending = PendingLogin {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to: safe_return_to(params.return_to.as_deref(), &state.config.public_url),
    };
    session.insert(PENDING_LOGIN_KEY, pending).await.map_err(|e| Error::Anyhow(e.into()))?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes a login: checks state, exchanges the code (with the PKCE verifier), verifies
/// the ID token and nonce, records the account, rotates the session id.
async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<CallbackParams>,
) -> Result<Response, HtmlError> {
    // Consume the pending login first: whatever happens next, this state is spent.
    let pending: Option<PendingLogin> = session.remove(PENDING_LOGIN_KEY).await.map_err(|e| Error::Anyhow(e.into()))?;
    let Some(pending) = pending else {
        return Err(Error::Login("no sign-in in progress (expired, already used, or another browser)").into());
    };
    if let Some(error) = params.error {
        tracing::info!(error = %error, "provider returned an error to the callback");
        return Err(Error::Login("the identity provider refused the sign-in").into());
    }
    let (Some(code), Some(returned_state)) = (params.code, params.state) else {
        return Err(Error::Login("callback without code or state").into());
    };
    if !constant_time_eq(returned_state.as_bytes(), pending.state.as_bytes()) {
        return Err(Error::Login("state does not match").into());
    }

    let oidc = &state.oidc;
    let token = oidc
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Error::Anyhow(e.into()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&oidc.http)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "code exchange failed");
            Error::Login("the authorization code was rejected")
        })?;
    let id_token = token.id_token().ok_or(Error::Login("the provider sent no ID token"))?;
    let verifier = oidc.client.id_token_verifier();
    let nonce = Nonce::new(pending.nonce);
    let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
        tracing::warn!(error = %e, "ID token verification failed");
        Error::Login("the ID token did not verify")
    })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|_| Error::Login("unsupported ID token algorithm"))?;
        let key = id_token.signing_key(&verifier).map_err(|_| Error::Login("unknown ID token key"))?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
            .map_err(|_| Error::Login("cannot compute at_hash"))?;
        if actual != *expected {
            return Err(Error::Login("at_hash does not match the access token").into());
        }
    }
    let subject = claims.subject().as_str().to_owned();

    // Userinfo is optional at the provider; when present it is authoritative for profile claims.
    let userinfo: Option<UserInfoClaims<ExtraClaims, CoreGenderClaim>> =
        match oidc.client.user_info(token.access_token().clone(), Some(claims.subject().clone())) {
            Ok(req) => Some(req.request_async(&oidc.http).await.map_err(|e| Error::Upstream(e.into()))?),
            Err(_) => None, // provider has no userinfo endpoint
        };

    // The verified claims as JSON: the standard ones and, through `ExtraClaims`, every other
    // one, so the configured roles claim is found at its dot path.
    let id_payload = serde_json::to_value(claims).unwrap_or(Value::Null);
    let userinfo_json = userinfo.as_ref().and_then(|u| serde_json::to_value(u).ok()).unwrap_or(Value::Null);
    let roles = roles_at(&id_payload, &oidc.roles_claim)
        .or_else(|| roles_at(&userinfo_json, &oidc.roles_claim))
        .unwrap_or_default();

    let pick = |key: &str| -> Option<String> {
        [&userinfo_json, &id_payload].into_iter().find_map(|v| v.get(key).and_then(Value::as_str)).map(str::to_owned)
    };
    let display_name = pick("name").or_else(|| pick("preferred_username")).unwrap_or_else(|| subject.clone());
    // Only staff work for an agency; an agency claim on anyone else is ignored.
    // A value that cannot be an agency id is dropped (the console then refuses the account)
    // rather than failing the sign-in.
    let agency = pick(&oidc.agency_claim).filter(|_| roles.iter().any(|r| r == ROLE_AGENCY_STAFF)).filter(|a| {
        let ok =
            (2..=40).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            tracing::warn!(claim = %oidc.agency_claim, "ignoring a malformed agency claim");
        }
        ok
    });
    let profile = Profile { subject, display_name, email: pick("email"), locale: pick("locale"), roles, agency };

    let user = record_login(&state.db, &oidc.issuer, &profile).await?;

    // New id for the authenticated session: a session id seen before login is worthless after.
    session.cycle_id().await.map_err(|e| Error::Anyhow(e.into()))?;
    let user = SessionUser { id_token: Some(id_token.to_string()), ..user };
    session.insert(SESSION_USER_KEY, &user).await.map_err(|e| Error::Anyhow(e.into()))?;
    tracing::info!(account = %user.account_id, "signed in");
    let mut response = Redirect::to(&pending.return_to).into_response();
    // The language this person chose in the portal before, on whatever device.
    let chosen = sqlx::query_scalar!("select portal_locale from account where account_id = $1", user.account_id)
        .fetch_one(&state.db)
        .await?;
    if let Some(locale) = chosen.as_deref().and_then(app::i18n::Locale::parse) {
        response.headers_mut().append(header::SET_COOKIE, lang_cookie(locale, state.config.cookie_secure));
    }
    Ok(response)
}

fn lang_cookie(locale: app::i18n::Locale, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}",
        app::i18n::LANG_COOKIE,
        locale.tag()
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("lang=en; Path=/"))
}

#[derive(Deserialize)]
struct LocaleForm {
    lang: String,
    back: Option<String>,
}

/// The language switch (a plain form, so it works without JavaScript): remembers the choice
/// in a cookie and, for a signed-in person, in their account; then back to the page.
async fn set_locale(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<LocaleForm>,
) -> Result<Response, Error> {
    let Some(locale) = app::i18n::Locale::parse(&form.lang) else {
        return Err(Error::BadRequest(format!("lang: {:?} is not a language of this portal (en, zh-CN)", form.lang)));
    };
    if let Some(user) = session.get::<SessionUser>(SESSION_USER_KEY).await.map_err(|e| Error::Anyhow(e.into()))? {
        sqlx::query!("update account set portal_locale = $2 where account_id = $1", user.account_id, locale.tag())
            .execute(&state.db)
            .await?;
    }
    let mut response = Redirect::to(&safe_return_to(form.back.as_deref(), &state.config.public_url)).into_response();
    response.headers_mut().append(header::SET_COOKIE, lang_cookie(locale, state.config.cookie_secure));
    Ok(response)
}

/// Ends the portal session, then sends the browser to the provider to end its session too
/// (RP-Initiated Logout 1.0 §2 with `id_token_hint` and `post_logout_redirect_uri`).
/// A POST, so a cross-site page cannot log people out (the Origin check covers it too).
async fn logout(State(state): State<AppState>, session: Session) -> Result<Response, HtmlError> {
    let user: Option<SessionUser> = session.get(SESSION_USER_KEY).await.map_err(|e| Error::Anyhow(e.into()))?;
    session.flush().await.map_err(|e| Error::Anyhow(e.into()))?;
    let Some(end_session) = state.oidc.end_session_url.clone() else {
        return Ok(Redirect::to("/").into_response());
    };
    let mut request = LogoutRequest::from(openidconnect::EndSessionUrl::from_url(end_session))
        .set_client_id(state.oidc.client.client_id().clone())
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::from_url(state.oidc.post_logout_redirect.clone()));
    if let Some(hint) = user.and_then(|u| u.id_token).and_then(|t| t.parse::<IdToken>().ok()) {
        request = request.set_id_token_hint(&hint);
    }
    Ok(Redirect::to(request.http_get_url().as_str()).into_response())
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn return_to_accepts_only_local_paths() {
        let public = url::Url::parse("https://city.example/").unwrap();
        assert_eq!(safe_return_to(Some("/permissions?tab=2"), &public), "/permissions?tab=2");
        assert_eq!(safe_return_to(Some("/consent/x#grant"), &public), "/consent/x#grant");
        for hostile in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "evil",
            "/x?u=https://e",
            // Browsers strip tabs and newlines from URLs: these become //evil.example.
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{a0}/evil.example",
        ] {
            assert_eq!(safe_return_to(Some(hostile), &public), "/", "{hostile:?}");
        }
        assert_eq!(safe_return_to(None, &public), "/");
    }

    #[test]
    fn roles_are_found_at_flat_and_nested_claim_paths() {
        let claims = json!({"roles": ["resident"], "realm_access": {"roles": ["agency_staff", "admin"]}, "scp": "a b"});
        assert_eq!(roles_at(&claims, "roles").unwrap(), ["resident"]);
        assert_eq!(roles_at(&claims, "realm_access.roles").unwrap(), ["agency_staff", "admin"]);
        assert_eq!(roles_at(&claims, "scp").unwrap(), ["a", "b"]);
        assert!(roles_at(&claims, "groups").is_none());
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
