//! `onecity verify`: checks a downloaded proof bundle offline against verifier keys the user
//! trusts (e.g. saved from `/ledger/keys` or published by the consortium), and prints a plain
//! verdict. Needs nothing but the two files.

use std::path::PathBuf;

use anyhow::Context;
use chain::{GrantStatus, ProofBundle, Verdict};
use clap::Args;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The proof bundle (JSON), as downloaded from the portal.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The keys to trust: the log's verifier key, each witness's, then `quorum K` (the format
    /// of `/ledger/keys`).
    #[arg(long)]
    pub keys: PathBuf,
    /// Judge the grant's validity at this Unix time instead of now.
    #[arg(long)]
    pub at: Option<u64>,
    /// For a sealed record's proof: the record's content (a JSON object, as the portal or the
    /// agency API gave it), checked against the sealed content hash.
    #[arg(long)]
    pub content: Option<PathBuf>,
    /// For a device's passport: the serial number printed on the device, checked against the
    /// passport's serial commitment.
    #[arg(long)]
    pub serial: Option<String>,
}

/// Verifies and returns the printed verdict.
///
/// # Errors
/// Unreadable files, or the exact reason the bundle does not verify.
pub fn run(args: &VerifyArgs) -> anyhow::Result<String> {
    let keys = std::fs::read_to_string(&args.keys).with_context(|| format!("cannot read {}", args.keys.display()))?;
    let policy = crate::ledger::bundle::parse_keys(&keys).with_context(|| format!("{}", args.keys.display()))?;
    let text =
        std::fs::read_to_string(&args.bundle).with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let bundle =
        ProofBundle::from_json(&text).with_context(|| format!("{} is not a proof bundle", args.bundle.display()))?;
    let now = args.at.unwrap_or_else(crate::ledger::unix_now);
    let verdict = chain::verify_bundle(&bundle, &policy, now).context("NOT VERIFIED")?;
    let content = match (&args.content, &verdict.record) {
        (None, _) => None,
        (Some(path), None) => anyhow::bail!("--content {}: the bundle proves no record", path.display()),
        (Some(path), Some(r)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let content: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            chain::record::check_content(&r.record, &content).context("NOT VERIFIED")?;
            Some(path)
        }
    };
    let serial = match (&args.serial, &verdict.passport) {
        (None, _) => None,
        (Some(_), None) => anyhow::bail!("--serial: the bundle is not a device passport"),
        (Some(serial), Some(p)) => {
            let id = p.passport.device_id;
            if chain::device::serial_commitment(&id, serial) != p.passport.serial_commitment {
                anyhow::bail!("NOT VERIFIED: serial {serial:?} is not the serial device {id} was registered with");
            }
            Some(serial)
        }
    };
    let mut out = describe(&verdict, now);
    if let Some(p) = &verdict.passport {
        let d = &p.passport;
        out.push_str(&format!(
            "  device {} ({}, {} {}), key ed25519:{}
  registered at unix time {} by owner {}
  \
             as of this checkpoint (map version {}): {} since unix time {}, held by {}{}\n",
            d.device_id,
            d.kind,
            d.brand,
            d.model,
            hex::encode(&d.public_key),
            d.registered_at,
            d.owner,
            p.map_version,
            match p.status.state {
                chain::leaf::DeviceState::Active => "IN SERVICE",
                chain::leaf::DeviceState::Suspended => "SUSPENDED",
                chain::leaf::DeviceState::Retired => "RETIRED",
            },
            p.status.since,
            p.status.owner,
            if p.status.owner == d.owner { " (the registrant)" } else { " (transferred since registration)" },
        ));
        out.push_str(&match serial {
            Some(s) => format!("  serial {s:?}: MATCHES the passport's serial commitment\n"),
            None => "  serial not checked (pass --serial <serial number>)\n".to_owned(),
        });
    }
    if let Some(r) = &verdict.record {
        let v = &r.record;
        out.push_str(&format!(
            "  record {} version {} ({}), recorded at unix time {}: SEALED by unix time {} \
             (position {} of a batch of {})\n",
            uuid::Uuid::from_bytes(v.record_id),
            v.version,
            v.scope,
            v.recorded_at,
            r.sealed_by,
            bundle.record.as_ref().map_or(0, |p| p.position),
            r.batch_size
        ));
        out.push_str(&match content {
            Some(path) => {
                format!("  content {}: MATCHES the sealed content hash {}\n", path.display(), v.content_hash.to_hex())
            }
            None => format!(
                "  content not checked (pass --content <record.json>): the seal is of content hash {}\n",
                v.content_hash.to_hex()
            ),
        });
    }
    if let Some(r) = &verdict.reading {
        let v = &r.reading;
        out.push_str(&format!(
            "  reading {} of device {} ({}, {} {}): {} = {}, measured at unix time {}\n  \
             SIGNED by the key of the device's passport (entry #{}, registered by {}), \
             SEALED by unix time {} (position {} of a batch of {})\n",
            v.counter,
            v.device_id,
            r.kind,
            r.brand,
            r.model,
            v.metric,
            v.value,
            v.measured_at,
            r.passport_index,
            r.registrant,
            r.sealed_by,
            bundle.reading.as_ref().map_or(0, |p| p.position),
            r.batch_size
        ));
    }
    if let Some(a) = &verdict.anchor {
        out.push_str(&format!(
            "  checkpoint anchored on chain {} in transaction {} (block {}): its calldata must be {}\n",
            a.chain_id,
            a.tx_hash,
            a.block_number,
            a.checkpoint_sha256.to_hex()
        ));
    }
    Ok(out)
}

fn describe(v: &Verdict, now: u64) -> String {
    let names: Vec<&str> = v.cosigners.iter().map(|c| c.name.as_str()).collect();
    let mut out = format!(
        "VERIFIED: entry #{} ({}) is in the log {} of size {} with root {},\n  cosigned by {} witnesses: {}\n",
        v.index,
        v.event.type_name(),
        v.checkpoint.origin,
        v.checkpoint.size,
        v.checkpoint.root.to_base64(),
        names.len(),
        names.join(", ")
    );
    if let Some(s) = &v.status {
        let state = match s.status {
            Some(GrantStatus::Active { until }) if s.active_now => format!("ACTIVE (until unix time {until})"),
            Some(GrantStatus::Active { until }) => format!("EXPIRED (was valid until unix time {until})"),
            Some(GrantStatus::Revoked { at }) => format!("REVOKED (at unix time {at})"),
            None => "NOT IN THE STATUS MAP".to_owned(),
        };
        out.push_str(&format!("  grant status at unix time {now} (map version {}): {state}\n", s.map_version));
    }
    if let Some(a) = &v.at_read {
        let time = match &v.event {
            chain::Event::AccessReceipt { time, .. } => *time,
            _ => 0,
        };
        let verdict =
            if a.active_at_read { "ACTIVE AT THE TIME OF THE READ" } else { "NOT ACTIVE AT THE TIME OF THE READ" };
        out.push_str(&format!(
            "  grant {} at the read (unix time {time}): {verdict}\n  \
             (in checkpoint {} of size {}, cosigned by {} witnesses, which the bundle's checkpoint extends)\n",
            a.status.grant_id,
            a.checkpoint.root.to_base64(),
            a.checkpoint.size,
            a.cosigners.len()
        ));
    }
    out
}
