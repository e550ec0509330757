//! Proof bundles (docs/ledger-format.md) assembled from storage: everything a resident or
//! auditor needs to check, offline, that an entry is in the log and, for a grant, whether it
//! is active or revoked as of a quorum-cosigned checkpoint.

use anyhow::Context;
use chain::bundle::{AtReadProof, BUNDLE_V4, BUNDLE_VERSION, DeviceStatusProof, EntryProof, ProofBundle, StatusProof};
use chain::leaf::{Event, GrantId};
use chain::tree;
use sqlx::PgConnection;

use super::LedgerSettings;
use super::store::{device_status_proof, status_proof, with_stored_hashes};

/// Why no bundle can be made (yet).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("entry {0} is not in a quorum-cosigned checkpoint yet")]
    NotYetCosigned(u64),
    #[error("no witnesses are configured, so nothing is ever cosigned")]
    NoPolicy,
    #[error("record {0} version {1} is not sealed yet")]
    NotYetSealed(uuid::Uuid, i32),
    #[error("reading {1} of device {0} is not sealed yet, or not yours")]
    ReadingNotSealed(uuid::Uuid, i64),
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
    let cp = sqlx::query!(
        "select tree_size, note from ledger_checkpoint where quorum_at is not null order by tree_size desc limit 1"
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?;
    let Some(cp) = cp.filter(|c| u64::try_from(c.tree_size).is_ok_and(|s| s > index)) else {
        return Err(BundleError::NotYetCosigned(index));
    };
    bundle_in(conn, settings, index, u64::try_from(cp.tree_size).map_err(anyhow::Error::from)?, cp.note).await
}

/// The bundle for the entry at `index` in the quorum checkpoint of `size` whose note is `note`.
async fn bundle_in(
    conn: &mut PgConnection,
    settings: &LedgerSettings,
    index: u64,
    size: u64,
    note: String,
) -> Result<ProofBundle, BundleError> {
    let policy = settings.policy.clone().ok_or(BundleError::NoPolicy)?;
    let (entry, body) = entry_proof(conn, index, size).await?;
    let event = Event::decode(&body).map_err(anyhow::Error::from)?;

    let status = match event.grant_id() {
        None => None,
        Some(grant_id) => {
            let (root_entry, map_version) = status_root(conn, size).await?;
            let (status, map_proof) = status_proof(conn, map_version, &grant_id).await?;
            Some(StatusProof { entry: root_entry, status, map_proof })
        }
    };
    // A passport: the registration with the device's state and holder now.
    let device = match &event {
        Event::DeviceRegisteredV2(p) => {
            let (root_entry, map_version) = status_root(conn, size).await?;
            let (status, map_proof) = device_status_proof(conn, map_version, &p.device_id).await?;
            let status =
                status.with_context(|| format!("device {} is registered but not in the status map", p.device_id))?;
            Some(DeviceStatusProof { entry: root_entry, status, map_proof })
        }
        _ => None,
    };
    let at_read = match &event {
        Event::AccessReceipt { grant_id, verified_at: Some(at), .. } => {
            Some(at_read(conn, size, *grant_id, at.size).await?)
        }
        _ => None,
    };
    // Self-check: never hand out a bundle that does not verify.
    let bundle = ProofBundle {
        version: if device.is_some() { BUNDLE_V4 } else { BUNDLE_VERSION },
        entry,
        checkpoint: note,
        status,
        policy,
        at_read,
        record: None,
        anchor: None,
        device,
        reading: None,
    };
    if let Err(e) = chain::verify_bundle(&bundle, &bundle.policy, super::unix_now()) {
        return Err(anyhow::anyhow!("assembled bundle does not verify: {e}").into());
    }
    Ok(bundle)
}

/// The `status.root` entry closing the checkpoint of `size`, with its map version: every
/// checkpoint closes with the entry that binds the map's root.
async fn status_root(conn: &mut PgConnection, size: u64) -> anyhow::Result<(EntryProof, u64)> {
    let (root_entry, root_body) = entry_proof(conn, size - 1, size).await?;
    let Event::StatusRoot { map_version, .. } = Event::decode(&root_body)? else {
        anyhow::bail!("checkpoint {size} does not end with a status.root entry");
    };
    Ok((root_entry, map_version))
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

/// The existence proof of a sealed record version: the version with its path in its batch,
/// the batch's `records.batch` entry in a quorum checkpoint and, when that checkpoint was
/// anchored (the newest anchored one that covers the batch is preferred), the anchor.
///
/// # Errors
/// [`BundleError::NotYetSealed`], [`BundleError::NotYetCosigned`]; storage errors, and a
/// stored batch tree that does not lead to the batch root (an assembled proof that does not
/// verify is never handed out).
pub async fn record_bundle(
    conn: &mut PgConnection,
    settings: &LedgerSettings,
    record: uuid::Uuid,
    version: i32,
) -> Result<ProofBundle, BundleError> {
    let row = sqlx::query!(
        // language=PostgreSQL
        r#"select c.scope_key, c.recorded_at, c.content_hash, c.salt, c.batch_position as "position!",
                  b.record_batch_id, b.record_count, e.leaf_index as "leaf_index?"
           from confirmation_record c
           join record_batch b using (record_batch_id)
           join ledger_entry e using (ledger_entry_id)
           where c.confirmation_record_id = $1 and c.version = $2"#,
        record,
        version
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?
    .ok_or(BundleError::NotYetSealed(record, version))?;
    let index = u64::try_from(row.leaf_index.ok_or(BundleError::NotYetSealed(record, version))?)
        .map_err(anyhow::Error::from)?;
    let (size, note, anchor) = seal_checkpoint(conn, index).await?;
    let mut bundle = bundle_in(conn, settings, index, size, note).await?;
    let count = u64::try_from(row.record_count).map_err(anyhow::Error::from)?;
    let position = u64::try_from(row.position).map_err(anyhow::Error::from)?;
    let batch_path = batch_path(conn, row.record_batch_id, count, position).await?;
    let record_version = chain::record::RecordVersion {
        record_id: *record.as_bytes(),
        version: u32::try_from(version).map_err(anyhow::Error::from)?,
        scope: row.scope_key,
        recorded_at: u64::try_from(row.recorded_at.unix_timestamp()).map_err(anyhow::Error::from)?,
        content_hash: chain::Hash::from_slice(&row.content_hash).map_err(anyhow::Error::from)?,
        salt: row.salt.as_slice().try_into().context("a salt is 32 bytes")?,
    };
    bundle.version = chain::bundle::BUNDLE_V3;
    bundle.record = Some(chain::record::RecordProof { record: record_version, position, batch_path });
    bundle.anchor = anchor;
    let event = Event::decode(&bundle.entry.leaf_bytes().map_err(anyhow::Error::from)?).map_err(anyhow::Error::from)?;
    if let Err(e) = chain::record::verify_record(&event, bundle.record.as_ref().expect("just set"), None) {
        let what = "its stored hash, salt or batch no longer leads to its sealed batch root";
        let tampered = crate::domain::records::Tampered { record, version, what };
        return Err(anyhow::Error::new(tampered).context(e.to_string()).into());
    }
    Ok(bundle)
}

/// The checkpoint a sealed batch at `index` is proven against: the newest anchored quorum
/// checkpoint covering it, with its anchor, else the newest quorum checkpoint.
async fn seal_checkpoint(
    conn: &mut PgConnection,
    index: u64,
) -> Result<(u64, String, Option<chain::bundle::AnchorRef>), BundleError> {
    let leaf_index = i64::try_from(index).map_err(anyhow::Error::from)?;
    // Prefer the newest anchored quorum checkpoint covering the batch, if its note is still
    // the exact text that was anchored (a cosignature that arrives later changes the note);
    // else the newest quorum checkpoint. Anchors are few (one per anchor interval) and walked
    // newest first by index; checkpoints are read by their primary key.
    let cp = sqlx::query!(
        // language=PostgreSQL
        r#"select tree_size as "tree_size!", note as "note!", chain_id, tx_hash, block_number, checkpoint_hash
           from ((select 0 as pref, c.tree_size, c.note, a.chain_id, a.tx_hash, a.block_number, a.checkpoint_hash
                  from ledger_anchor a join ledger_checkpoint c using (tree_size)
                  where a.tree_size > $1 and c.quorum_at is not null
                    and a.checkpoint_hash = sha256(convert_to(c.note, 'UTF8'))
                  order by a.tree_size desc limit 1)
                 union all
                 (select 1, tree_size, note, null, null, null, null from ledger_checkpoint
                  where quorum_at is not null and tree_size > $1 order by tree_size desc limit 1)) as choice
           order by pref limit 1"#,
        leaf_index
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?
    .ok_or(BundleError::NotYetCosigned(index))?;
    let size = u64::try_from(cp.tree_size).map_err(anyhow::Error::from)?;
    let anchor = match (cp.chain_id, cp.tx_hash, cp.block_number, cp.checkpoint_hash) {
        (Some(chain_id), Some(tx_hash), Some(block), Some(hash)) => Some(chain::bundle::AnchorRef {
            chain_id: u64::try_from(chain_id).map_err(anyhow::Error::from)?,
            tx_hash,
            block_number: u64::try_from(block).map_err(anyhow::Error::from)?,
            checkpoint_sha256: chain::Hash::from_slice(&hash).map_err(anyhow::Error::from)?,
        }),
        _ => None,
    };
    Ok((size, cp.note, anchor))
}

/// The existence proof of one of `resident`'s device readings (bundle version 4 with
/// `reading`, docs/ledger-format.md §8.5): the batch that sealed it, its path there, the
/// device's registration entry, in the newest (preferably anchored) quorum checkpoint. The
/// reading must be stored under `resident` (the device's holder when it was read).
///
/// # Errors
/// [`BundleError::ReadingNotSealed`] when it is not sealed yet, or not the resident's;
/// [`BundleError::NotYetCosigned`]; storage errors, and a reading whose stored fields no longer
/// verify (its signature or its seal), which also raises a `reading.tampered` alarm.
pub async fn reading_bundle(
    conn: &mut PgConnection,
    settings: &LedgerSettings,
    resident: uuid::Uuid,
    device: uuid::Uuid,
    counter: i64,
) -> Result<ProofBundle, BundleError> {
    let not_sealed = || BundleError::ReadingNotSealed(device, counter);
    let row = sqlx::query!(
        // language=PostgreSQL
        r#"select s.measured_at, s.batch_position, b.record_batch_id, b.record_count, d.kind,
                  e.leaf_index as "leaf_index?", p.leaf_index as "passport_index?"
           from sealed_reading s
           join record_batch b using (record_batch_id)
           join ledger_entry e on e.ledger_entry_id = b.ledger_entry_id
           join device d on d.device_id = s.device_id
           join ledger_entry p on p.ledger_entry_id = d.registered_entry_id
           where s.device_id = $1 and s.counter = $2"#,
        device,
        counter
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?
    .ok_or_else(not_sealed)?;
    let data = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"select data from behavioral_record
           where resident_id = $1 and scope_key = $2 and occurred_at = $3
             and data->>'device' = $4 and (data->>'counter')::bigint = $5"#,
        resident,
        crate::domain::devices::scope_of(&row.kind),
        row.measured_at,
        device.to_string(),
        counter
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(anyhow::Error::from)?
    .ok_or_else(not_sealed)?;
    let (Some(index), Some(passport)) = (row.leaf_index, row.passport_index) else {
        return Err(not_sealed());
    };
    let index = u64::try_from(index).map_err(anyhow::Error::from)?;
    let (size, note, anchor) = seal_checkpoint(conn, index).await?;
    let reading = chain::device::SignedReading {
        reading: chain::device::Reading {
            device_id: chain::leaf::DeviceId(*device.as_bytes()),
            counter: u64::try_from(counter).map_err(anyhow::Error::from)?,
            measured_at: u64::try_from(row.measured_at.unix_timestamp()).map_err(anyhow::Error::from)?,
            metric: data["metric"].as_str().unwrap_or_default().to_owned(),
            value: data["value"].as_i64().unwrap_or_default(),
        },
        signature: data["signature"].as_str().unwrap_or_default().to_owned(),
    };
    let count = u64::try_from(row.record_count).map_err(anyhow::Error::from)?;
    let position = u64::try_from(row.batch_position).map_err(anyhow::Error::from)?;
    let batch_path = batch_path(conn, row.record_batch_id, count, position).await?;
    let (passport, _) = entry_proof(conn, u64::try_from(passport).map_err(anyhow::Error::from)?, size).await?;
    let mut bundle = bundle_in(conn, settings, index, size, note).await?;
    bundle.version = BUNDLE_V4;
    bundle.reading = Some(chain::bundle::ReadingProof { reading, position, batch_path, passport });
    bundle.anchor = anchor;
    // Never hand out a proof that does not verify: a stored reading edited behind the
    // server's back no longer matches its signature or its seal.
    if let Err(e) = chain::verify_bundle(&bundle, &bundle.policy, super::unix_now()) {
        let detail = format!("device {device} reading {counter}: {e}");
        super::raise_alarm(conn, "reading.tampered", &detail).await?;
        return Err(anyhow::anyhow!("the stored reading does not verify: {detail}").into());
    }
    Ok(bundle)
}

/// The path of `position` in a batch of `count`, reading only the stored hashes it needs.
async fn batch_path(
    conn: &mut PgConnection,
    batch: i64,
    count: u64,
    position: u64,
) -> anyhow::Result<Vec<chain::Hash>> {
    let indexes = chain::record::path_indexes(count, position)?;
    let offsets: Vec<i32> = indexes.iter().map(|&i| i32::try_from(i * 32 + 1)).collect::<Result<_, _>>()?;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"select substring(b.tree from o for 32) as "h!" from record_batch b,
           unnest($2::int[]) with ordinality as x(o, n)
           where b.record_batch_id = $1 order by x.n"#,
        batch,
        &offsets
    )
    .fetch_all(&mut *conn)
    .await?;
    let hashes = hashes.iter().map(|h| chain::Hash::from_slice(h)).collect::<chain::error::Result<Vec<_>>>()?;
    Ok(chain::record::path_from(count, position, &indexes, &hashes)?)
}

/// Fills in the `seal` of every confirmation record in `data` that is sealed and cosigned
/// (the rest stay `null`).
///
/// # Errors
/// Storage errors, and a seal that does not verify for a record's content.
pub async fn attach_seals(
    conn: &mut PgConnection,
    settings: &LedgerSettings,
    data: &mut std::collections::BTreeMap<String, crate::domain::records::ScopeData>,
) -> anyhow::Result<()> {
    for scope in data.values_mut() {
        let crate::domain::records::ScopeData::Confirmation { records } = scope else { continue };
        for r in records {
            let version = i32::try_from(r.version)?;
            match record_bundle(conn, settings, r.id, version).await {
                Ok(bundle) => {
                    let proof = bundle.record.as_ref().expect("a record bundle carries its record");
                    chain::record::check_content(&proof.record, &r.data).map_err(|e| {
                        let what = "it no longer matches its seal";
                        anyhow::Error::new(crate::domain::records::Tampered { record: r.id, version, what })
                            .context(e.to_string())
                    })?;
                    r.seal = Some(bundle);
                }
                Err(
                    BundleError::NotYetSealed(..)
                    | BundleError::ReadingNotSealed(..)
                    | BundleError::NotYetCosigned(_)
                    | BundleError::NoPolicy,
                ) => {}
                Err(BundleError::Other(e)) => return Err(e),
            }
        }
    }
    Ok(())
}
