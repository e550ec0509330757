//! The city's ledger as a running service: entries queued in business transactions, a
//! sequencer that integrates them in batches and signs checkpoints, witnesses that cosign
//! them, anchors on an EVM chain, and the public C2SP tlog-tiles API.
//!
//! See docs/ledger-service.md for the storage layout, the lease and the failure model.

pub mod anchor;
pub mod bundle;
pub mod evm;
pub mod seal;
pub mod sequencer;
pub mod store;
pub mod witness_client;

use std::time::Duration;

use anyhow::{Context, bail};
use chain::Event;
use chain::cosign::WitnessPolicy;
use chain::note::{NoteSigner, VerifierKey};
use sqlx::PgConnection;

/// A witness as the sequencer sees it: where to send checkpoints and its verifier key.
#[derive(Clone, Debug)]
pub struct WitnessEndpoint {
    pub url: String,
    pub key: VerifierKey,
}

impl WitnessEndpoint {
    /// Parses `<base URL>,<vkey>` (the `--witness` flag).
    ///
    /// # Errors
    /// When either part is malformed.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (url, vkey) =
            spec.split_once(',').with_context(|| format!("--witness {spec:?}: expected `<URL>,<verifier key>`"))?;
        let parsed = url::Url::parse(url.trim()).with_context(|| format!("--witness: {url:?} is not a URL"))?;
        let key = VerifierKey::parse(vkey.trim()).with_context(|| format!("--witness: bad verifier key {vkey:?}"))?;
        Ok(Self { url: parsed.as_str().trim_end_matches('/').to_owned(), key })
    }
}

/// Everything about the log that does not change while the server runs.
pub struct LedgerSettings {
    pub signer: NoteSigner,
    pub witnesses: Vec<WitnessEndpoint>,
    /// `None` when no witnesses are configured: checkpoints are then never cosigned.
    pub policy: Option<WitnessPolicy>,
    pub sequencer_interval: Duration,
    pub max_batch: usize,
}

impl LedgerSettings {
    /// The log's key, witnesses and quorum from the configuration.
    ///
    /// # Errors
    /// An unreadable key file, a malformed `--witness`, an impossible quorum.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let seed = crate::keyfile::load_or_create_seed(&config.ledger.key_file)?;
        let signer = chain::note::NoteSigner::from_seed(&config.ledger.origin, &seed)?;
        let witnesses =
            config.ledger.witnesses.iter().map(|w| WitnessEndpoint::parse(w)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut settings = Self::new(signer, witnesses, config.ledger.quorum)?;
        settings.sequencer_interval = Duration::from_millis(config.ledger.sequencer_interval_ms);
        if settings.policy.is_none() {
            tracing::warn!("no witnesses configured: checkpoints will never be cosigned and grants stay pending");
        }
        Ok(settings)
    }

    /// # Errors
    /// When the quorum cannot be met by the witnesses given, or keys are malformed.
    pub fn new(signer: NoteSigner, witnesses: Vec<WitnessEndpoint>, quorum: usize) -> anyhow::Result<Self> {
        let policy = if witnesses.is_empty() {
            None
        } else {
            if quorum == 0 || quorum > witnesses.len() {
                bail!("--witness-quorum {quorum} must be between 1 and the number of witnesses ({})", witnesses.len());
            }
            Some(WitnessPolicy::new(signer.verifier_key(), witnesses.iter().map(|w| w.key.clone()).collect(), quorum)?)
        };
        Ok(Self { signer, witnesses, policy, sequencer_interval: Duration::from_millis(200), max_batch: 20_000 })
    }

    #[must_use]
    pub fn log_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    #[must_use]
    pub fn quorum(&self) -> usize {
        self.policy.as_ref().map_or(0, WitnessPolicy::quorum)
    }
}

/// Queues `event` for the log inside the caller's transaction: the entry commits together
/// with the business change that caused it, or not at all.
///
/// # Errors
/// Encoding or database errors.
pub async fn enqueue(conn: &mut PgConnection, event: &Event) -> anyhow::Result<i64> {
    let body = event.encode()?;
    let id = sqlx::query_scalar!(
        // language=PostgreSQL
        "insert into ledger_entry (kind, body) values ($1, $2) returning ledger_entry_id",
        event.type_name(),
        body
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Records an integrity alarm (table + error log line). Alarms are never raised twice for
/// the same open problem.
///
/// # Errors
/// Database errors.
pub async fn raise_alarm(conn: &mut PgConnection, kind: &str, detail: &str) -> anyhow::Result<()> {
    tracing::error!(kind, detail, "INTEGRITY ALARM");
    sqlx::query!(
        // language=PostgreSQL
        r#"
        insert into ledger_alarm (kind, detail)
        select $1, $2
        where not exists (select 1 from ledger_alarm where kind = $1 and detail = $2 and resolved_at is null)
        "#,
        kind,
        detail
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub use crate::clock::unix_now;
