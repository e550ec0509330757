//! Agency systems' access tokens: RFC 9068 JWTs from the identity provider's client-credentials
//! grant, checked against the provider's published keys (JWKS), issuer, audience, expiry and
//! type, then mapped to the agency they were issued for.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// Scope needed to read residents' data and list grants.
pub const SCOPE_READ: &str = "agency.read";
/// Scope needed to publish service versions.
pub const SCOPE_PUBLISH: &str = "agency.publish";

/// Asymmetric algorithms only: a symmetric `alg` in a token header must never make us verify
/// with a public key as an HMAC secret.
const ALLOWED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How often an unknown `kid` may trigger a fresh download of the keys (rotation support
/// without letting forged tokens hammer the provider).
const MIN_REFRESH: Duration = Duration::from_secs(10);

/// A verified agency client.
#[derive(Clone, Debug)]
pub struct AgencyClient {
    pub agency_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl AgencyClient {
    /// What receipts name as the reader.
    #[must_use]
    pub fn reader_id(&self) -> String {
        format!("{}/client/{}", self.agency_id, self.client_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("the identity provider's keys cannot be fetched")]
    Keys(#[source] anyhow::Error),
}

#[derive(Deserialize)]
struct Claims {
    client_id: Option<String>,
    sub: String,
    #[serde(default)]
    scope: String,
    agency: Option<String>,
}

/// The provider's keys, fetched lazily and refreshed when a token names an unknown key.
pub struct TokenVerifier {
    jwks_uri: url::Url,
    http: reqwest::Client,
    issuer: String,
    audience: String,
    keys: RwLock<Option<JwkSet>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl TokenVerifier {
    #[must_use]
    pub fn new(jwks_uri: url::Url, http: reqwest::Client, issuer: String, audience: String) -> Self {
        Self { jwks_uri, http, issuer, audience, keys: RwLock::new(None), last_fetch: Mutex::new(None) }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(k) = self.keys.read().await.as_ref().and_then(|s| s.find(kid)) {
            return DecodingKey::from_jwk(k).map_err(|e| TokenError::Invalid(format!("unusable signing key: {e}")));
        }
        let mut last = self.last_fetch.lock().await;
        // Another request may have refreshed while we waited.
        if let Some(k) = self.keys.read().await.as_ref().and_then(|s| s.find(kid)) {
            return DecodingKey::from_jwk(k).map_err(|e| TokenError::Invalid(format!("unusable signing key: {e}")));
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH) {
            return Err(TokenError::Invalid("the token is signed with an unknown key".into()));
        }
        *last = Some(Instant::now());
        let set: JwkSet = async {
            let resp = self.http.get(self.jwks_uri.clone()).send().await?.error_for_status()?;
            anyhow::Ok(resp.json().await?)
        }
        .await
        .map_err(TokenError::Keys)?;
        let key = set.find(kid).map(DecodingKey::from_jwk);
        *self.keys.write().await = Some(set);
        match key {
            Some(k) => k.map_err(|e| TokenError::Invalid(format!("unusable signing key: {e}"))),
            None => Err(TokenError::Invalid("the token is signed with an unknown key".into())),
        }
    }

    /// Verifies a bearer token and returns the agency client it was issued to.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] naming what is wrong (never echoing the token).
    pub async fn verify(&self, token: &str) -> Result<AgencyClient, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("the token is not a JWT".into()))?;
        // RFC 9068: access tokens are typed, so an ID token can never pass as one.
        if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return Err(TokenError::Invalid("the token is not an access token (typ must be at+jwt)".into()));
        }
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenError::Invalid(format!("signature algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| TokenError::Invalid("the token names no key (kid)".into()))?;
        let key = self.key(&kid).await?;
        let mut v = Validation::new(header.alg);
        v.set_audience(&[&self.audience]);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map_err(|e| TokenError::Invalid(format!("the token is not valid: {e}")))?
            .claims;
        let agency_id = claims.agency.ok_or_else(|| TokenError::Invalid("the token names no agency".into()))?;
        Ok(AgencyClient {
            agency_id,
            client_id: claims.client_id.unwrap_or(claims.sub),
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
        })
    }
}
