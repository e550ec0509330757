//! The ledger service against the real PostgreSQL: sequencing, crash safety, the lease,
//! integrity alarms, and the public tiles API checked by an independent recomputation.

use std::sync::Arc;

use chain::leaf::Event;
use chain::note::NoteSigner;
use chain::tiles::{TileSet, decode_entry_bundle, entry_bundles_for_growth, root_from_tiles, tiles_for_growth};
use chain::tree;
use server::ledger::sequencer::Sequencer;
use server::ledger::{LedgerSettings, enqueue};
use sqlx::PgPool;

fn settings() -> Arc<LedgerSettings> {
    let signer = NoteSigner::from_seed("ledger.test.example", &[7; 32]).unwrap();
    Arc::new(LedgerSettings::new(signer, vec![], 0).unwrap())
}

fn grant(n: u8) -> Event {
    crate::harness::grant_issued(n)
}

async fn enqueue_committed(db: &PgPool, events: &[Event]) {
    let mut tx = db.begin().await.unwrap();
    for e in events {
        enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// (tree size, root) as the sequencer recorded them.
async fn tree_state(db: &PgPool) -> (u64, chain::Hash) {
    let (size, root): (i64, Vec<u8>) =
        sqlx::query_as("select tree_size, root_hash from ledger_tree").fetch_one(db).await.unwrap();
    (size as u64, chain::Hash(root.try_into().unwrap()))
}

/// The root recomputed from the entries themselves, in leaf order.
async fn root_from_entries(db: &PgPool) -> (u64, chain::Hash) {
    let bodies: Vec<Vec<u8>> =
        sqlx::query_scalar("select body from ledger_entry where leaf_index is not null order by leaf_index")
            .fetch_all(db)
            .await
            .unwrap();
    let hashes: Vec<_> = bodies.iter().map(|b| tree::leaf_hash(b)).collect();
    (bodies.len() as u64, tree::root_of_leaf_hashes(&hashes))
}

/// Queued entries become leaves in arrival order, each batch closes with a status.root entry
/// and a signed checkpoint whose root the entries themselves reproduce.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn queued_entries_are_integrated_once_in_order(db: PgPool) {
    let events: Vec<Event> = (0..10).map(grant).collect();
    enqueue_committed(&db, &events[..6]).await;
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().expect("lease is free");
    let first = seq.integrate_batch().await.unwrap().unwrap();
    assert_eq!((first.entries, first.tree_size), (6, 7), "6 entries + status.root");
    assert!(seq.integrate_batch().await.unwrap().is_none(), "nothing queued");
    enqueue_committed(&db, &events[6..]).await;
    let second = seq.integrate_batch().await.unwrap().unwrap();
    assert_eq!(second.tree_size, 12);

    let (size, root) = tree_state(&db).await;
    assert_eq!(root_from_entries(&db).await, (size, root));
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from ledger_entry order by leaf_index").fetch_all(&db).await.unwrap();
    assert_eq!(kinds[6], "status.root");
    assert_eq!(kinds[11], "status.root");
    let bodies: Vec<Vec<u8>> =
        sqlx::query_scalar("select body from ledger_entry where kind = 'grant.issued' order by leaf_index")
            .fetch_all(&db)
            .await
            .unwrap();
    let expected: Vec<Vec<u8>> = events.iter().map(|e| e.encode().unwrap()).collect();
    assert_eq!(bodies, expected, "arrival order is leaf order");

    let note: String =
        sqlx::query_scalar("select note from ledger_checkpoint where tree_size = 12").fetch_one(&db).await.unwrap();
    let signed = chain::note::SignedCheckpoint::parse(note.as_bytes()).unwrap();
    signed.verify_log_signature(&settings().log_key()).unwrap();
    assert_eq!(signed.checkpoint.root, root);
}

/// An entry rolled back with its business transaction never reaches the log.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn entries_of_rolled_back_transactions_never_appear(db: PgPool) {
    let mut tx = db.begin().await.unwrap();
    enqueue(&mut tx, &grant(1)).await.unwrap();
    tx.rollback().await.unwrap();
    enqueue_committed(&db, &[grant(2)]).await;
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    assert_eq!(seq.integrate_batch().await.unwrap().unwrap().entries, 1);
}

/// Only one process sequences; when it dies (its connection closes) another takes over and
/// the log continues with every committed entry exactly once.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_lease_moves_to_another_process_when_the_sequencer_dies(db: PgPool) {
    enqueue_committed(&db, &[grant(1), grant(2)]).await;
    let mut first = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    assert!(Sequencer::acquire(&db, settings()).await.unwrap().is_none(), "lease is held");
    first.integrate_batch().await.unwrap();
    enqueue_committed(&db, &[grant(3), grant(4), grant(5)]).await;
    drop(first); // the "process" dies between enqueue and integration
    // The lock is released when the server notices the closed connection.
    let mut second = crate::harness::acquire_sequencer(&db, settings()).await;
    assert!(!second.is_halted());
    assert_eq!(second.integrate_batch().await.unwrap().unwrap().entries, 3);
    let (size, root) = tree_state(&db).await;
    assert_eq!(size, 7, "2 + status.root + 3 + status.root");
    assert_eq!(root_from_entries(&db).await, (size, root));
    let distinct: i64 = sqlx::query_scalar("select count(distinct body) from ledger_entry where kind = 'grant.issued'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(distinct, 5);
}

/// A batch that dies before commit leaves nothing behind; the next sequencer integrates it.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_batch_aborted_mid_transaction_is_integrated_later_exactly_once(db: PgPool) {
    enqueue_committed(&db, &[grant(1), grant(2), grant(3)]).await;
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    // Hold the tree row from another transaction, so the batch stops inside its own transaction
    // (it locks that row first), then kill it there: the sequencer dies mid-batch.
    let mut blocker = db.begin().await.unwrap();
    sqlx::query("select 1 from ledger_tree for update").execute(&mut *blocker).await.unwrap();
    let batch = tokio::spawn(async move { seq.integrate_batch().await.map(|_| ()) });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!batch.is_finished(), "the batch waits inside its transaction");
    batch.abort();
    assert!(batch.await.unwrap_err().is_cancelled(), "the batch was cut off inside its transaction");
    blocker.rollback().await.unwrap();
    let integrated: i64 = sqlx::query_scalar("select count(*) from ledger_entry where leaf_index is not null")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(integrated, 0, "nothing of the aborted batch is visible");
    let mut seq = crate::harness::acquire_sequencer(&db, settings()).await;
    seq.integrate_batch().await.unwrap();
    let (size, root) = tree_state(&db).await;
    assert_eq!(root_from_entries(&db).await, (size, root));
    let integrated: i64 =
        sqlx::query_scalar("select count(*) from ledger_entry where kind = 'grant.issued' and leaf_index is not null")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(integrated, 3);
}

/// Editing a stored entry or a stored hash behind the sequencer's back raises an alarm and
/// stops all signing.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn tampering_with_stored_leaves_or_hashes_raises_an_alarm_and_stops_signing(db: PgPool) {
    enqueue_committed(&db, &[grant(1), grant(2), grant(3)]).await;
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    seq.integrate_batch().await.unwrap();
    drop(seq);

    // The entries table refuses edits (migration 0013); an attacker turns its triggers off.
    let mut attacker = crate::harness::behind_the_servers_back(&db).await;
    assert!(
        sqlx::query("update ledger_entry set body = $1 where leaf_index = 1")
            .bind(grant(42).encode().unwrap())
            .execute(&db)
            .await
            .is_err(),
        "ledger entries are append-only"
    );
    sqlx::query("update ledger_entry set body = $1 where leaf_index = 1")
        .bind(grant(42).encode().unwrap())
        .execute(&mut attacker)
        .await
        .unwrap();
    let checkpoints_before: i64 =
        sqlx::query_scalar("select count(*) from ledger_checkpoint").fetch_one(&db).await.unwrap();
    enqueue_committed(&db, &[grant(4)]).await;
    let mut seq = crate::harness::acquire_sequencer(&db, settings()).await;
    assert!(seq.is_halted());
    assert!(seq.integrate_batch().await.is_err(), "no batch while halted");
    let alarms: Vec<String> = sqlx::query_scalar("select kind from ledger_alarm").fetch_all(&db).await.unwrap();
    assert_eq!(alarms, ["entry_mismatch"]);
    let checkpoints_after: i64 =
        sqlx::query_scalar("select count(*) from ledger_checkpoint").fetch_one(&db).await.unwrap();
    assert_eq!(checkpoints_before, checkpoints_after, "nothing new signed");
    drop(seq);

    // Put the entry back, break a stored hash instead: the other check catches it.
    sqlx::query("update ledger_entry set body = $1 where leaf_index = 1")
        .bind(grant(2).encode().unwrap())
        .execute(&mut attacker)
        .await
        .unwrap();
    sqlx::query("update ledger_alarm set resolved_at = now()").execute(&db).await.unwrap();
    sqlx::query("update ledger_hash set hash = $1 where stored_index = 0")
        .bind(vec![0u8; 32])
        .execute(&db)
        .await
        .unwrap();
    let seq = crate::harness::acquire_sequencer(&db, settings()).await;
    assert!(seq.is_halted());
    let open: Vec<String> =
        sqlx::query_scalar("select kind from ledger_alarm where resolved_at is null").fetch_all(&db).await.unwrap();
    assert_eq!(open, ["hash_mismatch"]);
}

/// Over HTTP, as an independent verifier would: fetch every tile and entry bundle of the
/// tree, recompute the root from the tiles and from the entries, compare with the checkpoint.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn tiles_and_entry_bundles_over_http_reproduce_the_signed_root(db: PgPool) {
    let portal = crate::harness::Portal::start(db.clone()).await;
    // 300 entries + status.root: one full level-0 tile and a partial one.
    let events: Vec<Event> = (0..=255u8).chain(0..44).map(grant).collect();
    enqueue_committed(&db, &events).await;
    let mut seq = Sequencer::acquire(&db, portal.state.ledger.clone()).await.unwrap().unwrap();
    seq.integrate_batch().await.unwrap();
    let (size, root) = tree_state(&db).await;
    assert_eq!(size, 301);

    let http = crate::harness::browser();
    let mut tiles = TileSet::new();
    for t in tiles_for_growth(0, size) {
        let resp = http.get(format!("{}/ledger/{}", portal.url, t.path())).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", t.path());
        tiles.insert(t, resp.bytes().await.unwrap().to_vec()).unwrap();
    }
    assert_eq!(root_from_tiles(size, &tiles).unwrap(), root);

    let mut leaves = Vec::new();
    for t in entry_bundles_for_growth(0, size) {
        let resp = http.get(format!("{}/ledger/{}", portal.url, t.path())).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        leaves.extend(decode_entry_bundle(&resp.bytes().await.unwrap()).unwrap());
    }
    let hashes: Vec<_> = leaves.iter().map(|l| tree::leaf_hash(l)).collect();
    assert_eq!(tree::root_of_leaf_hashes(&hashes), root);

    let full = http.get(format!("{}/ledger/tile/0/000", portal.url)).send().await.unwrap();
    assert!(full.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    for beyond in ["tile/0/001", "tile/0/002.p/3", "tile/entries/002", "tile/1/000"] {
        let resp = http.get(format!("{}/ledger/{beyond}", portal.url)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{beyond} is beyond the tree");
    }
    let bad = http.get(format!("{}/ledger/tile/0/x1", portal.url)).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let keys = http.get(format!("{}/ledger/keys", portal.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(keys.lines().next().unwrap(), portal.state.ledger.log_key().to_string());
    assert_eq!(keys.lines().last().unwrap(), "quorum 0");
    // No witnesses: nothing is cosigned, so there is no public checkpoint yet.
    let cp = http.get(format!("{}/ledger/checkpoint", portal.url)).send().await.unwrap();
    assert_eq!(cp.status(), 404);
}

/// A log continues only under the key that signed it: starting with another key file
/// raises an alarm instead of signing on.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_replaced_log_key_is_an_alarm(db: PgPool) {
    enqueue_committed(&db, &[grant(1)]).await;
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    seq.integrate_batch().await.unwrap();
    drop(seq);
    let other = Arc::new(
        LedgerSettings::new(NoteSigner::from_seed("ledger.test.example", &[8; 32]).unwrap(), vec![], 0).unwrap(),
    );
    let seq = crate::harness::acquire_sequencer(&db, other.clone()).await;
    assert!(seq.is_halted());
    let alarms: Vec<String> = sqlx::query_scalar("select kind from ledger_alarm").fetch_all(&db).await.unwrap();
    assert_eq!(alarms, ["key_mismatch"]);
}

/// Operators scrape the ledger's state, including open integrity alarms, as metrics.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn metrics_report_sizes_and_open_alarms(db: PgPool) {
    let portal = crate::harness::Portal::start(db.clone()).await;
    enqueue_committed(&db, &[grant(1), grant(2)]).await;
    let text =
        |url: String| async move { crate::harness::browser().get(url).send().await.unwrap().text().await.unwrap() };
    let before = text(format!("{}/metrics", portal.url)).await;
    assert!(before.contains("onecity_ledger_pending_entries 2\n"), "{before}");
    assert!(before.contains("onecity_ledger_integrity_alarms 0\n"));
    let mut seq = Sequencer::acquire(&db, portal.state.ledger.clone()).await.unwrap().unwrap();
    seq.integrate_batch().await.unwrap();
    sqlx::query("insert into ledger_alarm (kind, detail) values ('hash_mismatch', 'test')").execute(&db).await.unwrap();
    let after = text(format!("{}/metrics", portal.url)).await;
    assert!(after.contains("onecity_ledger_tree_size 3\n"), "{after}");
    assert!(after.contains("onecity_ledger_pending_entries 0\n"));
    assert!(after.contains("onecity_ledger_integrity_alarms 1\n"));
}

/// Status-map proofs read from the database verify against the root the log committed to, for
/// present, revoked and absent grants, at the newest and at an older map version, whether the
/// nodes come from the one-query prefetch or the level-by-level fallback.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn status_proofs_from_storage_verify_against_the_committed_map_roots(db: PgPool) {
    use chain::GrantStatus;
    use server::ledger::store::status_proof_prefetching;
    let issued = |i: u32| {
        let mut g = [0u8; 16];
        g[..4].copy_from_slice(&i.to_be_bytes());
        Event::GrantIssued {
            grant_id: chain::GrantId(g),
            resident: chain::Pseudonym([1; 32]),
            service_version_hash: chain::Hash([2; 32]),
            scopes: vec!["transit.trips".into()],
            purpose: "p".into(),
            valid_from: 1_700_000_000,
            valid_until: 1_800_000_000 + u64::from(i),
        }
    };
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    // Three batches (three map versions): 2,000 grants, 1,000 more, then 100 revocations.
    enqueue_committed(&db, &(0..2000).map(issued).collect::<Vec<_>>()).await;
    seq.integrate_batch().await.unwrap();
    enqueue_committed(&db, &(2000..3000).map(issued).collect::<Vec<_>>()).await;
    seq.integrate_batch().await.unwrap();
    let revoked: Vec<Event> = (0..100)
        .map(|i| match issued(i) {
            Event::GrantIssued { grant_id, resident, .. } => {
                Event::GrantRevoked { grant_id, resident, revoked_at: 1_750_000_000 }
            }
            _ => unreachable!(),
        })
        .collect();
    enqueue_committed(&db, &revoked).await;
    seq.integrate_batch().await.unwrap();

    let roots: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("select leaf_index, body from ledger_entry where kind = 'status.root' order by leaf_index")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(roots.len(), 3);
    let root_at = |i: usize| match Event::decode(&roots[i].1).unwrap() {
        Event::StatusRoot { map_root, map_version, .. } => (map_root, map_version),
        _ => unreachable!(),
    };
    let mut conn = db.acquire().await.unwrap();
    for (batch, cases) in [
        // (grant number, expected status at that version)
        (
            1usize,
            vec![
                (5u32, Some(GrantStatus::Active { until: 1_800_000_005 })),
                (2500, Some(GrantStatus::Active { until: 1_800_002_500 })),
                (7000, None),
            ],
        ),
        (
            2,
            vec![
                (5, Some(GrantStatus::Revoked { at: 1_750_000_000 })),
                (2500, Some(GrantStatus::Active { until: 1_800_002_500 })),
                (7000, None),
            ],
        ),
        (0, vec![(5, Some(GrantStatus::Active { until: 1_800_000_005 })), (2500, None)]),
    ] {
        let (root, version) = root_at(batch);
        for (n, expected) in cases {
            let Event::GrantIssued { grant_id, .. } = issued(n) else { unreachable!() };
            for depth in [0, 1, 8] {
                let (status, proof) = status_proof_prefetching(&mut conn, version, &grant_id, depth).await.unwrap();
                assert_eq!(status, expected, "grant {n} at version {version} (prefetch {depth})");
                proof.verify(&root, &grant_id, status.as_ref()).unwrap();
            }
        }
    }
}

/// The gate's stored-hash cache answers what it has read before: a proof computed again needs
/// no database (shown by deleting the rows), and is the same proof as the uncached one.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn cached_stored_hashes_give_the_same_proofs_without_the_database(db: PgPool) {
    use server::ledger::store::{HashCache, with_stored_hashes, with_stored_hashes_cached};
    let mut seq = Sequencer::acquire(&db, settings()).await.unwrap().unwrap();
    enqueue_committed(&db, &(1..=40).map(grant).collect::<Vec<_>>()).await;
    seq.integrate_batch().await.unwrap();
    let (size, root) = tree_state(&db).await;
    let mut conn = db.acquire().await.unwrap();
    let prove = |i: u64| move |r: &dyn chain::tree::HashReader| tree::prove_inclusion(size, i, r);
    let plain = with_stored_hashes(&mut conn, prove(7)).await.unwrap();
    let cache = HashCache::default();
    let cached = with_stored_hashes_cached(&mut conn, Some(&cache), prove(7)).await.unwrap();
    assert_eq!(plain, cached);
    sqlx::query("delete from ledger_hash").execute(&mut *conn).await.unwrap();
    let again = with_stored_hashes_cached(&mut conn, Some(&cache), prove(7)).await.unwrap();
    assert_eq!(again, plain, "answered from the cache alone");
    let leaf: Vec<u8> =
        sqlx::query_scalar("select body from ledger_entry where leaf_index = 7").fetch_one(&db).await.unwrap();
    tree::verify_inclusion(&again, size, &root, 7, &tree::leaf_hash(&leaf)).unwrap();
    assert!(with_stored_hashes(&mut conn, prove(7)).await.is_err(), "without the cache the rows are gone");
}
