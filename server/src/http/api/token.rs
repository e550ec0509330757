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

#[derive(Debug, Deserialize)]
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
        let v = validation(header.alg, &self.audience, &self.issuer);
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

/// What a token's claims must satisfy besides its signature: our audience and the provider's
/// issuer, `exp` in the future and, when the token has one, `nbf` in the past (RFC 7519 §4.1.5:
/// a token must not be accepted before its not-before time), with 30 s of clock skew.
fn validation(alg: Algorithm, audience: &str, issuer: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// The claim checks alone, with a shared-secret key standing in for the provider's.
    fn check(claims: &serde_json::Value) -> Result<Claims, jsonwebtoken::errors::Error> {
        let secret = b"test-only secret";
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))?;
        let v = validation(Algorithm::HS256, "https://city.example/api/v1", "https://idp.example");
        jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(secret), &v).map(|d| d.claims)
    }

    #[test]
    fn a_token_is_refused_before_its_not_before_time_and_after_its_expiry() {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |nbf: u64, exp: u64| {
            json!({"sub": "agency-transit", "iss": "https://idp.example", "aud": "https://city.example/api/v1",
                   "scope": "services:read", "nbf": nbf, "exp": exp})
        };
        assert!(check(&claims(now - 10, now + 300)).is_ok());
        let early = check(&claims(now + 3600, now + 7200)).unwrap_err();
        assert_eq!(*early.kind(), jsonwebtoken::errors::ErrorKind::ImmatureSignature);
        let late = check(&claims(now - 7200, now - 3600)).unwrap_err();
        assert_eq!(*late.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);
        let mut wrong_audience = claims(now - 10, now + 300);
        wrong_audience["aud"] = json!("https://other.example/api/v1");
        assert!(check(&wrong_audience).is_err());
    }
}
