//! Sealed confirmation records against the real PostgreSQL, witnesses and ledger: batches cut
//! by size and time, a sealer killed inside its transaction, two sealers at once, amendment
//! keeping the old seal valid, erasure leaving a purge receipt and no content, the agency
//! receiving each record with its proof, and tampering refused.

use crate::harness::{City, behind_the_servers_back, planner};
use chain::{Event, ProofBundle};
use serde_json::json;
use server::domain::records::{self, Requester};
use server::domain::services::{NewVersion, create_service, publish_version};
use server::ledger::bundle::{BundleError, record_bundle};
use server::ledger::seal::{seal_batch, seal_pending};
use server::ledger::unix_now;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use time::OffsetDateTime;
use uuid::Uuid;

/// `n` property titles for `resident`, recorded a minute ago (so the next round seals them).
async fn titles(db: &PgPool, resident: Uuid, n: usize) -> Vec<Uuid> {
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let data = json!({"address": format!("{i} Harbour Road"), "share": 1});
        ids.push(records::add_confirmation(&mut tx, resident, "property.titles", &data).await.unwrap());
    }
    sqlx::query("update confirmation_record set recorded_at = now() - interval '1 minute' where resident_id = $1")
        .bind(resident)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ids
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// A sealed version's row: id, version, scope, time, content hash, salt, position.
type SealedRow = (Uuid, i32, String, OffsetDateTime, Vec<u8>, Vec<u8>, i32);

/// Every version is sealed exactly once: one (batch, position) each, positions 0..n in each
/// batch, and each batch's count and root what its versions' commitments give.
async fn assert_sealed_once(db: &PgPool) {
    assert_eq!(count(db, "select count(*) from confirmation_record where record_batch_id is null").await, 0);
    let batches: Vec<(i64, i32, Vec<u8>)> =
        sqlx::query_as("select record_batch_id, record_count, batch_root from record_batch")
            .fetch_all(db)
            .await
            .unwrap();
    for (id, n, root) in batches {
        let rows: Vec<SealedRow> = sqlx::query_as(
            "select confirmation_record_id, version, scope_key, recorded_at, content_hash, salt, batch_position
             from confirmation_record where record_batch_id = $1 order by batch_position",
        )
        .bind(id)
        .fetch_all(db)
        .await
        .unwrap();
        assert_eq!(rows.len(), usize::try_from(n).unwrap());
        let leaves: Vec<chain::Hash> = rows
            .iter()
            .enumerate()
            .map(|(p, (rid, v, scope, at, hash, salt, pos))| {
                assert_eq!(usize::try_from(*pos).unwrap(), p);
                chain::record::RecordVersion {
                    record_id: *rid.as_bytes(),
                    version: u32::try_from(*v).unwrap(),
                    scope: scope.clone(),
                    recorded_at: u64::try_from(at.unix_timestamp()).unwrap(),
                    content_hash: chain::Hash::from_slice(hash).unwrap(),
                    salt: salt.as_slice().try_into().unwrap(),
                }
                .batch_leaf()
                .unwrap()
            })
            .collect();
        assert_eq!(chain::tree::root_of_leaf_hashes(&leaves).0.to_vec(), root);
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn batches_are_cut_by_size_and_time_and_a_sealer_killed_midway_leaves_nothing(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await; // one title, recorded now
    titles(&city.db, li, 6).await; // seven titles, all a minute old
    let db = city.db.clone();
    let wang = city.resident("wang").await;
    // A version recorded in the future waits for its time.
    sqlx::query("update confirmation_record set recorded_at = now() + interval '1 hour' where resident_id = $1")
        .bind(wang)
        .execute(&db)
        .await
        .unwrap();

    // The sealer dies inside its transaction after queuing the batch's entry: it is stopped
    // at the batch row (a lock held elsewhere), then cut off there.
    let mut blocker = db.begin().await.unwrap();
    sqlx::query("lock table record_batch in exclusive mode").execute(&mut *blocker).await.unwrap();
    let sealer_db = db.clone();
    let sealer = tokio::spawn(async move {
        let mut conn = sealer_db.acquire().await.unwrap();
        seal_batch(&mut conn, OffsetDateTime::now_utc(), 3).await.map(|_| ())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!sealer.is_finished(), "the sealer waits inside its transaction");
    sealer.abort();
    assert!(sealer.await.unwrap_err().is_cancelled());
    blocker.rollback().await.unwrap();
    assert_eq!(count(&db, "select count(*) from ledger_entry where kind = 'records.batch'").await, 0, "no entry left");
    assert_eq!(count(&db, "select count(*) from record_batch").await, 0);
    assert_eq!(count(&db, "select count(*) from confirmation_record where record_batch_id is not null").await, 0);

    // Size 3: seven versions make batches of 3, 3 and 1; Wang's future title stays pending.
    let mut sizes = Vec::new();
    let sealed = seal_pending(&db, 3, |b| sizes.push(b.count)).await.unwrap();
    assert_eq!((sealed, sizes), (7, vec![3, 3, 1]));
    assert_eq!(count(&db, "select count(*) from ledger_entry where kind = 'records.batch'").await, 3);
    assert_eq!(count(&db, "select count(*) from confirmation_record where record_batch_id is null").await, 1);
    assert_eq!(seal_pending(&db, 3, |_| {}).await.unwrap(), 0, "nothing is sealed twice");
    sqlx::query("update confirmation_record set recorded_at = now() - interval '1 second' where resident_id = $1")
        .bind(wang)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(seal_pending(&db, 3, |_| {}).await.unwrap(), 1);
    assert_sealed_once(&db).await;

    // Each batch's period covers its versions' times and ends at its cut.
    let bad: i64 = count(
        &db,
        "select count(*) from confirmation_record c join record_batch b using (record_batch_id)
         where date_trunc('second', c.recorded_at) < b.period_start or c.recorded_at >= b.period_end",
    )
    .await;
    assert_eq!(bad, 0);
    city.settle().await;
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_sealers_at_once_seal_every_version_exactly_once(_p: PgPoolOptions, opts: PgConnectOptions) {
    let db = PgPoolOptions::new().max_connections(8).connect_with(opts).await.unwrap();
    server::seed::seed_districts(&db).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let account: Uuid = sqlx::query_scalar(
        "insert into account (issuer, subject, display_name) values ('t', 'x', 'x') returning account_id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let resident: Uuid = sqlx::query_scalar(
        "insert into resident (account_id, district_id) select $1, district_id from district limit 1 returning resident_id",
    )
    .bind(account)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    titles(&db, resident, 200).await;
    let (a, b) = tokio::join!(seal_pending(&db, 7, |_| {}), seal_pending(&db, 7, |_| {}));
    assert_eq!(a.unwrap() + b.unwrap(), 200);
    assert_eq!(count(&db, "select coalesce(sum(record_count), 0)::bigint from record_batch").await, 200);
    assert_sealed_once(&db).await;
}

async fn property_service(city: &City) -> Uuid {
    let id = create_service(&city.db, "transit-authority", "parking-permits").await.unwrap();
    let v = NewVersion {
        name_en: "Parking permits".into(),
        name_zh: "停车许可".into(),
        purpose: "Issue a resident parking permit for the homes you own".into(),
        required_scopes: vec!["property.titles".into()],
        optional_scopes: vec![],
        ..planner(vec![], 0)
    };
    publish_version(&city.db, id, &v).await.unwrap();
    id
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn amendment_keeps_the_old_seal_and_the_agency_gets_each_record_with_its_proof(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let service = property_service(&city).await;
    let li = city.resident("li").await;
    let record: Uuid =
        sqlx::query_scalar("select confirmation_record_id from confirmation_record where resident_id = $1")
            .bind(li)
            .fetch_one(&city.db)
            .await
            .unwrap();
    let first: serde_json::Value = json!({"address": "li Lane 1", "share": 1});
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // into the next second
    let data_version = |db: PgPool| async move {
        sqlx::query_scalar::<_, i64>("select data_version from resident where resident_id = $1")
            .bind(li)
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let before = data_version(city.db.clone()).await;
    seal_pending(&city.db, 4096, |_| {}).await.unwrap();
    // Sealing changes nothing the resident's pages show: their cached page stays valid.
    assert_eq!(data_version(city.db.clone()).await, before);
    city.settle().await;
    let ledger = city.portal.state.ledger.clone();
    let policy = ledger.policy.clone().unwrap();
    let mut conn = city.db.acquire().await.unwrap();
    let v1 = record_bundle(&mut conn, &ledger, record, 1).await.unwrap();
    chain::verify_bundle(&v1, &policy, unix_now()).unwrap();

    // Amend: version 2 is current and pending, version 1 keeps its seal.
    let second = json!({"address": "li Lane 1", "share": 0.5});
    let mut tx = city.db.begin().await.unwrap();
    assert_eq!(records::amend_confirmation(&mut tx, record, &second).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert!(data_version(city.db.clone()).await > before, "an amendment moves the resident's data version");
    assert!(matches!(record_bundle(&mut conn, &ledger, record, 2).await, Err(BundleError::NotYetSealed(..))));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(seal_pending(&city.db, 4096, |_| {}).await.unwrap(), 1, "only the new version");
    city.settle().await;
    let v1 = record_bundle(&mut conn, &ledger, record, 1).await.unwrap();
    let v2 = record_bundle(&mut conn, &ledger, record, 2).await.unwrap();
    let (r1, r2) = (
        chain::verify_bundle(&v1, &policy, unix_now()).unwrap().record.unwrap(),
        chain::verify_bundle(&v2, &policy, unix_now()).unwrap().record.unwrap(),
    );
    chain::record::check_content(&r1.record, &first).unwrap();
    chain::record::check_content(&r2.record, &second).unwrap();
    assert!(chain::record::check_content(&r1.record, &second).is_err(), "the old seal is of the old content");
    assert!(r1.sealed_by <= r2.record.recorded_at, "version 1 was sealed before version 2 existed");

    // The agency reads the current version only, with its seal, and can check it offline.
    city.grant(li, service, &["property.titles"], 30).await;
    city.settle().await;
    let token = city.transit_token().await;
    let ask = json!({"pseudonym": city.pseudonym(li, service), "scopes": ["property.titles"]});
    let (status, body) = city.api_post(&token, &format!("/api/v1/services/{service}/reads"), &ask).await;
    assert_eq!(status, 200, "{body}");
    let released = body["data"]["property.titles"]["records"].as_array().unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["version"], 2);
    assert_eq!(released[0]["data"], second);
    let seal = ProofBundle::from_json(&released[0]["seal"].to_string()).unwrap();
    let sealed = chain::verify_bundle(&seal, &policy, unix_now()).unwrap().record.unwrap();
    chain::record::check_content(&sealed.record, &released[0]["data"]).unwrap();

    // The same offline with the command, given the content; a changed content fails.
    let dir = crate::harness::TempDir::new("seal-verify");
    let (proof, content, keys) = (dir.0.join("seal.json"), dir.0.join("record.json"), dir.0.join("keys.txt"));
    std::fs::write(&proof, released[0]["seal"].to_string()).unwrap();
    std::fs::write(&content, released[0]["data"].to_string()).unwrap();
    std::fs::write(
        &keys,
        reqwest::get(format!("{}/ledger/keys", city.portal.url)).await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    let args =
        server::cli::verify::VerifyArgs { bundle: proof, keys, at: None, content: Some(content.clone()), serial: None };
    let out = server::cli::verify::run(&args).unwrap();
    assert!(out.contains("SEALED by unix time") && out.contains("content") && out.contains("MATCHES"), "{out}");
    std::fs::write(&content, json!({"address": "li Lane 1", "share": 1}).to_string()).unwrap();
    let err = format!("{:#}", server::cli::verify::run(&args).unwrap_err());
    assert!(err.contains("NOT VERIFIED") && err.contains("differs from what was sealed"), "{err}");
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn erasure_deletes_content_and_salts_and_leaves_a_purge_receipt(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await;
    let wang = city.resident("wang").await;
    let ids = titles(&city.db, li, 2).await;
    seal_pending(&city.db, 4096, |_| {}).await.unwrap();
    let mut tx = city.db.begin().await.unwrap();
    records::amend_confirmation(&mut tx, ids[0], &json!({"address": "0 Harbour Road", "share": 0.25})).await.unwrap();
    tx.commit().await.unwrap();
    city.settle().await;

    // Another resident cannot erase Li's record; an unknown record is not found.
    let mut tx = city.db.begin().await.unwrap();
    let err = records::erase(&mut tx, ids[0], &Requester::Resident(wang)).await.unwrap_err();
    assert!(matches!(err, records::RecordError::NotFound(_)), "{err}");
    tx.rollback().await.unwrap();

    let roots: Vec<Vec<u8>> = sqlx::query_scalar(
        "select b.batch_root from confirmation_record c join record_batch b using (record_batch_id)
         where c.confirmation_record_id = $1",
    )
    .bind(ids[0])
    .fetch_all(&city.db)
    .await
    .unwrap();
    assert_eq!(roots.len(), 1, "version 1 sealed, version 2 pending");
    let mut tx = city.db.begin().await.unwrap();
    let erased = records::erase(&mut tx, ids[0], &Requester::Resident(li)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((erased.versions, erased.sealed_versions), (2, 1));

    // Nothing of the content or the salts is left; the other record is untouched.
    let left: i64 = sqlx::query_scalar("select count(*) from confirmation_record where confirmation_record_id = $1")
        .bind(ids[0])
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let dump: String =
        sqlx::query_scalar("select coalesce(string_agg(to_jsonb(x)::text, ''), '') from record_erasure x")
            .fetch_one(&city.db)
            .await
            .unwrap();
    assert!(!dump.contains("Harbour"), "the erasure row holds no content: {dump}");
    assert_eq!(
        count(
            &city.db,
            "select count(*) from confirmation_record where resident_id = (select resident_id from record_erasure)"
        )
        .await,
        2
    );

    // The purge receipt is on the ledger, names the sealed version's seal, and is provable.
    city.settle().await;
    let index: i64 = sqlx::query_scalar(
        "select e.leaf_index from record_erasure x join ledger_entry e using (ledger_entry_id) where x.confirmation_record_id = $1",
    )
    .bind(ids[0])
    .fetch_one(&city.db)
    .await
    .unwrap();
    let mut conn = city.db.acquire().await.unwrap();
    let ledger = city.portal.state.ledger.clone();
    let bundle = server::ledger::bundle::bundle_for(&mut conn, &ledger, u64::try_from(index).unwrap()).await.unwrap();
    let verdict = chain::verify_bundle(&bundle, ledger.policy.as_ref().unwrap(), unix_now()).unwrap();
    let Event::RecordsErased { seals, requested_by, .. } = verdict.event else { panic!("not a purge receipt") };
    assert_eq!(requested_by, "resident");
    assert_eq!(seals.len(), 1);
    assert_eq!(seals[0].batch_root.0.to_vec(), roots[0]);
    assert!(matches!(record_bundle(&mut conn, &ledger, ids[0], 1).await, Err(BundleError::NotYetSealed(..))));

    // An operator erases on a request received elsewhere; the receipt says who.
    let mut tx = city.db.begin().await.unwrap();
    records::erase(&mut tx, ids[1], &Requester::Operator("records-desk/u7".into())).await.unwrap();
    tx.commit().await.unwrap();
    let who: String = sqlx::query_scalar("select requested_by from record_erasure where confirmation_record_id = $1")
        .bind(ids[1])
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(who, "operator:records-desk/u7");
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_record_altered_behind_the_servers_back_is_never_released(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let service = property_service(&city).await;
    let li = city.resident("li").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    seal_pending(&city.db, 4096, |_| {}).await.unwrap();
    city.grant(li, service, &["property.titles"], 30).await;
    city.settle().await;
    let token = city.transit_token().await;
    let path = format!("/api/v1/services/{service}/reads");
    let ask = json!({"pseudonym": city.pseudonym(li, service), "scopes": ["property.titles"]});
    assert_eq!(city.api_post(&token, &path, &ask).await.0, 200);

    let alarms = |db: PgPool| async move {
        sqlx::query_scalar::<_, i64>("select count(*) from ledger_alarm where kind = 'record.tampered'")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    // The content alone: it no longer hashes to its stored hash.
    let mut sneaky = behind_the_servers_back(&city.db).await;
    sqlx::query(
        "update confirmation_record set data = '{\"address\": \"li Lane 1\", \"share\": 0}' where resident_id = $1",
    )
    .bind(li)
    .execute(&mut sneaky)
    .await
    .unwrap();
    let (status, body) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("li Lane"), "nothing of the record is served: {body}");
    assert_eq!(alarms(city.db.clone()).await, 1);

    // Content and hash together: the seal no longer matches.
    let forged = json!({"address": "li Lane 1", "share": 0});
    sqlx::query("update confirmation_record set content_hash = $2 where resident_id = $1")
        .bind(li)
        .bind(records::content_hash(&forged).to_vec())
        .execute(&mut sneaky)
        .await
        .unwrap();
    sqlx::query("update ledger_alarm set resolved_at = now()").execute(&city.db).await.unwrap();
    let (status, _) = city.api_post(&token, &path, &ask).await;
    assert_eq!(status, 500);
    assert_eq!(alarms(city.db.clone()).await, 2);
    city.shutdown().await;
}
