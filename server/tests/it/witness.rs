//! The witness node (C2SP tlog-witness `add-checkpoint`) against a real PostgreSQL database:
//! every status code, the compare-and-swap under concurrent requests, and a restart.
//!
//! Each test gets a fresh database from `#[sqlx::test]`; the witness creates its own table,
//! so no portal migrations run (`migrations = false`).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chain::cosign::{
    AddCheckpointRequest, CosignatureSigner as _, Ed25519Cosigner, WitnessPolicy, WitnessReply,
    parse_cosignature_lines, parse_witness_reply,
};
use chain::note::{Checkpoint, NoteSigner, SignedCheckpoint};
use chain::tree::{EMPTY_ROOT, MemoryHashStore, prove_consistency, tree_root};
use server::witness::{WitnessState, init_schema, router};
use sqlx::PgPool;
use tower::ServiceExt as _;

const LOG: &str = "ledger.test.onecity.example";
const WITNESS: &str = "witness.test.onecity.example";

/// An in-memory log with a fixed key: entries `entry-0`, `entry-1`, ...
struct TestLog {
    signer: NoteSigner,
    tree: MemoryHashStore,
}

impl TestLog {
    fn new(name: &str, seed: u8) -> Self {
        Self { signer: NoteSigner::from_seed(name, &[seed; 32]).unwrap(), tree: MemoryHashStore::new() }
    }

    fn grow_to(&mut self, size: u64) {
        while self.tree.size() < size {
            let i = self.tree.size();
            self.tree.append(format!("entry-{i}").as_bytes()).unwrap();
        }
    }

    fn checkpoint(&self, size: u64) -> SignedCheckpoint {
        let root = tree_root(size, &self.tree).unwrap();
        SignedCheckpoint::sign(Checkpoint::new(self.signer.name(), size, root), &self.signer)
    }

    /// The request a sequencer sends: from `old` (the witness's size) to `size`.
    fn request(&self, old: u64, size: u64) -> AddCheckpointRequest {
        let proof = if old == 0 || old == size { vec![] } else { prove_consistency(size, old, &self.tree).unwrap() };
        AddCheckpointRequest { old_size: old, proof, checkpoint: self.checkpoint(size) }
    }
}

fn cosigner() -> Ed25519Cosigner {
    Ed25519Cosigner::from_seed(WITNESS, &[42; 32]).unwrap()
}

async fn witness(db: &PgPool, log: &TestLog) -> Router {
    init_schema(db).await.unwrap();
    router(WitnessState::new(db.clone(), cosigner(), vec![log.signer.verifier_key()]).unwrap())
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn post(app: &Router, body: Vec<u8>) -> Answer {
    let req = Request::post("/add-checkpoint").body(Body::from(body)).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type =
        resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, content_type, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

async fn add(app: &Router, req: &AddCheckpointRequest) -> Answer {
    post(app, req.to_bytes()).await
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The 200 body is exactly one `cosignature/v1` line that a policy with this witness accepts.
fn assert_cosigned(log: &TestLog, req: &AddCheckpointRequest, a: &Answer) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.starts_with("— ") && a.body.ends_with('\n'), "{:?}", a.body);
    let sigs = parse_cosignature_lines(&a.body).unwrap();
    assert_eq!(sigs.len(), 1);
    let mut signed = req.checkpoint.clone();
    signed.add_signatures(sigs);
    let policy = WitnessPolicy::new(log.signer.verifier_key(), vec![cosigner().verifier_key()], 1).unwrap();
    let report = policy.require_quorum(&signed, now()).unwrap();
    assert_eq!(report.valid.len(), 1);
    assert!(report.valid[0].timestamp > 0 && report.valid[0].timestamp <= now());
    assert!(now() - report.valid[0].timestamp < 60);
}

fn conflict_size(a: &Answer) -> u64 {
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.content_type, "text/x.tlog.size");
    match parse_witness_reply(409, a.body.as_bytes()).unwrap() {
        WitnessReply::Conflict { latest_size } => {
            assert_eq!(a.body, format!("{latest_size}\n"));
            latest_size
        }
        other => panic!("{other:?}"),
    }
}

async fn stored(db: &PgPool) -> Option<(i64, Vec<u8>)> {
    sqlx::query_as("select tree_size, root_hash from witness_checkpoint where origin = $1")
        .bind(LOG)
        .fetch_optional(db)
        .await
        .unwrap()
}

/// First checkpoint (old 0, no proof) → 200 with a verifiable cosignature and the state
/// stored; growth with a valid consistency proof → 200; an identical re-submission at the
/// cosigned size → 200 again (all checks pass); replaying the growth request → 409 with the
/// stored size.
#[sqlx::test(migrations = false)]
async fn first_checkpoint_then_growth_are_cosigned_and_replay_conflicts(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(20);
    let app = witness(&db, &log).await;

    let first = log.request(0, 5);
    assert_cosigned(&log, &first, &add(&app, &first).await);
    assert_eq!(stored(&db).await.unwrap(), (5, log.checkpoint(5).checkpoint.root.0.to_vec()));

    let grow = log.request(5, 13);
    assert!(!grow.proof.is_empty());
    assert_cosigned(&log, &grow, &add(&app, &grow).await);
    assert_eq!(stored(&db).await.unwrap().0, 13);

    let same = log.request(13, 13);
    assert_cosigned(&log, &same, &add(&app, &same).await);

    assert_eq!(conflict_size(&add(&app, &grow).await), 13);
    assert_eq!(conflict_size(&add(&app, &first).await), 13);
    assert_eq!(stored(&db).await.unwrap().0, 13);

    // The sequencer-side reader of a 200.
    let next = log.request(13, 20);
    let a = add(&app, &next).await;
    assert!(matches!(parse_witness_reply(200, a.body.as_bytes()).unwrap(), WitnessReply::Cosigned(s) if s.len() == 1));
}

/// 400 for a body that is not an add-checkpoint request; nothing is stored.
#[sqlx::test(migrations = false)]
async fn malformed_bodies_are_400(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(4);
    let app = witness(&db, &log).await;
    let good = log.request(0, 4).to_bytes();
    let mut no_blank = b"old 0\n".to_vec();
    no_blank.extend(log.checkpoint(4).to_bytes());
    let mut leading_zero = b"old 00\n\n".to_vec();
    leading_zero.extend(log.checkpoint(4).to_bytes());
    let mut bad_proof = b"old 0\nnot-a-hash\n\n".to_vec();
    bad_proof.extend(log.checkpoint(4).to_bytes());
    let truncated = good[..good.len() - 10].to_vec();
    for body in [b"".to_vec(), b"hello".to_vec(), no_blank, leading_zero, bad_proof, truncated] {
        let a = post(&app, body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?} → {}", String::from_utf8_lossy(&body), a.body);
    }
    assert!(stored(&db).await.is_none());
    // Too large for any request: 413 before parsing.
    let a = post(&app, vec![b'a'; server::witness::MAX_BODY_BYTES + 1]).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// 404 for an origin the witness does not know, 403 for a checkpoint without a valid
/// signature from the trusted key (missing, from another key with the same name, or a bad
/// line from the trusted key next to a good one), 400 for old size above the checkpoint size.
#[sqlx::test(migrations = false)]
async fn unknown_origin_404_bad_signature_403_old_above_size_400(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(8);
    let app = witness(&db, &log).await;

    let mut other = TestLog::new("other.log.example", 2);
    other.grow_to(8);
    let a = add(&app, &other.request(0, 8)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);

    let impostor = TestLog::new(LOG, 3);
    let mut forged = log.request(0, 8);
    forged.checkpoint = SignedCheckpoint::sign(log.checkpoint(8).checkpoint, &impostor.signer);
    assert_eq!(add(&app, &forged).await.status, StatusCode::FORBIDDEN);

    let mut bad_line = log.request(0, 8);
    bad_line.checkpoint.note.signatures[0].signature[5] ^= 1;
    assert_eq!(add(&app, &bad_line).await.status, StatusCode::FORBIDDEN);

    let mut tampered = log.request(0, 8);
    tampered.checkpoint.checkpoint.size = 7;
    tampered.checkpoint.note.text = tampered.checkpoint.checkpoint.to_text();
    assert_eq!(add(&app, &tampered).await.status, StatusCode::FORBIDDEN);

    let mut above = log.request(0, 8);
    above.old_size = 9;
    let a = add(&app, &above).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);

    assert!(stored(&db).await.is_none(), "nothing refused may change the state");
    // Unknown extra signature lines are ignored.
    let mut extra = log.request(0, 8);
    extra.checkpoint.add_signatures([impostor.signer.sign(&extra.checkpoint.note.text)]);
    let stranger = NoteSigner::from_seed("stranger.example", &[9; 32]).unwrap();
    extra.checkpoint.add_signatures([stranger.sign(&extra.checkpoint.note.text)]);
    // The impostor line has the log's name but another key id: not a trusted key, ignored.
    assert_cosigned(&log, &extra, &add(&app, &extra).await);
}

/// 409 with `text/x.tlog.size` and the stored size when the old size is stale (including
/// before any checkpoint was cosigned, where the stored size is 0).
#[sqlx::test(migrations = false)]
async fn stale_old_size_is_409_with_the_stored_size(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(30);
    let app = witness(&db, &log).await;
    assert_eq!(conflict_size(&add(&app, &log.request(7, 30)).await), 0);
    assert_cosigned(&log, &log.request(0, 10), &add(&app, &log.request(0, 10)).await);
    assert_eq!(conflict_size(&add(&app, &log.request(7, 30)).await), 10);
    assert_eq!(conflict_size(&add(&app, &log.request(0, 30)).await), 10);
    assert_eq!(conflict_size(&add(&app, &log.request(11, 30)).await), 10);
    assert_cosigned(&log, &log.request(10, 30), &add(&app, &log.request(10, 30)).await);
}

/// 422 for a consistency proof that does not verify, a proof sent from size 0, and a
/// size-0 checkpoint without the empty root; the state is unchanged.
#[sqlx::test(migrations = false)]
async fn bad_proofs_are_422(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(40);
    let app = witness(&db, &log).await;
    assert_cosigned(&log, &log.request(0, 11), &add(&app, &log.request(0, 11)).await);

    let good = log.request(11, 40);
    for i in 0..good.proof.len() {
        let mut bad = good.clone();
        bad.proof[i].0[3] ^= 0x40;
        assert_eq!(add(&app, &bad).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut short = good.clone();
    short.proof.pop();
    assert_eq!(add(&app, &short).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut wrong_from = good.clone();
    wrong_from.proof = prove_consistency(40, 12, &log.tree).unwrap();
    assert_eq!(add(&app, &wrong_from).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored(&db).await.unwrap().0, 11);

    // Fresh log state: a proof from size 0 must be empty; size 0 must have the empty root.
    let mut two = TestLog::new("second.log.example", 5);
    two.grow_to(4);
    init_schema(&db).await.unwrap();
    let app2 = router(
        WitnessState::new(db.clone(), cosigner(), vec![log.signer.verifier_key(), two.signer.verifier_key()]).unwrap(),
    );
    let mut with_proof = two.request(0, 4);
    with_proof.proof = vec![EMPTY_ROOT];
    assert_eq!(add(&app2, &with_proof).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bogus_empty = AddCheckpointRequest {
        old_size: 0,
        proof: vec![],
        checkpoint: SignedCheckpoint::sign(
            Checkpoint::new("second.log.example", 0, two.checkpoint(4).checkpoint.root),
            &two.signer,
        ),
    };
    assert_eq!(add(&app2, &bogus_empty).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let empty = two.request(0, 0);
    assert_cosigned(&two, &empty, &add(&app2, &empty).await);
    assert_cosigned(&two, &two.request(0, 4), &add(&app2, &two.request(0, 4)).await);
}

/// A fork (the cosigned size with another root, or a bigger tree not containing the cosigned
/// one) and a rollback (a smaller tree) are never cosigned, whatever old size is claimed.
#[sqlx::test(migrations = false)]
async fn forks_and_rollbacks_are_refused(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(16);
    let app = witness(&db, &log).await;
    assert_cosigned(&log, &log.request(0, 16), &add(&app, &log.request(0, 16)).await);

    // Same size, different root: the log signed a second tree of size 16.
    let mut fork = TestLog::new(LOG, 1);
    fork.tree.append(b"a different first entry").unwrap();
    fork.grow_to(24);
    let same_size = fork.request(16, 16);
    let a = add(&app, &same_size).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    // A bigger forked tree, with its own (valid for itself) proof from 16.
    let a = add(&app, &fork.request(16, 24)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    // Forked tree sent as a fresh start.
    assert_eq!(conflict_size(&add(&app, &fork.request(0, 24)).await), 16);

    // Rollback: a smaller checkpoint of the same log.
    let backwards = AddCheckpointRequest { old_size: 16, proof: vec![], checkpoint: log.checkpoint(8) };
    assert_eq!(add(&app, &backwards).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(conflict_size(&add(&app, &log.request(8, 8)).await), 16);
    assert_eq!(conflict_size(&add(&app, &log.request(0, 8)).await), 16);

    assert_eq!(stored(&db).await.unwrap(), (16, log.checkpoint(16).checkpoint.root.0.to_vec()));
}

/// 16 concurrent requests growing the same log from the same old size to different sizes:
/// exactly one is cosigned, the others get 409 with the winner's size, and the stored state
/// is the winner's. Same for 16 concurrent first requests (no row yet).
#[sqlx::test(migrations = false)]
async fn concurrent_requests_exactly_one_wins(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(64);
    let app = witness(&db, &log).await;
    let log = std::sync::Arc::new(log);

    for old in [0u64, 20] {
        if old > 0 {
            // Reset to a known state at size 20 for the growth round.
            sqlx::query("update witness_checkpoint set tree_size = 20, root_hash = $2 where origin = $1")
                .bind(LOG)
                .bind(&log.checkpoint(20).checkpoint.root.0[..])
                .execute(&db)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for k in 0..16u64 {
            let (app, log) = (app.clone(), log.clone());
            tasks.push(tokio::spawn(async move {
                let size = old + 1 + k * 2;
                let req = log.request(old, size);
                (size, add(&app, &req).await)
            }));
        }
        let mut winners = Vec::new();
        let mut sizes = Vec::new();
        for t in tasks {
            let (size, a) = t.await.unwrap();
            if a.status == StatusCode::OK {
                winners.push(size);
            } else {
                sizes.push(conflict_size(&a));
            }
        }
        assert_eq!(winners.len(), 1, "exactly one winner from old {old}: {winners:?}");
        let won = winners[0];
        assert_eq!(sizes.len(), 15);
        assert!(sizes.iter().all(|&s| s == won), "every loser sees the winner's size {won}: {sizes:?}");
        let (size, root) = stored(&db).await.unwrap();
        assert_eq!(size, i64::try_from(won).unwrap());
        assert_eq!(root, log.checkpoint(won).checkpoint.root.0.to_vec());
    }
}

/// Dropping the witness and starting a new one on the same database keeps the state: the
/// old size is still required, and growth continues from the stored size.
#[sqlx::test(migrations = false)]
async fn a_restarted_witness_continues_from_the_stored_size(db: PgPool) {
    let mut log = TestLog::new(LOG, 1);
    log.grow_to(50);
    let app = witness(&db, &log).await;
    assert_cosigned(&log, &log.request(0, 10), &add(&app, &log.request(0, 10)).await);
    assert_cosigned(&log, &log.request(10, 25), &add(&app, &log.request(10, 25)).await);
    drop(app);

    let app = witness(&db, &log).await; // init_schema again is harmless
    assert_eq!(conflict_size(&add(&app, &log.request(10, 50)).await), 25);
    assert_eq!(conflict_size(&add(&app, &log.request(0, 50)).await), 25);
    assert_cosigned(&log, &log.request(25, 50), &add(&app, &log.request(25, 50)).await);
    assert_eq!(stored(&db).await.unwrap().0, 50);
}

/// `GET /healthz` answers 200 while the database is reachable; other methods on
/// `/add-checkpoint` are 405.
#[sqlx::test(migrations = false)]
async fn healthz_and_methods(db: PgPool) {
    let log = TestLog::new(LOG, 1);
    let app = witness(&db, &log).await;
    let resp = app.clone().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.clone().oneshot(Request::get("/add-checkpoint").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// `witness keygen` is idempotent: the same key file gives the same vkey, a cosigner key
/// of type 0x04 named as asked; another file gives another key; and the witness refuses a
/// log key that is not a note key.
#[sqlx::test(migrations = false)]
async fn keygen_is_idempotent(db: PgPool) {
    let dir = std::env::temp_dir().join(format!("onecity-witness-keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("w1/key");
    let a = server::witness::keygen(WITNESS, &path).unwrap();
    let b = server::witness::keygen(WITNESS, &path).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.name, WITNESS);
    assert_eq!(a.sig_type, chain::note::SIG_TYPE_COSIGNATURE_V1);
    assert!(a.to_string().starts_with(&format!("{WITNESS}+")));
    let c = server::witness::keygen(WITNESS, &dir.join("w2/key")).unwrap();
    assert_ne!(a, c);
    assert!(server::witness::keygen("bad name", &path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(WitnessState::new(db.clone(), cosigner(), vec![a.clone()]).is_err(), "a cosigner key is not a log key");
    assert!(WitnessState::new(db, cosigner(), vec![]).is_err());
    let keys = server::witness::parse_log_vkeys(&[
        TestLog::new(LOG, 1).signer.verifier_key().to_string(),
        TestLog::new("b.example", 2).signer.verifier_key().to_string(),
    ])
    .unwrap();
    assert_eq!(keys.len(), 2);
    assert!(server::witness::parse_log_vkeys(&["nonsense".into()]).is_err());
}
