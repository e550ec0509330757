//! Anchoring against a real local chain node (anvil): the anchor lands with a receipt and
//! carries the checkpoint's hash; with the node down attempts fail without affecting the
//! portal; when it is back, anchoring resumes.

use std::sync::Arc;
use std::time::Duration;

use chain::leaf::{Event, GrantId, Pseudonym};
use chain::note::NoteSigner;
use server::ledger::anchor::{AnchorSettings, anchor_once};
use server::ledger::evm::{EvmRpc, parse_key};
use server::ledger::sequencer::Sequencer;
use server::ledger::{LedgerSettings, enqueue};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

const DEV_KEY: &str = server::config::dev::ANCHOR_KEY;

async fn new_quorum_checkpoint(db: &PgPool, seq: &mut Sequencer, n: u8) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let event =
        Event::GrantRevoked { grant_id: GrantId([n; 16]), resident: Pseudonym([n; 32]), revoked_at: 1_800_000_000 };
    enqueue(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    let size = seq.integrate_batch().await.unwrap().unwrap().tree_size as i64;
    // Stands in for the witness round (tested on its own): mark the checkpoint cosigned.
    sqlx::query("update ledger_checkpoint set quorum_at = now() where tree_size = $1")
        .bind(size)
        .execute(db)
        .await
        .unwrap();
    size
}

fn settings(url: &str) -> AnchorSettings {
    AnchorSettings {
        rpc: EvmRpc::new(url).unwrap(),
        key: parse_key(DEV_KEY).unwrap(),
        interval: Duration::from_secs(1),
        receipt_timeout: Duration::from_secs(20),
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn checkpoints_are_anchored_and_anchoring_survives_the_node_going_away(db: PgPool) {
    let signer = NoteSigner::from_seed("ledger.test.example", &[3; 32]).unwrap();
    let ledger = Arc::new(LedgerSettings::new(signer, vec![], 0).unwrap());
    let mut seq = Sequencer::acquire(&db, ledger).await.unwrap().unwrap();
    let anvil = crate::harness::Anvil::start().await;
    let s = settings(&anvil.url);

    assert!(anchor_once(&db, &s).await.unwrap().is_none(), "nothing cosigned yet, nothing to anchor");
    let size = new_quorum_checkpoint(&db, &mut seq, 1).await;
    let anchored = anchor_once(&db, &s).await.unwrap().expect("anchored");
    assert_eq!(anchored.tree_size, size);
    assert_eq!(anchored.chain_id, 31337);
    assert!(anchored.receipt.success && anchored.receipt.block_number >= 1);
    let note: String = sqlx::query_scalar("select note from ledger_checkpoint where tree_size = $1")
        .bind(size)
        .fetch_one(&db)
        .await
        .unwrap();
    let calldata = s.rpc.transaction_input(&anchored.tx_hash).await.unwrap();
    assert_eq!(calldata, Sha256::digest(note.as_bytes()).to_vec(), "the chain holds the checkpoint's hash");
    assert!(anchor_once(&db, &s).await.unwrap().is_none(), "the same checkpoint is not anchored twice");

    // The node goes away: attempts fail with an error (the loop backs off), nothing recorded.
    let port = anvil.port;
    drop(anvil);
    let size2 = new_quorum_checkpoint(&db, &mut seq, 2).await;
    assert!(anchor_once(&db, &s).await.is_err());
    let count: i64 = sqlx::query_scalar("select count(*) from ledger_anchor").fetch_one(&db).await.unwrap();
    assert_eq!(count, 1);

    // Back on the same address: anchoring resumes with the newest cosigned checkpoint.
    let _anvil = crate::harness::Anvil::start_on(port).await;
    let resumed = anchor_once(&db, &s).await.unwrap().expect("anchored after the node returned");
    assert_eq!(resumed.tree_size, size2);
}

/// Served over HTTP as JSON, newest first, while the portal keeps serving pages.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn anchors_are_listed_over_http(db: PgPool) {
    let portal = crate::harness::Portal::start(db.clone()).await;
    let mut seq = Sequencer::acquire(&db, portal.state.ledger.clone()).await.unwrap().unwrap();
    let anvil = crate::harness::Anvil::start().await;
    let s = settings(&anvil.url);
    new_quorum_checkpoint(&db, &mut seq, 1).await;
    let a = anchor_once(&db, &s).await.unwrap().unwrap();
    let list: serde_json::Value = crate::harness::browser()
        .get(format!("{}/ledger/anchors", portal.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["tx_hash"], a.tx_hash);
    assert_eq!(list[0]["chain_id"], 31337);
    drop(anvil);
    let home = crate::harness::browser().get(&portal.url).send().await.unwrap();
    assert_eq!(home.status(), 200, "the portal serves with the chain node gone");
}
