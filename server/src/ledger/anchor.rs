//! Anchoring: at an interval, the newest quorum checkpoint's SHA-256 is written to an
//! EVM chain as the calldata of a transaction from the anchor key to itself; chain id,
//! transaction and block are recorded. Failures back off and retry; they never block
//! serving or sequencing.

use std::time::Duration;

use k256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::evm::{EvmRpc, Receipt, address_of};

/// Advisory-lock key so only one portal process anchors at a time ("anchor01").
const ANCHOR_LOCK: i64 = 0x616e_6368_6f72_3031;
/// Longest wait between attempts after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub struct AnchorSettings {
    pub rpc: EvmRpc,
    pub key: SigningKey,
    pub interval: Duration,
    /// How long to wait for a receipt before giving up on this attempt.
    pub receipt_timeout: Duration,
}

/// What one anchoring attempt recorded.
#[derive(Debug, Clone)]
pub struct Anchored {
    pub tree_size: i64,
    pub chain_id: u64,
    pub tx_hash: String,
    pub receipt: Receipt,
}

/// Runs forever: anchor, wait `interval` (or longer after failures), repeat.
pub async fn run(db: PgPool, settings: AnchorSettings) {
    let mut wait = settings.interval;
    loop {
        match anchor_once(&db, &settings).await {
            Ok(Some(a)) => {
                tracing::info!(tree_size = a.tree_size, tx = %a.tx_hash, block = a.receipt.block_number, "checkpoint anchored");
                wait = settings.interval;
            }
            Ok(None) => wait = settings.interval,
            Err(e) => {
                wait = (wait * 2).min(MAX_BACKOFF);
                tracing::warn!(error = format!("{e:#}"), retry_in_secs = wait.as_secs(), "anchoring failed");
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// Anchors the newest quorum checkpoint if it is not anchored yet.
///
/// # Errors
/// Node or database errors; a reverted transaction.
pub async fn anchor_once(db: &PgPool, s: &AnchorSettings) -> anyhow::Result<Option<Anchored>> {
    let mut conn = db.acquire().await?;
    let locked: bool =
        sqlx::query_scalar!("select pg_try_advisory_lock($1) as \"l!\"", ANCHOR_LOCK).fetch_one(&mut *conn).await?;
    if !locked {
        return Ok(None);
    }
    let result = anchor_locked(&mut conn, s).await;
    sqlx::query_scalar!("select pg_advisory_unlock($1)", ANCHOR_LOCK).fetch_one(&mut *conn).await?;
    result
}

async fn anchor_locked(conn: &mut sqlx::PgConnection, s: &AnchorSettings) -> anyhow::Result<Option<Anchored>> {
    let Some(cp) = sqlx::query!(
        r#"
        select c.tree_size, c.note from ledger_checkpoint c
        where c.quorum_at is not null
          and c.tree_size > coalesce((select max(tree_size) from ledger_anchor), -1)
        order by c.tree_size desc limit 1
        "#
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let digest: [u8; 32] = Sha256::digest(cp.note.as_bytes()).into();
    let chain_id = s.rpc.chain_id().await?;
    let tx_hash = s.rpc.send_data(&s.key, address_of(&s.key), &digest).await?;
    let deadline = tokio::time::Instant::now() + s.receipt_timeout;
    let receipt = loop {
        if let Some(r) = s.rpc.receipt(&tx_hash).await? {
            break r;
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no receipt for {tx_hash} within {:?}", s.receipt_timeout);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if !receipt.success {
        anyhow::bail!("anchor transaction {tx_hash} reverted");
    }
    sqlx::query!(
        // language=PostgreSQL
        r#"
        insert into ledger_anchor (tree_size, checkpoint_hash, chain_id, tx_hash, block_number)
        values ($1, $2, $3, $4, $5)
        "#,
        cp.tree_size,
        &digest[..],
        i64::try_from(chain_id)?,
        tx_hash,
        i64::try_from(receipt.block_number)?
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(Anchored { tree_size: cp.tree_size, chain_id, tx_hash, receipt }))
}
