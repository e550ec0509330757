//! Quorum checkpoints with four real witness servers (each its own database): 4 up → counts;
//! 1 down → still counts; 2 down → pending; one back → it catches up by consistency proof and
//! the checkpoint counts again.

use std::sync::Arc;

use crate::harness::{Consortium, WITNESS_NAMES};
use chain::cosign::WitnessPolicy;
use chain::leaf::{Event, GrantId, Pseudonym};
use chain::note::{NoteSigner, SignedCheckpoint};
use server::ledger::sequencer::Sequencer;
use server::ledger::witness_client::cosign_latest;
use server::ledger::{LedgerSettings, enqueue};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn checkpoint_state(db: &PgPool) -> (i64, Vec<String>, bool, String) {
    let (size, cosigners, quorum, note): (i64, Vec<String>, bool, String) = sqlx::query_as(
        "select tree_size, cosigners, quorum_at is not null, note from ledger_checkpoint order by tree_size desc limit 1",
    )
    .fetch_one(db)
    .await
    .unwrap();
    (size, cosigners, quorum, note)
}

async fn batch(db: &PgPool, seq: &mut Sequencer, n: u8) {
    let mut tx = db.begin().await.unwrap();
    let event =
        Event::GrantRevoked { grant_id: GrantId([n; 16]), resident: Pseudonym([n; 32]), revoked_at: 1_800_000_000 };
    enqueue(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    seq.integrate_batch().await.unwrap().unwrap();
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn checkpoints_count_with_three_of_four_and_witnesses_catch_up(
    _pool_opts: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let db = PgPoolOptions::new().max_connections(8).connect_with(opts.clone()).await.unwrap();
    let signer = NoteSigner::from_seed("ledger.quorum.example", &[5; 32]).unwrap();
    let mut consortium = Consortium::start(&opts, signer.verifier_key()).await;
    let settings = Arc::new(LedgerSettings::new(signer, consortium.endpoints(), 3).unwrap());
    let policy: WitnessPolicy = settings.policy.clone().unwrap();
    let mut seq = Sequencer::acquire(&db, settings.clone()).await.unwrap().unwrap();
    let witnesses = &mut consortium.witnesses;

    // All four up: cosigned by all, counts.
    batch(&db, &mut seq, 1).await;
    cosign_latest(&db, &settings).await;
    let (_, cosigners, quorum, note) = checkpoint_state(&db).await;
    assert_eq!(cosigners.len(), 4);
    assert!(quorum);
    let report =
        policy.require_quorum(&SignedCheckpoint::parse(note.as_bytes()).unwrap(), server::ledger::unix_now()).unwrap();
    assert_eq!(report.valid.len(), 4, "every stored cosignature verifies");

    // One down: three cosign, still counts.
    witnesses[3].stop();
    batch(&db, &mut seq, 2).await;
    cosign_latest(&db, &settings).await;
    let (_, cosigners, quorum, _) = checkpoint_state(&db).await;
    assert_eq!(cosigners.len(), 3);
    assert!(quorum, "3 of 4 is a quorum");

    // Two down: pending, and the public checkpoint stays at the last quorum one.
    witnesses[2].stop();
    batch(&db, &mut seq, 3).await;
    cosign_latest(&db, &settings).await;
    let (pending_size, cosigners, quorum, _) = checkpoint_state(&db).await;
    assert_eq!(cosigners.len(), 2);
    assert!(!quorum, "2 of 4 is not enough: entries stay pending");
    let witness_rows: Vec<(String, Option<String>)> =
        sqlx::query_as("select name, last_error from ledger_witness order by name").fetch_all(&db).await.unwrap();
    assert!(witness_rows.iter().filter(|(_, e)| e.is_some()).count() >= 2, "{witness_rows:?}");
    // What the public status shows is our own wording: no internal URL, no witness text.
    let errors: Vec<&str> = witness_rows.iter().filter_map(|(_, e)| e.as_deref()).collect();
    assert!(errors.iter().all(|e| *e == "unreachable"), "{errors:?}");

    // The witness that was down longest comes back: it missed two checkpoints and catches up
    // with a consistency proof from what it last cosigned.
    witnesses[3].restart().await;
    cosign_latest(&db, &settings).await;
    let (size, cosigners, quorum, _) = checkpoint_state(&db).await;
    assert_eq!(size, pending_size);
    assert!(cosigners.contains(&WITNESS_NAMES[3].to_owned()));
    assert!(quorum, "quorum again once a third witness is back");
    let stored: i64 =
        sqlx::query_scalar("select tree_size from witness_checkpoint").fetch_one(&witnesses[3].db).await.unwrap();
    assert_eq!(stored, size, "the returning witness stored the new size durably");
    consortium.shutdown().await;
}

/// A witness is another organisation's server: whatever it answers, the sequencer neither
/// buffers more than a cosignature needs nor publishes the witness's words (or its own
/// internal URLs) in `/ledger/status`.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_hostile_witness_cannot_flood_the_sequencer_or_write_the_public_status(
    _pool_opts: PgPoolOptions,
    opts: PgConnectOptions,
) {
    use axum::routing::post;
    let db = PgPoolOptions::new().max_connections(8).connect_with(opts.clone()).await.unwrap();
    let signer = NoteSigner::from_seed("ledger.quorum.example", &[5; 32]).unwrap();
    // Two hostile witnesses: one answers 8 MiB, one a long error text with a link in it.
    let app = axum::Router::new().route("/flood/add-checkpoint", post(|| async { vec![b'x'; 8 << 20] })).route(
        "/chatty/add-checkpoint",
        post(|| async {
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "maintenance: please visit http://phishing.example/ to re-enter your credentials".repeat(4),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let endpoint = |path: &str, name: &str, seed: u8| {
        use chain::cosign::CosignatureSigner;
        server::ledger::WitnessEndpoint {
            url: format!("{base}/{path}"),
            key: chain::cosign::Ed25519Cosigner::from_seed(name, &[seed; 32]).unwrap().verifier_key(),
        }
    };
    let witnesses =
        vec![endpoint("flood", "witness.flood.example", 7), endpoint("chatty", "witness.chatty.example", 8)];
    let settings = Arc::new(LedgerSettings::new(signer, witnesses, 2).unwrap());
    let mut seq = Sequencer::acquire(&db, settings.clone()).await.unwrap().unwrap();
    batch(&db, &mut seq, 1).await;
    cosign_latest(&db, &settings).await;
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("select name, last_error from ledger_witness order by name").fetch_all(&db).await.unwrap();
    assert_eq!(
        rows,
        [
            ("witness.chatty.example".to_owned(), Some("refused (HTTP 503)".to_owned())),
            ("witness.flood.example".to_owned(), Some("reply too large".to_owned())),
        ]
    );
    let (_, cosigners, quorum, _) = checkpoint_state(&db).await;
    assert!(cosigners.is_empty() && !quorum);
    server.abort();
}
