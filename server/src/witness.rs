//! The witness node: a C2SP tlog-witness server (<https://c2sp.org/tlog-witness>) that
//! cosigns the ledger's checkpoints with a `cosignature/v1` key (C2SP tlog-cosignature,
//! type 0x04) after checking that the log only grew since the last checkpoint it cosigned.
//!
//! Each witness is its own process with its own key file and its own database (never the
//! portal's). Its whole durable state is one row per log origin, `witness_checkpoint`: the
//! size and root hash of the latest checkpoint it cosigned. The check against that row and
//! its update are one compare-and-swap inside a transaction that commits before the
//! response is sent, so a witness never cosigns a rollback or a fork, even under concurrent
//! requests or a crash and restart (tlog-witness §"add-checkpoint", last paragraph).
//!
//! The protocol checks themselves are pure and live in
//! [`chain::cosign::decide_add_checkpoint_with_keys`]; this module adds HTTP, state and
//! the clock. Not implemented: the optional `sign-subtree` call and the monitor retrieval
//! endpoint (`GET <origin hash>/checkpoint`, a SHOULD), which would need the full note stored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chain::Hash;
use chain::cosign::{
    AddCheckpointDecision, AddCheckpointRequest, CosignatureSigner, Ed25519Cosigner, decide_add_checkpoint_with_keys,
    format_cosignature_line,
};
use chain::note::{SIG_TYPE_ED25519, VerifierKey};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::PgPool;
use tower_http::trace::TraceLayer;

use crate::keyfile::load_or_create_seed;

/// Largest `add-checkpoint` body accepted: a maximal signed note (64 KiB) plus 63 proof
/// lines and the `old` line fit; anything larger is answered 413 before it is parsed.
pub const MAX_BODY_BYTES: usize = chain::note::MAX_NOTE_BYTES + 4096;

/// Content type of a 409 answer's body (C2SP tlog-witness).
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// `onecity witness ...`
#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Create the witness key if it does not exist yet, and print its verifier key (vkey).
    Keygen(KeyArgs),
    /// Run the witness's HTTP server (C2SP tlog-witness `add-checkpoint`).
    Serve(WitnessServeArgs),
}

/// Which key a witness signs with.
#[derive(Args, Clone, Debug)]
pub struct KeyArgs {
    /// Witness key name, e.g. witness.court.onecity.example (a C2SP signed-note key name:
    /// no spaces, no `+`).
    #[arg(long, env = "ONECITY_WITNESS_NAME")]
    pub name: String,

    /// File holding the witness's Ed25519 seed (64 hex characters); created with mode 0600
    /// if missing. Keep it secret and back it up: a witness that loses its key must be
    /// replaced in every policy.
    #[arg(long, env = "ONECITY_WITNESS_KEY_FILE")]
    pub key_file: PathBuf,
}

/// Settings of `onecity witness serve`.
#[derive(Args, Clone, Debug)]
pub struct WitnessServeArgs {
    #[command(flatten)]
    pub key: KeyArgs,

    /// PostgreSQL URL of the witness's own database (not the portal's); the witness creates
    /// its one table there if missing.
    #[arg(long, env = "ONECITY_WITNESS_DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,

    /// Maximum connections in the witness's database pool.
    #[arg(long, env = "ONECITY_WITNESS_DB_MAX_CONNECTIONS", default_value_t = 5)]
    pub db_max_connections: u32,

    /// Address the HTTP server binds to, e.g. 127.0.0.1:7381. Only this address is bound.
    #[arg(long, env = "ONECITY_WITNESS_LISTEN")]
    pub listen: SocketAddr,

    /// Verifier key (vkey, Ed25519 type 0x01) of a log this witness cosigns; its name is the
    /// log's origin. Repeat the flag (or separate with commas in the variable) for several
    /// logs or several keys of one log.
    #[arg(long = "log-vkey", env = "ONECITY_WITNESS_LOG_VKEY", value_delimiter = ',', required = true)]
    pub log_vkeys: Vec<String>,
}

/// Runs a `witness` subcommand.
///
/// # Errors
/// Bad settings, an unusable key file or database, or a server failure.
pub async fn run(command: WitnessCommand) -> anyhow::Result<()> {
    match command {
        WitnessCommand::Keygen(args) => {
            let vkey = keygen(&args.name, &args.key_file)?;
            println!("{vkey}");
            Ok(())
        }
        WitnessCommand::Serve(args) => serve(args).await,
    }
}

/// Loads the witness key from `key_file`, creating the file if missing.
///
/// # Errors
/// An invalid key name, or an unreadable or malformed key file.
pub fn load_cosigner(name: &str, key_file: &Path) -> anyhow::Result<Ed25519Cosigner> {
    // Check the name before creating a key file for it.
    if !chain::note::is_valid_key_name(name) {
        bail!("invalid witness name {name:?}: a key name has no spaces and no `+`");
    }
    let seed = load_or_create_seed(key_file)?;
    Ed25519Cosigner::from_seed(name, &seed).with_context(|| format!("invalid witness name {name:?}"))
}

/// `witness keygen`: creates the key if missing (idempotent) and returns its verifier key
/// (`name+keyid+base64(0x04 || public key)`).
///
/// # Errors
/// As [`load_cosigner`].
pub fn keygen(name: &str, key_file: &Path) -> anyhow::Result<VerifierKey> {
    Ok(load_cosigner(name, key_file)?.verifier_key())
}

/// Parses the `--log-vkey` values: each must be an Ed25519 note key (type 0x01), listed once.
///
/// # Errors
/// A malformed vkey, another key type, or a duplicate.
pub fn parse_log_vkeys(vkeys: &[String]) -> anyhow::Result<Vec<VerifierKey>> {
    let mut keys: Vec<VerifierKey> = Vec::new();
    for v in vkeys.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let k = VerifierKey::parse(v).with_context(|| format!("invalid --log-vkey {v:?}"))?;
        if keys.contains(&k) {
            bail!("--log-vkey {v:?} is listed twice");
        }
        keys.push(k);
    }
    if keys.is_empty() {
        bail!("at least one --log-vkey is required");
    }
    Ok(keys)
}

/// Creates the witness's table if it does not exist.
///
/// The witness's database is not the portal's, so it has no migrations and no offline query
/// data (`.sqlx/`): every query in this module is a runtime-checked `sqlx::query`, not the
/// `query!` macros.
///
/// # Errors
/// Database errors.
pub async fn init_schema(db: &PgPool) -> anyhow::Result<()> {
    // language=PostgreSQL
    sqlx::query(
        r"create table if not exists witness_checkpoint (
            origin text primary key,
            tree_size bigint not null,
            root_hash bytea not null,
            updated_at timestamptz not null default now()
        )",
    )
    .execute(db)
    .await
    .context("cannot create table witness_checkpoint")?;
    Ok(())
}

/// What the witness's handlers reach. Cheap to clone.
#[derive(Clone)]
pub struct WitnessState {
    db: PgPool,
    cosigner: Arc<Ed25519Cosigner>,
    logs: Arc<Vec<VerifierKey>>,
}

impl WitnessState {
    /// A witness with key `cosigner`, trusting the log keys `logs` (each key's name is its
    /// log's origin), keeping state in `db` (call [`init_schema`] first).
    ///
    /// # Errors
    /// A log key that is not an Ed25519 note key (type 0x01), or no log key.
    pub fn new(db: PgPool, cosigner: Ed25519Cosigner, logs: Vec<VerifierKey>) -> anyhow::Result<Self> {
        if logs.is_empty() {
            bail!("a witness needs at least one log key");
        }
        if let Some(k) = logs.iter().find(|k| k.sig_type != SIG_TYPE_ED25519) {
            bail!("log key {:?} must be an Ed25519 (type 0x01) note key, not type {:#04x}", k.name, k.sig_type);
        }
        Ok(Self { db, cosigner: Arc::new(cosigner), logs: Arc::new(logs) })
    }

    /// The witness's verifier key.
    #[must_use]
    pub fn verifier_key(&self) -> VerifierKey {
        self.cosigner.verifier_key()
    }
}

/// The witness's routes: `POST /add-checkpoint` and `GET /healthz`.
pub fn router(state: WitnessState) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Connects, creates the table, binds `--listen` and serves until Ctrl-C or SIGTERM.
///
/// # Errors
/// Bad settings, key file, database or listener.
pub async fn serve(args: WitnessServeArgs) -> anyhow::Result<()> {
    let logs = parse_log_vkeys(&args.log_vkeys)?;
    let cosigner = load_cosigner(&args.key.name, &args.key.key_file)?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(args.database_url.expose_secret())
        .await
        .context("cannot connect to the witness database (check --database-url / ONECITY_WITNESS_DATABASE_URL)")?;
    init_schema(&db).await?;
    let state = WitnessState::new(db, cosigner, logs)?;
    let origins: Vec<&str> = state.logs.iter().map(|k| k.name.as_str()).collect();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, vkey = %state.verifier_key(), ?origins, "onecity witness listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(crate::shutdown::shutdown_signal()).await?;
    Ok(())
}

async fn healthz(State(state): State<WitnessState>) -> Result<&'static str, WitnessError> {
    sqlx::query("select 1").execute(&state.db).await?;
    Ok("ok\n")
}

/// The outcomes of `add-checkpoint` other than 200 (C2SP tlog-witness §"add-checkpoint").
/// Bodies are one line of plain text; internal detail is logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// 400: the body is malformed, or the old size is above the checkpoint size.
    #[error("{0}")]
    BadRequest(String),
    /// 403: no valid signature from a trusted log key, or a bad one.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the checkpoint's origin is not a log this witness cosigns.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 409: the old size is not the size of the latest checkpoint cosigned for the origin.
    #[error("old size does not match the latest cosigned size {latest_size}")]
    Conflict {
        /// Size of the latest checkpoint cosigned for the origin (0 if none).
        latest_size: u64,
    },
    /// 422: the checkpoint is not consistent with the latest one cosigned.
    #[error("{0}")]
    Unprocessable(String),
    #[error("an internal error occurred")]
    Sqlx(#[from] sqlx::Error),
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

impl WitnessError {
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnknownOrigin => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Sqlx(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WitnessError {
    fn into_response(self) -> Response {
        match &self {
            Self::Sqlx(e) => tracing::error!(error = ?e, "witness database error"),
            Self::Internal(e) => tracing::error!(error = ?e, "witness internal error"),
            _ => {}
        }
        let status = self.status_code();
        if let Self::Conflict { latest_size } = self {
            // "The response body MUST consist of the tree size of the latest cosigned
            // checkpoint in decimal, followed by a newline" with `text/x.tlog.size`.
            return (status, [(header::CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE)], format!("{latest_size}\n"))
                .into_response();
        }
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{self}\n")).into_response()
    }
}

impl From<AddCheckpointDecision> for WitnessError {
    fn from(d: AddCheckpointDecision) -> Self {
        match d {
            AddCheckpointDecision::UnknownOrigin => Self::UnknownOrigin,
            AddCheckpointDecision::Forbidden(m) => Self::Forbidden(m),
            AddCheckpointDecision::BadRequest(m) => Self::BadRequest(m),
            AddCheckpointDecision::Conflict { latest_size } => Self::Conflict { latest_size },
            AddCheckpointDecision::Unprocessable(m) => Self::Unprocessable(m),
            AddCheckpointDecision::Cosign => Self::Internal(anyhow::anyhow!("a cosign decision is not an error")),
        }
    }
}

/// `POST /add-checkpoint` (C2SP tlog-witness §"add-checkpoint").
///
/// The checks that need no state (origin 404, log signature 403, old size above the
/// checkpoint size 400) run first without touching the database, so unauthenticated junk
/// never takes a row lock. Then, in one transaction: lock the origin's row (`for update`),
/// decide against it (409 / 422 / cosign), sign, write the new size and root guarded by the
/// old ones, commit, and only then answer 200 with the cosignature line.
async fn add_checkpoint(State(state): State<WitnessState>, body: Bytes) -> Result<Response, WitnessError> {
    let req = AddCheckpointRequest::parse(&body).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
    let cp = &req.checkpoint.checkpoint;
    if let d @ (AddCheckpointDecision::UnknownOrigin
    | AddCheckpointDecision::Forbidden(_)
    | AddCheckpointDecision::BadRequest(_)) = decide_add_checkpoint_with_keys(&req, &state.logs, None)
    {
        tracing::debug!(origin = %cp.origin, decision = ?d, "add-checkpoint refused");
        return Err(d.into());
    }
    let new_size = i64::try_from(cp.size)
        .map_err(|_| WitnessError::BadRequest(format!("checkpoint size {} is too large", cp.size)))?;

    let mut tx = state.db.begin().await?;
    // language=PostgreSQL
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select tree_size, root_hash from witness_checkpoint where origin = $1 for update")
            .bind(&cp.origin)
            .fetch_optional(&mut *tx)
            .await?;
    let latest = row.map(|(size, root)| stored_state(&cp.origin, size, &root)).transpose()?;
    let decision = decide_add_checkpoint_with_keys(&req, &state.logs, latest);
    if decision != AddCheckpointDecision::Cosign {
        if let AddCheckpointDecision::Unprocessable(why) = &decision {
            // The signature is valid, so this may be evidence of log misbehaviour (the spec
            // allows logging it); the note is public data.
            tracing::warn!(
                origin = %cp.origin, old_size = req.old_size, size = cp.size, reason = %why,
                checkpoint = %cp.to_text(), "refused an inconsistent checkpoint"
            );
        } else {
            tracing::info!(origin = %cp.origin, old_size = req.old_size, size = cp.size, decision = ?decision, "add-checkpoint refused");
        }
        return Err(decision.into());
    }

    let signature = state.cosigner.cosign(cp, now_unix()).context("cannot cosign")?;

    let written = match latest {
        // language=PostgreSQL
        Some((old_size, old_root)) => sqlx::query(
            "update witness_checkpoint set tree_size = $2, root_hash = $3, updated_at = now() \
             where origin = $1 and tree_size = $4 and root_hash = $5",
        )
        .bind(&cp.origin)
        .bind(new_size)
        .bind(&cp.root.0[..])
        .bind(i64::try_from(old_size).context("stored size overflows")?)
        .bind(&old_root.0[..])
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        // No row to lock yet: two first requests can both get here; the primary key lets
        // exactly one insert win, the other writes nothing and answers 409.
        // language=PostgreSQL
        None => sqlx::query(
            "insert into witness_checkpoint (origin, tree_size, root_hash) values ($1, $2, $3) \
             on conflict (origin) do nothing",
        )
        .bind(&cp.origin)
        .bind(new_size)
        .bind(&cp.root.0[..])
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    if written != 1 {
        tx.rollback().await?;
        let latest_size = stored_size(&state.db, &cp.origin).await?;
        tracing::info!(origin = %cp.origin, size = cp.size, latest_size, "lost a concurrent add-checkpoint");
        return Err(WitnessError::Conflict { latest_size });
    }
    tx.commit().await?;
    tracing::info!(origin = %cp.origin, old_size = req.old_size, size = cp.size, "cosigned checkpoint");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format_cosignature_line(&signature))
        .into_response())
}

fn stored_state(origin: &str, size: i64, root: &[u8]) -> anyhow::Result<(u64, Hash)> {
    let size = u64::try_from(size).with_context(|| format!("negative stored size for {origin}"))?;
    let root = Hash::from_slice(root).with_context(|| format!("stored root hash for {origin} is not 32 bytes"))?;
    Ok((size, root))
}

async fn stored_size(db: &PgPool, origin: &str) -> Result<u64, WitnessError> {
    // language=PostgreSQL
    let size: Option<i64> = sqlx::query_scalar("select tree_size from witness_checkpoint where origin = $1")
        .bind(origin)
        .fetch_optional(db)
        .await?;
    Ok(size.map(u64::try_from).transpose().context("negative stored size")?.unwrap_or(0))
}

/// Current Unix time in seconds, at least 1: a cosignature's timestamp must not be zero.
fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_vkeys_must_be_note_keys_listed_once() {
        let log = chain::note::NoteSigner::from_seed("log.example", &[1; 32]).unwrap().verifier_key().to_string();
        assert_eq!(parse_log_vkeys(&[log.clone(), String::new()]).unwrap().len(), 1);
        assert!(parse_log_vkeys(&[log.clone(), log]).is_err());
        assert!(parse_log_vkeys(&[]).is_err());
    }

    #[test]
    fn the_409_answer_is_the_size_as_text_x_tlog_size() {
        let resp = WitnessError::Conflict { latest_size: 7 }.into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], TLOG_SIZE_CONTENT_TYPE);
    }
}
