//! The identity provider as discovered: its client (code flow, PKCE), keys and endpoints.

use super::ExtraClaims;
use crate::config::Config;
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, ProviderMetadataWithLogout,
    RedirectUrl,
};
use secrecy::ExposeSecret;

/// The ID token as this portal reads it: the standard claims plus every other claim the
/// provider sends ([`ExtraClaims`]), where the roles and the agency are, wherever the
/// provider puts them.
pub(super) type IdToken = openidconnect::IdToken<
    ExtraClaims,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJwsSigningAlgorithm,
>;

type PortalTokenResponse = openidconnect::StandardTokenResponse<
    openidconnect::IdTokenFields<
        ExtraClaims,
        openidconnect::EmptyExtraTokenFields,
        CoreGenderClaim,
        openidconnect::core::CoreJweContentEncryptionAlgorithm,
        openidconnect::core::CoreJwsSigningAlgorithm,
    >,
    openidconnect::core::CoreTokenType,
>;

/// The provider's client with the endpoints discovery gives us: `CoreClient` but for the ID
/// token's claims, which keep the claims `openidconnect` has no field for.
pub(super) type OidcClient = openidconnect::Client<
    ExtraClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    PortalTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The discovered provider and what the portal needs to talk to it.
#[derive(Clone)]
pub struct Oidc {
    pub(super) client: OidcClient,
    pub(super) http: reqwest::Client,
    pub(super) end_session_url: Option<url::Url>,
    pub(super) scopes: Vec<String>,
    pub(super) roles_claim: String,
    pub(super) agency_claim: String,
    pub(super) issuer: String,
    pub(super) jwks_uri: url::Url,
    pub(super) post_logout_redirect: url::Url,
}

impl Oidc {
    /// Fetches the provider's discovery document and keys.
    ///
    /// # Errors
    /// When the provider cannot be reached or its metadata is invalid (e.g. the issuer in
    /// the document differs from the configured one).
    pub async fn discover(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // Following redirects would let a hostile response steer the server's requests.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let issuer = IssuerUrl::new(config.oidc.issuer.clone())?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http).await?;
        let end_session_url = metadata.additional_metadata().end_session_endpoint.as_ref().map(|u| u.url().clone());
        let jwks_uri = metadata.jwks_uri().url().clone();
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(config.oidc.client_id.clone()),
            Some(ClientSecret::new(config.oidc.client_secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(RedirectUrl::from_url(config.redirect_url()));
        Ok(Self {
            client,
            http,
            end_session_url,
            scopes: config.oidc.scopes.clone(),
            roles_claim: config.oidc.roles_claim.clone(),
            agency_claim: config.oidc.agency_claim.clone(),
            issuer: config.oidc.issuer.clone(),
            jwks_uri,
            post_logout_redirect: config.public_url.clone(),
        })
    }

    /// Discovery with retries, for startup next to a provider that is still booting.
    ///
    /// # Errors
    /// The last discovery error once `attempts` are used up.
    pub async fn discover_with_retry(config: &Config, attempts: u32) -> anyhow::Result<Self> {
        let mut last = None;
        for attempt in 1..=attempts.max(1) {
            match Self::discover(config).await {
                Ok(oidc) => return Ok(oidc),
                Err(e) => {
                    tracing::warn!(attempt, issuer = %config.oidc.issuer, error = %e, "OIDC discovery failed; retrying");
                    last = Some(e);
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
        Err(last.expect("at least one attempt").context(format!("OIDC discovery at {} failed", config.oidc.issuer)))
    }

    /// The provider's issuer identifier (the `iss` of everything it signs).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the provider publishes its signing keys (from discovery).
    #[must_use]
    pub fn jwks_uri(&self) -> &url::Url {
        &self.jwks_uri
    }

    /// The HTTP client for talking to the provider (no redirects, 10 s timeout).
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The origin of the provider, for the Content-Security-Policy's form-action.
    #[must_use]
    pub fn issuer_origin(&self) -> String {
        url::Url::parse(&self.issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }
}
