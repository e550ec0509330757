//! The loading pipeline: a generator thread formatting `COPY` text, the async side streaming it.

use super::{BUFFER, CityPlan, NOT_GRANTED};
use crate::clock::unix;
use crate::domain::pseudonym::PseudonymKey;
use crate::seed::generate::{
    self, CitySeed, District, OfferedService, OfferedVersion, SeedGrant, Small, Vocabulary, copy_bytea, timestamp_text,
};
use anyhow::Context as _;
use sqlx::PgConnection;
use std::io::Write as _;
use tokio::sync::mpsc;

/// Every published service the synthetic residents may grant, with all its versions.
pub(super) async fn offered_services(conn: &mut PgConnection) -> anyhow::Result<Vec<OfferedService>> {
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select s.service_id, s.slug, v.version, v.leaf_hash, v.purpose, v.required_scopes, v.optional_scopes
           from service s join service_version v using (service_id)
           where s.status = 'published' and not (s.slug = any($1))
           order by s.agency_id, s.slug, v.version"#,
        &NOT_GRANTED.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<OfferedService> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|s| s.service_id != r.service_id) {
            out.push(OfferedService { service_id: r.service_id, slug: r.slug, versions: Vec::new() });
        }
        if let Some(s) = out.last_mut() {
            s.versions.push(OfferedVersion {
                version: r.version,
                leaf_hash: r.leaf_hash,
                purpose: r.purpose,
                required: r.required_scopes,
                optional: r.optional_scopes,
            });
        }
    }
    Ok(out)
}

/// What the generator thread hands to the loader.
pub(super) enum Piece {
    /// A chunk's small tables and grants; its behavioral records follow.
    Head(Box<Head>),
    Records(Vec<u8>, u64),
    /// The chunk's behavioral records are complete.
    End,
}

pub(super) struct Head {
    pub(super) chunk: u32,
    pub(super) residents: u32,
    pub(super) records: u64,
    pub(super) small: Small,
    pub(super) grants: Vec<SeedGrant>,
}

pub(super) struct Generator {
    pub(super) city: CitySeed,
    pub(super) plan: CityPlan,
    pub(super) vocab: Vocabulary,
    pub(super) districts: Vec<District>,
    pub(super) services: Vec<OfferedService>,
}

impl Generator {
    /// Generates the chunks in order; stops quietly when the loader has gone away.
    pub(super) fn run(&self, chunks: &[u32], tx: &mpsc::Sender<Piece>) {
        for &chunk in chunks {
            let (first, end) = self.plan.chunk_range(chunk);
            let mut small = Small::new();
            let mut grants = Vec::new();
            let personas: Vec<_> = (first..end)
                .map(|i| {
                    let p = generate::resident(
                        &self.city,
                        &self.vocab,
                        &self.districts,
                        self.plan.residents,
                        self.plan.records,
                        i,
                        &mut small,
                    );
                    generate::grants(&self.city, &self.vocab, &self.services, &p, &mut grants);
                    p
                })
                .collect();
            let records = personas.iter().map(|p| p.records).sum();
            let head = Head { chunk, residents: end - first, records, small, grants };
            if tx.blocking_send(Piece::Head(Box::new(head))).is_err() {
                return;
            }
            let mut out = Vec::with_capacity(BUFFER + 4096);
            let mut send = |out: &mut Vec<u8>| {
                let full = std::mem::replace(out, Vec::with_capacity(BUFFER + 4096));
                let rows = full.iter().filter(|&&b| b == b'\n').count() as u64;
                tx.blocking_send(Piece::Records(full, rows)).map_err(|_| ())
            };
            for p in &personas {
                if generate::activity(&self.city, &self.vocab, p, &mut out, BUFFER, &mut send).is_err() {
                    return;
                }
            }
            if (!out.is_empty() && send(&mut out).is_err()) || tx.blocking_send(Piece::End).is_err() {
                return;
            }
        }
    }
}

/// Copies `data` (COPY text rows) with `statement`; returns the rows copied.
pub(super) async fn copy(conn: &mut PgConnection, statement: &str, data: &[u8]) -> anyhow::Result<u64> {
    if data.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data).await?;
    copy.finish().await.with_context(|| format!("`{statement}` failed"))
}

/// The chunk's grants, each with its queued `grant.issued` entry (and `grant.revoked` entry
/// and revocation when the generator revoked it), exactly as `grants::issue` and
/// `grants::revoke` would write them. Returns the rows copied.
pub(super) async fn write_grants(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    services: &[OfferedService],
    grants: &[SeedGrant],
) -> anyhow::Result<u64> {
    if grants.is_empty() {
        return Ok(0);
    }
    let entries = grants.len() + grants.iter().filter(|g| g.revoked_at.is_some()).count();
    let mut ids: Vec<i64> = sqlx::query_scalar!(
        r#"select nextval(pg_get_serial_sequence('ledger_entry', 'ledger_entry_id')) as "id!"
           from generate_series(1, $1::int)"#,
        i32::try_from(entries)?
    )
    .fetch_all(&mut *conn)
    .await?;
    ids.sort_unstable();
    let mut ids = ids.into_iter();
    let (mut ledger, mut rows, mut revocations) = (Vec::new(), Vec::new(), Vec::new());
    let mut entry = |ledger: &mut Vec<u8>, event: &chain::Event| -> anyhow::Result<i64> {
        let id = ids.next().context("fewer ledger ids than entries")?;
        write!(ledger, "{id}\t{}\t", event.type_name())?;
        copy_bytea(ledger, &event.encode()?);
        ledger.push(b'\n');
        Ok(id)
    };
    for g in grants {
        let service = &services[g.service];
        let OfferedVersion { version, leaf_hash, purpose, .. } = &service.versions[g.version];
        let event = crate::domain::grants::issued_event(
            key,
            g.grant_id,
            g.resident_id,
            service.service_id,
            leaf_hash,
            &g.scopes,
            purpose,
            g.valid_from,
            g.valid_until,
        )?;
        let issued = entry(&mut ledger, &event)?;
        let pseudonym = key.pseudonym(g.resident_id, service.service_id);
        write!(rows, "{}\t{}\t{}\t{version}\t", g.grant_id, g.resident_id, service.service_id)?;
        copy_bytea(&mut rows, &pseudonym.0);
        writeln!(
            rows,
            "\t{{{}}}\t{}\t{}\t{issued}\t{}",
            g.scopes.join(","),
            timestamp_text(g.valid_from),
            timestamp_text(g.valid_until),
            timestamp_text(g.valid_from)
        )?;
        if let Some(at) = g.revoked_at {
            let event = chain::Event::GrantRevoked {
                grant_id: chain::GrantId(*g.grant_id.as_bytes()),
                resident: pseudonym,
                revoked_at: unix(at)?,
            };
            let revoked = entry(&mut ledger, &event)?;
            writeln!(revocations, "{}\t{}\trevoked\t{revoked}", g.grant_id, timestamp_text(at))?;
        }
    }
    let mut n = copy(conn, "copy ledger_entry (ledger_entry_id, kind, body) from stdin", &ledger).await?;
    n += copy(
        conn,
        "copy data_grant (data_grant_id, resident_id, service_id, version, pseudonym, scopes, valid_from, \
         valid_until, issued_entry_id, created_at) from stdin",
        &rows,
    )
    .await?;
    n += copy(
        conn,
        "copy grant_revocation (data_grant_id, revoked_at, reason, ledger_entry_id) from stdin",
        &revocations,
    )
    .await?;
    Ok(n)
}
