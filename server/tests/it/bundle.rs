//! Proof bundles end to end: assembled from storage over HTTP, checked with the chain crate
//! and with the `verify` command, for a grant before and after its revocation; tampering and
//! untrusted keys are refused with the reason.

use crate::harness::{Consortium, Portal, TempDir, browser};
use chain::leaf::{Event, GrantId, Pseudonym};
use chain::note::NoteSigner;
use chain::{GrantStatus, ProofBundle};
use server::cli::verify::{VerifyArgs, run};
use server::ledger::sequencer::Sequencer;
use server::ledger::witness_client::cosign_latest;
use server::ledger::{enqueue, unix_now};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn commit(db: &PgPool, events: &[Event]) {
    let mut tx = db.begin().await.unwrap();
    for e in events {
        enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bundles_prove_entries_and_grant_status_offline(_p: PgPoolOptions, opts: PgConnectOptions) {
    let db = PgPoolOptions::new().max_connections(8).connect_with(opts.clone()).await.unwrap();
    let keys = TempDir::new("keys");
    let seed = server::keyfile::load_or_create_seed(&keys.0.join("log.key")).unwrap();
    let log = NoteSigner::from_seed("ledger.onecity.example", &seed).unwrap();
    let consortium = Consortium::start(&opts, log.verifier_key()).await;
    let witness_flags: Vec<String> =
        consortium.endpoints().iter().map(|w| format!("--witness={},{}", w.url, w.key)).collect();
    let portal = Portal::start_with(db.clone(), keys, &witness_flags).await;
    let ledger = portal.state.ledger.clone();
    let http = browser();

    let service = Event::ServicePublished {
        agency: "transit-authority".into(),
        service: "fare-capping".into(),
        version: 1,
        purpose: "fare capping".into(),
        scopes: vec!["transit.trips".into()],
        retention_days: 90,
    };
    commit(&db, &[service, crate::harness::grant_issued(1), crate::harness::grant_issued(2)]).await;
    assert_eq!(
        http.get(format!("{}/ledger/bundle/1", portal.url)).send().await.unwrap().status(),
        404,
        "not cosigned yet"
    );
    let mut seq = Sequencer::acquire(&db, ledger.clone()).await.unwrap().unwrap();
    seq.integrate_batch().await.unwrap();
    cosign_latest(&db, &ledger).await;

    let keys_text = http.get(format!("{}/ledger/keys", portal.url)).send().await.unwrap().text().await.unwrap();
    let policy = server::ledger::bundle::parse_keys(&keys_text).unwrap();
    let fetch = |i: u64| {
        let (http, url) = (http.clone(), portal.url.clone());
        async move {
            let resp = http.get(format!("{url}/ledger/bundle/{i}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "bundle {i}");
            assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("onecity-proof-"));
            resp.text().await.unwrap()
        }
    };

    // A grant: in the log, cosigned by the quorum, active now.
    let grant_json = fetch(1).await;
    let verdict = chain::verify_bundle(&ProofBundle::from_json(&grant_json).unwrap(), &policy, unix_now()).unwrap();
    let status = verdict.status.unwrap();
    assert_eq!(status.status, Some(GrantStatus::Active { until: 4_000_000_000 }));
    assert!(status.active_now);
    assert_eq!(verdict.cosigners.len(), 4);

    // A service version: in the log, no status section.
    let service_json = fetch(0).await;
    let verdict = chain::verify_bundle(&ProofBundle::from_json(&service_json).unwrap(), &policy, unix_now()).unwrap();
    assert!(verdict.status.is_none());

    // The same check with nothing but the files, as a resident or journalist would.
    let dir = TempDir::new("verify");
    let (bundle_file, keys_file) = (dir.0.join("grant.json"), dir.0.join("keys.txt"));
    std::fs::write(&bundle_file, &grant_json).unwrap();
    std::fs::write(&keys_file, &keys_text).unwrap();
    let args =
        VerifyArgs { bundle: bundle_file.clone(), keys: keys_file.clone(), at: None, content: None, serial: None };
    let out = run(&args).unwrap();
    assert!(out.starts_with("VERIFIED: entry #1 (grant.issued)"), "{out}");
    assert!(out.contains("ACTIVE"), "{out}");
    let later = run(&VerifyArgs { at: Some(4_000_000_001), ..args }).unwrap();
    assert!(later.contains("EXPIRED"), "{later}");

    // Revoked: the next cosigned checkpoint's bundle says so.
    commit(
        &db,
        &[Event::GrantRevoked { grant_id: GrantId([1; 16]), resident: Pseudonym([1; 32]), revoked_at: 1_800_000_000 }],
    )
    .await;
    seq.integrate_batch().await.unwrap();
    cosign_latest(&db, &ledger).await;
    let revoked = chain::verify_bundle(&ProofBundle::from_json(&fetch(1).await).unwrap(), &policy, unix_now()).unwrap();
    assert_eq!(revoked.status.unwrap().status, Some(GrantStatus::Revoked { at: 1_800_000_000 }));
    // Grant 2 was never revoked: still active in the new map version.
    let other = chain::verify_bundle(&ProofBundle::from_json(&fetch(2).await).unwrap(), &policy, unix_now()).unwrap();
    assert!(other.status.unwrap().active_now);

    // A tampered bundle is refused with the reason.
    let mut tampered: serde_json::Value = serde_json::from_str(&grant_json).unwrap();
    let leaf = tampered["entry"]["leaf"].as_str().unwrap().to_owned();
    let flipped = if leaf.starts_with('A') { leaf.replacen('A', "B", 1) } else { format!("A{}", &leaf[1..]) };
    tampered["entry"]["leaf"] = serde_json::Value::String(flipped);
    std::fs::write(&bundle_file, tampered.to_string()).unwrap();
    let err = run(&VerifyArgs {
        bundle: bundle_file.clone(),
        keys: keys_file.clone(),
        at: None,
        content: None,
        serial: None,
    })
    .unwrap_err();
    assert!(format!("{err:#}").starts_with("NOT VERIFIED"), "{err:#}");

    // Keys of another log: refused.
    std::fs::write(&bundle_file, &grant_json).unwrap();
    let stranger = NoteSigner::from_seed("ledger.onecity.example", &[99; 32]).unwrap().verifier_key();
    let other_keys = keys_text.replacen(keys_text.lines().next().unwrap(), &stranger.to_string(), 1);
    std::fs::write(&keys_file, other_keys).unwrap();
    assert!(run(&VerifyArgs { bundle: bundle_file, keys: keys_file, at: None, content: None, serial: None }).is_err());

    drop(portal);
    consortium.shutdown().await;
}
