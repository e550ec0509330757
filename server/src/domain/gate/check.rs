//! Steps 1–4: the grant row read fresh, its leaves recomputed and proven in the newest
//! quorum checkpoint, the window and the scopes.

use anyhow::Context as _;
use chain::bundle::{EntryProof, StatusProof};
use chain::{GrantId, GrantStatus};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::reasons::deny;
use super::{DenyReason, Gate, GateError, ReadRequest, Reader};
use crate::domain::services::{AccessMode, NewVersion, published_event, published_event_v1};

/// An entry verified in the newest quorum checkpoint, with its status there.
pub(crate) struct InNewest {
    pub(crate) checkpoint: chain::leaf::CheckpointRef,
    pub(crate) status: Option<GrantStatus>,
    /// The entry's proof and its status proof, as verified.
    pub(crate) proof: (EntryProof, StatusProof),
}

/// A read that passed steps 1–4, ready for its receipt.
pub struct Checked {
    pub(super) grant: GrantRow,
    /// The access mode as the cosigned leaf says (v1 leaves: as the row says).
    pub(super) access: AccessMode,
    pub(super) grant_id: GrantId,
    pub(super) scopes: Vec<String>,
    pub(super) range: (OffsetDateTime, OffsetDateTime, i64),
    pub(super) now: OffsetDateTime,
    /// The quorum checkpoint the grant was verified against, named in the receipt's leaf.
    pub(super) verified_at: chain::leaf::CheckpointRef,
    /// What was verified in it: the grant's entry and its status, kept with the receipt.
    pub(super) verified_proof: (EntryProof, StatusProof),
}

impl Checked {
    /// Size of the quorum checkpoint the grant was verified against.
    #[must_use]
    pub fn checkpoint_size(&self) -> i64 {
        i64::try_from(self.verified_at.size).unwrap_or(i64::MAX)
    }
}

pub(super) struct GrantRow {
    pub(super) data_grant_id: Uuid,
    pub(super) resident_id: Uuid,
    pub(super) scopes: Vec<String>,
    pub(super) valid_from: OffsetDateTime,
    pub(super) valid_until: OffsetDateTime,
    pub(super) slug: String,
    pub(super) version: i32,
    pub(super) purpose: String,
    pub(super) name_en: String,
    pub(super) name_zh: String,
    pub(super) description_en: String,
    pub(super) description_zh: String,
    pub(super) category: String,
    pub(super) required_scopes: Vec<String>,
    pub(super) optional_scopes: Vec<String>,
    pub(super) retention_days: i32,
    pub(super) districts: Vec<String>,
    pub(super) history_days: i32,
    pub(super) leaf_hash: Vec<u8>,
    /// The first byte of the version's own ledger entry: which leaf format it was published in.
    pub(super) leaf_format: i32,
    pub(super) access_mode: String,
    pub(super) max_reads_per_day: Option<i32>,
    /// The resident's district now (the city's registry, not the ledger: docs/gate.md).
    pub(super) resident_district: Option<String>,
    pub(super) agency_id: String,
    pub(super) leaf_index: Option<i64>,
    pub(super) revoked: bool,
    pub(super) quorum_size: i64,
}

impl Gate {
    /// Steps 1–4: everything up to (not including) the receipt. A separate function so the
    /// benchmark can time the checks alone; callers that want data use [`Gate::read`].
    ///
    /// # Errors
    /// As [`Gate::read`].
    pub async fn check(
        &self,
        conn: &mut PgConnection,
        reader: &Reader,
        req: &ReadRequest,
    ) -> Result<Checked, GateError> {
        let range = req.range.resolve().map_err(|(field, problem)| GateError::Invalid { field, problem })?;
        let scopes = chain::leaf::canonical_scopes(req.scopes.iter().cloned());
        if scopes.is_empty() {
            return Err(GateError::Invalid { field: "scopes", problem: "ask for at least one scope".into() });
        }
        // 1. The newest grant of this pseudonym at this service, read fresh.
        let g = sqlx::query_as!(
            GrantRow,
            // language=PostgreSQL
            r#"
            select g.data_grant_id, g.resident_id, g.scopes, g.valid_from, g.valid_until, s.slug, sv.version,
                   sv.purpose, sv.name_en, sv.name_zh, sv.description_en, sv.description_zh, sv.category,
                   sv.required_scopes, sv.optional_scopes, sv.retention_days, sv.districts, sv.history_days,
                   sv.leaf_hash, get_byte(ve.body, 0) as "leaf_format!", sv.access_mode, sv.max_reads_per_day,
                   r.district_id as "resident_district?", s.agency_id, e.leaf_index as "leaf_index?",
                   exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id) as "revoked!",
                   (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null)
                       as "quorum_size!"
            from data_grant g
            join service s on s.service_id = g.service_id
            join service_version sv on sv.service_id = g.service_id and sv.version = g.version
            join ledger_entry ve on ve.ledger_entry_id = sv.ledger_entry_id
            join resident r on r.resident_id = g.resident_id
            join ledger_entry e on e.ledger_entry_id = g.issued_entry_id
            where g.service_id = $1 and g.pseudonym = $2
            order by g.created_at desc, g.data_grant_id
            limit 1
            "#,
            req.service_id,
            &req.pseudonym.0[..]
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(g) = g.filter(|g| g.agency_id == reader.agency_id) else {
            return Err(deny(DenyReason::NoGrant, "no grant from this pseudonym for this service"));
        };
        if g.revoked {
            return Err(deny(DenyReason::Revoked, "the resident revoked this grant"));
        }
        let grant_id = GrantId(*g.data_grant_id.as_bytes());
        // The row was found by its pseudonym column; the pseudonym that counts is the one
        // recomputed from its resident (it is what the leaf commits to). A column edited to point
        // another resident's pseudonym at this grant would release the wrong person's data.
        if self.key.pseudonym(g.resident_id, req.service_id) != req.pseudonym {
            return Err(self.integrity(conn, g.data_grant_id, "its pseudonym is not its resident's").await);
        }

        // 2. The service version as its rows say it was published: its leaf hash is what the
        // grant's leaf commits to, so every term read here (v2: agency, slug, texts, scopes,
        // retention, access mode and limit, districts, history) is the cosigned one only if the
        // rows hash to it. The format is the one the version's own entry was written in; claiming
        // v1 for a v2 version cannot help, as the v1 bytes hash to something else.
        let access = match self.published_terms(&g) {
            Ok((hash, access)) if hash.0[..] == g.leaf_hash[..] => access,
            Ok(_) => {
                let what = "its service version's rows do not match their service.published entry";
                return Err(self.integrity(conn, g.data_grant_id, what).await);
            }
            Err(e) => {
                let what = format!("its service version cannot be encoded: {e}");
                return Err(self.integrity(conn, g.data_grant_id, &what).await);
            }
        };

        // The grant's leaf as the row says it should be.
        let leaf = crate::domain::grants::issued_event(
            &self.key,
            g.data_grant_id,
            g.resident_id,
            req.service_id,
            &g.leaf_hash,
            &g.scopes,
            &g.purpose,
            g.valid_from,
            g.valid_until,
        )
        .and_then(|e| Ok(e.encode()?));
        let leaf = match leaf {
            Ok(l) => l,
            Err(e) => {
                return Err(self.integrity(conn, g.data_grant_id, &format!("row cannot be encoded: {e}")).await);
            }
        };

        // 3. Inclusion in the newest quorum checkpoint and the status-map proof.
        let Some(index) = g.leaf_index.filter(|&i| i < g.quorum_size) else {
            return Err(deny(DenyReason::Pending, "the grant is not yet in a quorum-cosigned checkpoint"));
        };
        let index = u64::try_from(index).context("negative leaf index")?;
        let InNewest { checkpoint: verified_at, status, proof: verified_proof } =
            self.verify_in_newest(conn, u64::try_from(g.quorum_size)?, index, &leaf, grant_id, g.data_grant_id).await?;
        let now = OffsetDateTime::now_utc();
        match status {
            Some(GrantStatus::Active { .. }) => {}
            Some(GrantStatus::Revoked { .. }) => {
                // The cosigned map says revoked but the database lost the revocation: deny,
                // and tell the operators.
                let detail =
                    format!("grant {}: revoked in the cosigned status map but not in the database", g.data_grant_id);
                crate::ledger::raise_alarm(conn, "grant_revocation_missing", &detail).await?;
                return Err(deny(DenyReason::Revoked, "the resident revoked this grant"));
            }
            None => {
                return Err(self.integrity(conn, g.data_grant_id, "absent from the cosigned status map").await);
            }
        }

        // 4. Window, scopes, access mode.
        if now < g.valid_from || now >= g.valid_until {
            return Err(deny(DenyReason::Expired, "the grant's validity window has ended"));
        }
        // A service for some districts serves their residents only: one who moved away reads
        // as if the grant had ended (they can grant again where the service is offered).
        if !chain::leaf::serves_district(&g.districts, g.resident_district.as_deref()) {
            return Err(deny(DenyReason::OutsideDistricts, "the resident does not live in the service's districts"));
        }
        let missing: Vec<&str> = scopes.iter().filter(|s| !g.scopes.contains(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(deny(
                DenyReason::ScopeNotGranted,
                format!("not granted: {}; granted: {}", missing.join(", "), g.scopes.join(", ")),
            ));
        }
        // Only what the grant's window covers: the agency asked for `from`, the resident agreed
        // from `valid_from`, less the history the published terms declare (docs/gate.md).
        let (from, to, limit) = range;
        let to = to.min(g.valid_until);
        let earliest = g.valid_from - time::Duration::days(i64::from(g.history_days));
        let range = (from.max(earliest).min(to), to, limit);
        Ok(Checked { grant: g, access, grant_id, scopes, range, now, verified_at, verified_proof })
    }

    /// The version's `service.published` leaf hash recomputed from its rows, in the format its
    /// entry was written in, and the access mode those rows declare.
    fn published_terms(&self, g: &GrantRow) -> anyhow::Result<(chain::Hash, AccessMode)> {
        let access = AccessMode::from_parts(
            &g.access_mode,
            g.max_reads_per_day.map(u32::try_from).transpose().context("negative daily limit")?,
        )?;
        let terms = NewVersion {
            name_en: g.name_en.clone(),
            name_zh: g.name_zh.clone(),
            description_en: g.description_en.clone(),
            description_zh: g.description_zh.clone(),
            category: g.category.clone(),
            purpose: g.purpose.clone(),
            required_scopes: g.required_scopes.clone(),
            optional_scopes: g.optional_scopes.clone(),
            retention_days: u32::try_from(g.retention_days).context("negative retention")?,
            districts: g.districts.clone(),
            access_mode: access,
            history_days: u32::try_from(g.history_days).context("negative history")?,
        };
        let event = match u8::try_from(g.leaf_format) {
            Ok(chain::leaf::LEAF_V1) => published_event_v1(&g.agency_id, &g.slug, g.version, &terms)?,
            Ok(chain::leaf::LEAF_V2) => published_event(&g.agency_id, &g.slug, g.version, terms)?,
            _ => anyhow::bail!("unknown leaf format {}", g.leaf_format),
        };
        Ok((event.leaf_hash()?, access))
    }

    /// Step 3 for any grant-like entry (a grant, a linkage rule): the leaf at `index` in the
    /// newest quorum checkpoint (of size `quorum`) and the status-map proof of `id` there. A leaf
    /// or map that does not verify is `integrity`, with an alarm naming `row`.
    pub(crate) async fn verify_in_newest(
        &self,
        conn: &mut PgConnection,
        quorum: u64,
        index: u64,
        leaf: &[u8],
        id: GrantId,
        row: Uuid,
    ) -> Result<InNewest, GateError> {
        let verified = self.verified_checkpoint(conn, quorum).await?;
        let (path, (status, map_proof)) = self.proofs(conn, &verified, index, id).await?;
        let now = OffsetDateTime::now_utc();
        let status_proof = StatusProof { entry: verified.status_entry.clone(), status, map_proof };
        let entry = EntryProof::new(index, leaf, path);
        let checked = chain::bundle::verify_entry(
            &verified.checkpoint,
            &entry,
            Some(&status_proof),
            u64::try_from(now.unix_timestamp()).unwrap_or(0),
        );
        match checked {
            Ok((_, Some(v))) => Ok(InNewest {
                checkpoint: chain::leaf::CheckpointRef {
                    size: verified.checkpoint.size,
                    root: verified.checkpoint.root,
                },
                status: v.status,
                proof: (entry, status_proof),
            }),
            Ok((_, None)) => Err(self.integrity(conn, row, "no status verdict").await),
            Err(e) => Err(self.integrity(conn, row, &format!("does not match the ledger: {e}")).await),
        }
    }

    pub(crate) async fn integrity(&self, conn: &mut PgConnection, grant: Uuid, what: &str) -> GateError {
        let detail = format!("grant {grant}: {what}");
        if let Err(e) = crate::ledger::raise_alarm(conn, "grant_integrity", &detail).await {
            return GateError::Internal(e);
        }
        deny(DenyReason::Integrity, "the stored grant does not match the cosigned ledger; operators were alerted")
    }
}
