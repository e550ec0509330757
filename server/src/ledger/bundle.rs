//! Proof bundles (docs/ledger-format.md) assembled from storage: everything a resident or
//! auditor needs to check, offline, that an entry is in the log and, for a grant, whether it
//! is active or revoked as of a quorum-cosigned checkpoint.

use anyhow::Context;
use chain::bundle::{AtReadProof, BUNDLE_VERSION, EntryProof, ProofBundle, StatusProof};
use chain::leaf::{Event, GrantId};
use chain::tree;
use sqlx::PgConnection;

use super::LedgerSettings;
use super::store::{status_proof, with_stored_hashes};

/// Why no bundle can be made (yet).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("entry {0} is not in a quorum-cosigned checkpoint yet")]
    NotYetCosigned(u64),
    #[error("no witnesses are configured, so nothing is ever cosigned")]
    NoPolicy,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub(crate) async fn entry_proof(
    conn: &mut PgConnection,
    index: u64,
    size: u64,
) -> anyhow::Result<(EntryProof, Vec<u8>)> {
    let body: Vec<u8> =
        sqlx::query_scalar!("select body from ledger_entry where leaf_index = $1", i64::try_from(index)?)
            .fetch_optional(&mut *conn)
            .await?
            .with_context(|| format!("entry {index} is missing from storage"))?;
    let proof = with_stored_hashes(conn, |r| tree::prove_inclusion(size, index, r)).await?;
    Ok((EntryProof::new(index, &body, proof), body))
}

/// The bundle for the entry at `index`, against the newest quorum checkpoint.
///
/// # Errors
/// [`BundleError::NotYetCosigned`] while no quorum checkpoint covers the entry; storage errors.
pub async fn bundle_for(
    conn: &mut PgConnection,
    settings: &LedgerSettings,
    index: u64,
) -> Result<ProofBundle, BundleError> {
    let policy = settings.policy.clone().ok_or(BundleError::NoPolicy)?;
    let cp = sqlx::query!(
        "select tree_size, note from ledger_checkpoint where quorum_at is not null order by tree_size desc limit 1"
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?;
    let Some(cp) = cp.filter(|c| u64::try_from(c.tree_size).is_ok_and(|s| s > index)) else {
        return Err(BundleError::NotYetCosigned(index));
    };
    let size = u64::try_from(cp.tree_size).map_err(anyhow::Error::from)?;
    let (entry, body) = entry_proof(conn, index, size).await?;
    let event = Event::decode(&body).map_err(anyhow::Error::from)?;

    let status = match event.grant_id() {
        None => None,
        Some(grant_id) => {
            // Every checkpoint closes with the status.root entry that binds the map's root.
            let (root_entry, root_body) = entry_proof(conn, size - 1, size).await?;
            let Event::StatusRoot { map_version, .. } = Event::decode(&root_body).map_err(anyhow::Error::from)? else {
                return Err(anyhow::anyhow!("checkpoint {size} does not end with a status.root entry").into());
            };
            let (status, map_proof) = status_proof(conn, map_version, &grant_id).await?;
            Some(StatusProof { entry: root_entry, status, map_proof })
        }
    };
    let at_read = match &event {
        Event::AccessReceipt { grant_id, verified_at: Some(at), .. } => {
            Some(at_read(conn, size, *grant_id, at.size).await?)
        }
        _ => None,
    };
    // Self-check: never hand out a bundle that does not verify.
    let bundle = ProofBundle { version: BUNDLE_VERSION, entry, checkpoint: cp.note, status, policy, at_read };
    if let Err(e) = chain::verify_bundle(&bundle, &bundle.policy, super::unix_now()) {
        return Err(anyhow::anyhow!("assembled bundle does not verify: {e}").into());
    }
    Ok(bundle)
}

/// What the gate verified before a receipt's read, as the receipt writer kept it, with that
/// checkpoint's note and the consistency proof from it to the bundle's checkpoint of `size`.
async fn at_read(conn: &mut PgConnection, size: u64, grant: GrantId, verified: u64) -> anyhow::Result<AtReadProof> {
    let row = sqlx::query!(
        r#"select p.grant_entry, p.status, c.note from grant_checkpoint_proof p
           join ledger_checkpoint c on c.tree_size = p.checkpoint_size and c.quorum_at is not null
           where p.data_grant_id = $1 and p.checkpoint_size = $2"#,
        uuid::Uuid::from_bytes(grant.0),
        i64::try_from(verified)?
    )
    .fetch_optional(&mut *conn)
    .await?
    .with_context(|| format!("the proofs the gate verified for grant {grant} at checkpoint {verified} are missing"))?;
    let consistency = with_stored_hashes(conn, |r| tree::prove_consistency(size, verified, r)).await?;
    Ok(AtReadProof {
        checkpoint: row.note,
        grant: serde_json::from_value(row.grant_entry).context("stored grant entry proof")?,
        status: serde_json::from_value(row.status).context("stored status proof")?,
        consistency,
    })
}

/// Parses the text of `/ledger/keys` (the log's vkey, each witness's vkey, `quorum K`) into
/// the policy a verifier trusts.
///
/// # Errors
/// A malformed key, a missing or bad quorum line.
pub fn parse_keys(text: &str) -> anyhow::Result<chain::WitnessPolicy> {
    Ok(chain::bundle::parse_policy(text)?)
}
