//! The sequencer's side of C2SP tlog-witness: send the newest checkpoint to every witness
//! in parallel, with the consistency proof from what each last cosigned, and keep the
//! cosignatures that verify. A checkpoint counts once the quorum has cosigned it.

use std::time::Duration;

use chain::cosign::{AddCheckpointRequest, WitnessReply, parse_witness_reply};
use chain::note::{NoteSignature, SignedCheckpoint};
use chain::tree;
use futures_util::future::join_all;
use sqlx::PgPool;

use super::store::with_stored_hashes;
use super::{LedgerSettings, WitnessEndpoint, raise_alarm, unix_now};

/// How long one witness may take to answer.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest reply read from a witness. A cosignature reply is a few hundred bytes; a witness
/// (run by another organisation) must not be able to make the sequencer buffer more.
const MAX_REPLY: usize = 16 * 1024;

/// What one witness said.
enum Answer {
    Cosigned(Vec<NoteSignature>),
    /// 409: the witness's latest size differs from ours.
    Conflict(u64),
    /// 422: the witness found our checkpoint inconsistent with one it cosigned.
    Inconsistent(String),
    Failed(Failure),
}

/// Why a witness did not cosign: `public` is what `/ledger/status` and the Transparency page
/// show (a class of our own wording, never the witness's text or our internal URLs), `detail`
/// what the operators' log gets.
struct Failure {
    public: String,
    detail: String,
}

fn failed(public: impl Into<String>, detail: impl Into<String>) -> Answer {
    Answer::Failed(Failure { public: public.into(), detail: detail.into() })
}

/// Sends the newest checkpoint to the witnesses that have not cosigned it yet and records
/// what comes back. Errors are logged and retried on the next tick; they never stop the
/// sequencer.
pub async fn cosign_latest(db: &PgPool, settings: &LedgerSettings) {
    if let Err(e) = try_cosign_latest(db, settings).await {
        tracing::warn!(error = format!("{e:#}"), "collecting cosignatures failed");
    }
}

async fn try_cosign_latest(db: &PgPool, settings: &LedgerSettings) -> anyhow::Result<()> {
    let Some(policy) = &settings.policy else { return Ok(()) };
    let Some(latest) =
        sqlx::query!("select tree_size, note, cosigners from ledger_checkpoint order by tree_size desc limit 1")
            .fetch_optional(db)
            .await?
    else {
        return Ok(());
    };
    let missing: Vec<&WitnessEndpoint> =
        settings.witnesses.iter().filter(|w| !latest.cosigners.contains(&w.key.name)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let size = u64::try_from(latest.tree_size)?;
    let mut signed = SignedCheckpoint::parse(latest.note.as_bytes())?;
    // The request carries the checkpoint with the log's signature only.
    let bare = SignedCheckpoint::sign(signed.checkpoint.clone(), &settings.signer);

    let known: Vec<(String, i64)> = sqlx::query!("select name, tree_size from ledger_witness")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.name, r.tree_size))
        .collect();
    let http =
        reqwest::Client::builder().timeout(WITNESS_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?;

    let answers = join_all(missing.iter().map(|w| {
        let old = known.iter().find(|(n, _)| *n == w.key.name).map_or(0, |(_, s)| u64::try_from(*s).unwrap_or(0));
        let (http, bare, db) = (http.clone(), bare.clone(), db.clone());
        async move {
            let mut old = old.min(size);
            // One retry after a 409, with the size the witness says it has.
            for _ in 0..2 {
                match add_checkpoint(&http, &db, w, &bare, old, size).await {
                    Answer::Conflict(theirs) if theirs <= size && theirs != old => old = theirs,
                    other => return (w, old, other),
                }
            }
            (w, old, failed("keeps reporting another size", "witness keeps reporting another size"))
        }
    }))
    .await;

    let mut conn = db.acquire().await?;
    for (w, _, answer) in answers {
        let name = &w.key.name;
        match answer {
            Answer::Cosigned(sigs) => {
                signed.add_signatures(sigs.into_iter().filter(|s| s.name == *name));
                sqlx::query!(
                    // language=PostgreSQL
                    r#"
                    insert into ledger_witness (name, tree_size, last_cosign_at, last_error) values ($1, $2, now(), null)
                    on conflict (name) do update set tree_size = $2, last_cosign_at = now(), last_error = null, updated_at = now()
                    "#,
                    name,
                    latest.tree_size
                )
                .execute(&mut *conn)
                .await?;
            }
            Answer::Conflict(theirs) => {
                let public = format!("witness is at size {theirs}");
                record_error(&mut conn, name, &public, &public).await?;
            }
            Answer::Inconsistent(detail) => {
                let public = format!("refused checkpoint {size} as inconsistent");
                record_error(&mut conn, name, &public, &detail).await?;
                raise_alarm(&mut conn, "witness_inconsistency", &format!("{name}: {public}")).await?;
            }
            Answer::Failed(Failure { public, detail }) => record_error(&mut conn, name, &public, &detail).await?,
        }
    }

    // Keep only cosignatures that verify; the log's own line stays first.
    let report = policy.check(&signed, unix_now())?;
    let cosigners: Vec<String> = report.valid.iter().map(|v| v.name.clone()).collect();
    signed.note.signatures.retain(|s| s.name == settings.signer.name() || cosigners.contains(&s.name));
    let note = String::from_utf8(signed.to_bytes())?;
    sqlx::query!(
        // language=PostgreSQL
        r#"
        update ledger_checkpoint
        set note = $2, cosigners = $3,
            quorum_at = case when $4 then coalesce(quorum_at, now()) else quorum_at end
        where tree_size = $1
        "#,
        latest.tree_size,
        note,
        &cosigners,
        report.quorum_met
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Logs `detail` for the operators and keeps `public` as the witness's last error.
async fn record_error(conn: &mut sqlx::PgConnection, name: &str, public: &str, detail: &str) -> anyhow::Result<()> {
    tracing::warn!(witness = name, detail, "witness did not cosign");
    sqlx::query!(
        // language=PostgreSQL
        r#"
        insert into ledger_witness (name, last_error) values ($1, $2)
        on conflict (name) do update set last_error = $2, updated_at = now()
        "#,
        name,
        public
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One `POST <witness>/add-checkpoint` (C2SP tlog-witness).
async fn add_checkpoint(
    http: &reqwest::Client,
    db: &PgPool,
    w: &WitnessEndpoint,
    checkpoint: &SignedCheckpoint,
    old: u64,
    size: u64,
) -> Answer {
    let proof = match db.acquire().await {
        Ok(mut conn) => with_stored_hashes(&mut conn, |r| tree::prove_consistency(size, old, r)).await,
        Err(e) => Err(e.into()),
    };
    let proof = match proof {
        Ok(p) => p,
        Err(e) => return failed("the log could not build a consistency proof", format!("consistency proof: {e:#}")),
    };
    let body = AddCheckpointRequest { old_size: old, proof, checkpoint: checkpoint.clone() }.to_bytes();
    let mut resp = match http.post(format!("{}/add-checkpoint", w.url)).body(body).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("timed out", format!("timed out: {e}")),
        Err(e) => return failed("unreachable", format!("unreachable: {e}")),
    };
    let status = resp.status().as_u16();
    if resp.content_length().is_some_and(|n| n > MAX_REPLY as u64) {
        return failed("reply too large", format!("reply of {:?} bytes", resp.content_length()));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_REPLY => body.extend_from_slice(&chunk),
            Ok(Some(_)) => return failed("reply too large", format!("reply over {MAX_REPLY} bytes")),
            Ok(None) => break,
            Err(e) => return failed("reply cut off", format!("answer cut off: {e}")),
        }
    }
    match parse_witness_reply(status, &body) {
        Ok(WitnessReply::Cosigned(sigs)) => Answer::Cosigned(sigs),
        Ok(WitnessReply::Conflict { latest_size }) => Answer::Conflict(latest_size),
        Ok(WitnessReply::Refused { status: 422, message }) => {
            Answer::Inconsistent(format!("rejected checkpoint {size} as inconsistent: {message}"))
        }
        Ok(WitnessReply::Refused { status, message }) => {
            failed(format!("refused (HTTP {status})"), format!("HTTP {status}: {message}"))
        }
        Err(e) => failed("malformed reply", format!("{e:#}")),
    }
}
