//! Configuration: every setting is a `--flag` and an environment variable.
//!
//! Two profiles. `dev` (what the README's run command uses) fills in the embedded
//! development identity provider and a local database so a newcomer needs no setup.
//! `prod` has no defaults for anything that matters: a missing issuer, client secret,
//! database URL or session-cookie policy stops the server at startup with a message
//! naming the flag and the variable, instead of silently falling back to something
//! insecure.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Local development and tests: embedded defaults for the IdP and database.
    Dev,
    /// Production: every security-relevant value must be given explicitly.
    Prod,
}

/// Settings of the `serve` command, as given on the command line or in the environment.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Which defaults apply: `dev` fills in the embedded IdP and local database; `prod` requires every value.
    #[arg(long, env = "ONECITY_PROFILE", value_enum, default_value = "prod")]
    pub profile: Profile,

    /// PostgreSQL connection URL, e.g. postgres://onecity@db.internal/onecity.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Maximum connections in the database pool. Keep the sum over all portal processes
    /// below the server's max_connections (100 by default).
    #[arg(long, env = "ONECITY_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// Address the HTTP server binds to.
    #[arg(long, env = "ONECITY_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The portal's public base URL as browsers see it (scheme, host, port). Used for the
    /// OIDC redirect URI and to check the Origin of state-changing requests.
    #[arg(long, env = "ONECITY_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Folder with the built site (the `pkg/` bundle and public assets) made by cargo-leptos.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// OpenID Connect issuer URL; must match the provider's `issuer` exactly.
    #[arg(long, env = "ONECITY_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// OAuth2 client id registered at the provider for this portal.
    #[arg(long, env = "ONECITY_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// OAuth2 client secret (confidential client). Never logged.
    #[arg(long, env = "ONECITY_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretString>,

    /// Scopes requested at login, space separated (`openid` is always included).
    #[arg(long, env = "ONECITY_OIDC_SCOPES", default_value = "openid profile email roles")]
    pub oidc_scopes: String,

    /// Where the user's roles are in the ID token / userinfo claims, as a dot path:
    /// `roles` (the dev IdP), `realm_access.roles` (Keycloak), `groups`, ...
    #[arg(long, env = "ONECITY_OIDC_ROLES_CLAIM", default_value = "roles")]
    pub oidc_roles_claim: String,

    /// The claim (ID token or userinfo) naming the agency an `agency_staff` account works
    /// for; its value must be the agency's id in the city (e.g. `transit-authority`).
    #[arg(long, env = "ONECITY_OIDC_AGENCY_CLAIM", default_value = "agency")]
    pub oidc_agency_claim: String,

    /// Send session cookies only over HTTPS. Required (true) in prod; dev defaults to false
    /// because the embedded stack runs on plain http://localhost.
    #[arg(long, env = "ONECITY_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,

    /// Idle time after which a session expires, in minutes.
    #[arg(long, env = "ONECITY_SESSION_IDLE_MINUTES", default_value_t = 480)]
    pub session_idle_minutes: i64,

    /// Per-request timeout in seconds.
    #[arg(long, env = "ONECITY_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Memory for rendered My City pages kept for reuse while nothing they show has changed
    /// (docs/scale.md), in MiB; 0 renders every view afresh.
    #[arg(long, env = "ONECITY_PAGE_CACHE_MB", default_value_t = 64)]
    pub page_cache_mb: u64,

    /// The log's name: checkpoint origin and key name (no spaces or `+`).
    #[arg(long, env = "ONECITY_LEDGER_ORIGIN", default_value = "ledger.onecity.example")]
    pub ledger_origin: String,

    /// File with the log's Ed25519 signing seed (64 hex digits); created with mode 0600 when
    /// missing. dev: `.data/keys/log.key`.
    #[arg(long, env = "ONECITY_LEDGER_KEY_FILE")]
    pub ledger_key_file: Option<PathBuf>,

    /// A witness, as `<base URL>,<verifier key>`; repeat the flag (or separate with `;` in the
    /// variable) for each consortium member.
    #[arg(long = "witness", env = "ONECITY_WITNESSES", value_delimiter = ';')]
    pub witnesses: Vec<String>,

    /// How many witnesses must cosign a checkpoint before it counts.
    #[arg(long, env = "ONECITY_WITNESS_QUORUM", default_value_t = 3)]
    pub witness_quorum: usize,

    /// How often the sequencer integrates queued entries, in milliseconds (at most 500).
    #[arg(long, env = "ONECITY_SEQUENCER_INTERVAL_MS", default_value_t = 200)]
    pub sequencer_interval_ms: u64,

    /// Seconds between sealing rounds: each round seals every confirmation record version
    /// recorded before it, in batches (one `records.batch` ledger entry each).
    #[arg(long, env = "ONECITY_SEAL_INTERVAL_SECS", default_value_t = 10)]
    pub seal_interval_secs: u64,

    /// Most record versions in one sealed batch (1 to 65536).
    #[arg(long, env = "ONECITY_SEAL_BATCH", default_value_t = 4096)]
    pub seal_batch: usize,

    /// JSON-RPC URL of the EVM chain to anchor checkpoints on (anchoring is off without it).
    #[arg(long, env = "ONECITY_ANCHOR_RPC_URL")]
    pub anchor_rpc_url: Option<String>,

    /// The anchor account's secp256k1 private key (64 hex digits). Never logged. dev: the
    /// local chain's first development account.
    #[arg(long, env = "ONECITY_ANCHOR_KEY", hide_env_values = true)]
    pub anchor_key: Option<SecretString>,

    /// Seconds between anchors.
    #[arg(long, env = "ONECITY_ANCHOR_INTERVAL_SECS", default_value_t = 30)]
    pub anchor_interval_secs: u64,

    /// A block explorer's transaction page, with `{tx}` where the hash goes (e.g.
    /// `https://etherscan.io/tx/{tx}`): the Transparency page links each anchor there.
    #[arg(long, env = "ONECITY_ANCHOR_EXPLORER_URL")]
    pub anchor_explorer_url: Option<String>,

    /// File with the 32-byte secret residents' per-service pseudonyms are derived from (64 hex
    /// digits); created with mode 0600 when missing. Back it up: without it no grant passes
    /// the gate. dev: `.data/keys/pseudonym.key`.
    #[arg(long, env = "ONECITY_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: Option<PathBuf>,

    /// The `aud` agency access tokens must carry. Default: the public URL + `/api/v1`.
    #[arg(long, env = "ONECITY_API_AUDIENCE")]
    pub api_audience: Option<String>,

    /// Requests per minute each agency client may make to `/api/v1` (bursts up to a tenth).
    #[arg(long, env = "ONECITY_API_RATE_PER_MINUTE", default_value_t = 1200)]
    pub api_rate_per_minute: u32,

    /// Requests per minute each browser may make to the portal's costly endpoints: server
    /// functions (per session, or per client address without one), sign-in starts and proof
    /// bundles (per client address). Bursts up to a tenth.
    #[arg(long, env = "ONECITY_PORTAL_RATE_PER_MINUTE", default_value_t = 1200)]
    pub portal_rate_per_minute: u32,

    /// The header a trusted reverse proxy puts the client's address in (`x-forwarded-for`,
    /// `x-real-ip`); its last value is used. Without it the peer address of the connection
    /// is the client, which behind a load balancer is the balancer itself.
    #[arg(long, env = "ONECITY_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
}

/// Validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub profile: Profile,
    pub database_url: SecretString,
    pub db_max_connections: u32,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub site_root: PathBuf,
    pub oidc: OidcConfig,
    pub cookie_secure: bool,
    pub session_idle_minutes: i64,
    pub request_timeout_secs: u64,
    pub page_cache_mb: u64,
    pub ledger: LedgerConfig,
    pub pseudonym_key_file: PathBuf,
    pub api_audience: String,
    pub api_rate_per_minute: u32,
    pub portal_rate_per_minute: u32,
    pub client_ip_header: Option<http::HeaderName>,
}

#[derive(Clone, Debug)]
pub struct LedgerConfig {
    pub origin: String,
    pub key_file: PathBuf,
    pub witnesses: Vec<String>,
    pub quorum: usize,
    pub sequencer_interval_ms: u64,
    pub anchor_rpc_url: Option<String>,
    pub anchor_key: Option<SecretString>,
    pub anchor_interval_secs: u64,
    pub anchor_explorer_url: Option<String>,
    pub seal_interval_secs: u64,
    pub seal_batch: usize,
}

#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub roles_claim: String,
    pub agency_claim: String,
}

/// A setting that is required in the chosen profile but was not given.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing setting: pass --{flag} or set {env} ({why})")]
    Missing { flag: &'static str, env: &'static str, why: &'static str },
    #[error("invalid setting --{flag}: {problem}")]
    Invalid { flag: &'static str, problem: String },
}

/// Defaults of the embedded development stack (the README's run command).
pub mod dev {
    pub const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5433/onecity";
    pub const PUBLIC_URL: &str = "http://localhost:3000";
    pub const OIDC_ISSUER: &str = "http://127.0.0.1:4000";
    pub const OIDC_CLIENT_ID: &str = "onecity-portal";
    pub const OIDC_CLIENT_SECRET: &str = "onecity-dev-secret";
    pub const LEDGER_KEY_FILE: &str = ".data/keys/log.key";
    pub const PSEUDONYM_KEY_FILE: &str = ".data/keys/pseudonym.key";
    /// Account 0 of the public development mnemonic every local EVM node (anvil) funds.
    /// Public knowledge: for local chains only.
    pub const ANCHOR_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
}

impl ServeArgs {
    /// Parses flags (and the environment) as the `serve` command would, e.g. for tests.
    ///
    /// # Errors
    /// Clap's error for an unknown flag or a bad value.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        <Serve as clap::Parser>::try_parse_from(args).map(|s| s.args)
    }

    /// Applies the profile's defaults and checks that nothing required is missing.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first missing or invalid setting.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let dev = self.profile == Profile::Dev;
        let pick = |given: Option<String>, default: &str, flag, env, why| match (given, dev) {
            (Some(v), _) => Ok(v),
            (None, true) => Ok(default.to_owned()),
            (None, false) => Err(ConfigError::Missing { flag, env, why }),
        };
        let parse_url = |raw: String, flag| {
            Url::parse(&raw).map_err(|e| ConfigError::Invalid { flag, problem: format!("{raw:?} is not a URL: {e}") })
        };
        use secrecy::ExposeSecret;

        let database_url = pick(
            self.database_url.map(|s| s.expose_secret().to_owned()),
            dev::DATABASE_URL,
            "database-url",
            "DATABASE_URL",
            "where the portal keeps its data",
        )?;
        let public_url = match self.public_url {
            Some(u) => u,
            None => parse_url(
                pick(None, dev::PUBLIC_URL, "public-url", "ONECITY_PUBLIC_URL", "the URL browsers use")?,
                "public-url",
            )?,
        };
        // Kept as given: OIDC compares the issuer string exactly (a trailing slash matters).
        let issuer =
            pick(self.oidc_issuer, dev::OIDC_ISSUER, "oidc-issuer", "ONECITY_OIDC_ISSUER", "the identity provider")?;
        parse_url(issuer.clone(), "oidc-issuer")?;
        let client_id = pick(
            self.oidc_client_id,
            dev::OIDC_CLIENT_ID,
            "oidc-client-id",
            "ONECITY_OIDC_CLIENT_ID",
            "the portal's client at the identity provider",
        )?;
        let client_secret = pick(
            self.oidc_client_secret.map(|s| s.expose_secret().to_owned()),
            dev::OIDC_CLIENT_SECRET,
            "oidc-client-secret",
            "ONECITY_OIDC_CLIENT_SECRET",
            "the portal's client secret",
        )?;
        let cookie_secure = match (self.cookie_secure, dev) {
            (Some(v), _) => v,
            (None, true) => false,
            (None, false) => {
                return Err(ConfigError::Missing {
                    flag: "cookie-secure",
                    env: "ONECITY_COOKIE_SECURE",
                    why: "true behind HTTPS; false only for plain-http testing",
                });
            }
        };
        if !dev && !cookie_secure && public_url.scheme() == "https" {
            return Err(ConfigError::Invalid {
                flag: "cookie-secure",
                problem: "must be true when the public URL is https".into(),
            });
        }
        if self.oidc_roles_claim.split('.').any(str::is_empty) {
            return Err(ConfigError::Invalid {
                flag: "oidc-roles-claim",
                problem: format!("{:?} is not a dot path like `roles` or `realm_access.roles`", self.oidc_roles_claim),
            });
        }
        let mut scopes: Vec<String> =
            self.oidc_scopes.split_whitespace().filter(|s| *s != "openid").map(str::to_owned).collect();
        scopes.dedup();
        if self.session_idle_minutes <= 0 {
            return Err(ConfigError::Invalid { flag: "session-idle-minutes", problem: "must be positive".into() });
        }

        if self.sequencer_interval_ms == 0 || self.sequencer_interval_ms > 500 {
            return Err(ConfigError::Invalid {
                flag: "sequencer-interval-ms",
                problem: "must be between 1 and 500".into(),
            });
        }
        if self.seal_interval_secs == 0 {
            return Err(ConfigError::Invalid { flag: "seal-interval-secs", problem: "must be positive".into() });
        }
        if !(1..=65_536).contains(&self.seal_batch) {
            return Err(ConfigError::Invalid { flag: "seal-batch", problem: "must be between 1 and 65536".into() });
        }
        if !chain::note::is_valid_key_name(&self.ledger_origin) {
            return Err(ConfigError::Invalid {
                flag: "ledger-origin",
                problem: format!("{:?} is not a valid key name (no spaces or `+`)", self.ledger_origin),
            });
        }
        let key_file = match (self.ledger_key_file, dev) {
            (Some(p), _) => p,
            (None, true) => PathBuf::from(dev::LEDGER_KEY_FILE),
            (None, false) => {
                return Err(ConfigError::Missing {
                    flag: "ledger-key-file",
                    env: "ONECITY_LEDGER_KEY_FILE",
                    why: "the log's signing key",
                });
            }
        };
        let pseudonym_key_file = match (self.pseudonym_key_file, dev) {
            (Some(p), _) => p,
            (None, true) => PathBuf::from(dev::PSEUDONYM_KEY_FILE),
            (None, false) => {
                return Err(ConfigError::Missing {
                    flag: "pseudonym-key-file",
                    env: "ONECITY_PSEUDONYM_KEY_FILE",
                    why: "the secret residents' pseudonyms are derived from",
                });
            }
        };
        if let Some(url) = &self.anchor_explorer_url
            && (!url.contains("{tx}") || Url::parse(&url.replace("{tx}", "0")).is_err())
        {
            return Err(ConfigError::Invalid {
                flag: "anchor-explorer-url",
                problem: "must be a URL with {tx} where the transaction hash goes".into(),
            });
        }
        if self.api_rate_per_minute == 0 {
            return Err(ConfigError::Invalid { flag: "api-rate-per-minute", problem: "must be at least 1".into() });
        }
        if self.portal_rate_per_minute == 0 {
            return Err(ConfigError::Invalid { flag: "portal-rate-per-minute", problem: "must be at least 1".into() });
        }
        let client_ip_header = self
            .client_ip_header
            .map(|h| {
                http::HeaderName::try_from(h.trim()).map_err(|_| ConfigError::Invalid {
                    flag: "client-ip-header",
                    problem: format!("{h:?} is not a header name"),
                })
            })
            .transpose()?;
        let api_audience =
            self.api_audience.unwrap_or_else(|| format!("{}/api/v1", public_url.as_str().trim_end_matches('/')));
        if !dev && self.witnesses.is_empty() {
            return Err(ConfigError::Missing {
                flag: "witness",
                env: "ONECITY_WITNESSES",
                why: "checkpoints count only once the consortium's witnesses cosign them",
            });
        }
        let anchor_key = match (self.anchor_key, &self.anchor_rpc_url, dev) {
            (Some(k), _, _) => Some(k),
            (None, Some(_), true) => Some(dev::ANCHOR_KEY.to_owned().into()),
            (None, Some(_), false) => {
                return Err(ConfigError::Missing {
                    flag: "anchor-key",
                    env: "ONECITY_ANCHOR_KEY",
                    why: "anchoring needs the key of a funded account",
                });
            }
            (None, None, _) => None,
        };

        Ok(Config {
            profile: self.profile,
            database_url: database_url.into(),
            db_max_connections: self.db_max_connections,
            listen: self.listen,
            public_url,
            site_root: self.site_root,
            oidc: OidcConfig {
                issuer,
                client_id,
                client_secret: client_secret.into(),
                scopes,
                roles_claim: self.oidc_roles_claim,
                agency_claim: self.oidc_agency_claim,
            },
            cookie_secure,
            session_idle_minutes: self.session_idle_minutes,
            request_timeout_secs: self.request_timeout_secs,
            page_cache_mb: self.page_cache_mb,
            ledger: LedgerConfig {
                origin: self.ledger_origin,
                key_file,
                witnesses: self.witnesses,
                quorum: self.witness_quorum,
                sequencer_interval_ms: self.sequencer_interval_ms,
                anchor_rpc_url: self.anchor_rpc_url,
                anchor_key,
                anchor_interval_secs: self.anchor_interval_secs,
                anchor_explorer_url: self.anchor_explorer_url,
                seal_interval_secs: self.seal_interval_secs,
                seal_batch: self.seal_batch,
            },
            pseudonym_key_file,
            api_audience,
            api_rate_per_minute: self.api_rate_per_minute,
            portal_rate_per_minute: self.portal_rate_per_minute,
            client_ip_header,
        })
    }
}

impl Config {
    /// The redirect URI registered at the provider: `<public url>/auth/callback`.
    #[must_use]
    pub fn redirect_url(&self) -> Url {
        self.public_url.join("/auth/callback").expect("a base URL joins a path")
    }

    /// The portal's own origin (`scheme://host:port`), for Origin checks.
    #[must_use]
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ServeArgs {
        ServeArgs::try_parse_from(std::iter::once("onecity").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn prod_profile_refuses_to_start_without_an_issuer() {
        let err =
            parse(&["--profile", "prod", "--database-url", "postgres://x/y", "--public-url", "https://city.example"])
                .resolve()
                .unwrap_err()
                .to_string();
        assert!(err.contains("--oidc-issuer") && err.contains("ONECITY_OIDC_ISSUER"), "{err}");
    }

    /// Everything prod needs before the cookie policy and the ledger settings.
    const PROD_BASE: [&str; 6] = [
        "--profile=prod",
        "--database-url=postgres://x/y",
        "--public-url=https://city.example",
        "--oidc-issuer=https://id.example",
        "--oidc-client-id=portal",
        "--oidc-client-secret=s3cret",
    ];

    #[test]
    fn prod_profile_requires_an_explicit_cookie_policy() {
        let err = parse(&PROD_BASE).resolve().unwrap_err().to_string();
        assert!(err.contains("--cookie-secure"), "{err}");
    }

    #[test]
    fn prod_profile_requires_witnesses_a_log_key_and_a_pseudonym_key() {
        let base: Vec<&str> = PROD_BASE.iter().copied().chain(["--cookie-secure=true"]).collect();
        let err = parse(&base).resolve().unwrap_err().to_string();
        assert!(err.contains("--ledger-key-file"), "{err}");
        let with_key: Vec<&str> = base.iter().copied().chain(["--ledger-key-file=/var/lib/onecity/log.key"]).collect();
        let err = parse(&with_key).resolve().unwrap_err().to_string();
        assert!(err.contains("--pseudonym-key-file") && err.contains("ONECITY_PSEUDONYM_KEY_FILE"), "{err}");
        let both: Vec<&str> = with_key.iter().copied().chain(["--pseudonym-key-file=/var/lib/onecity/p.key"]).collect();
        let err = parse(&both).resolve().unwrap_err().to_string();
        assert!(err.contains("--witness") && err.contains("ONECITY_WITNESSES"), "{err}");
        let cfg = parse(&[&both[..], &["--witness=https://w.example,w+01234567+AAAA"]].concat()).resolve().unwrap();
        assert_eq!(cfg.api_audience, "https://city.example/api/v1");
    }

    #[test]
    fn dev_profile_fills_in_the_embedded_stack() {
        let cfg = parse(&["--profile", "dev"]).resolve().unwrap();
        assert_eq!(cfg.oidc.issuer, "http://127.0.0.1:4000");
        assert_eq!(cfg.redirect_url().as_str(), "http://localhost:3000/auth/callback");
        assert_eq!(cfg.public_origin(), "http://localhost:3000");
        assert!(!cfg.cookie_secure);
        assert_eq!(cfg.oidc.scopes, ["profile", "email", "roles"]);
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let cfg = parse(&["--profile", "dev", "--oidc-client-secret", "hunter2-very-secret"]).resolve().unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn a_malformed_roles_claim_path_is_rejected() {
        let err = parse(&["--profile", "dev", "--oidc-roles-claim", "realm_access..roles"]).resolve().unwrap_err();
        assert!(err.to_string().contains("--oidc-roles-claim"));
    }
}
