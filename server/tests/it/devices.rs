//! Devices against the real PostgreSQL, witnesses and ledger: a registered device's passport
//! checks offline from the public endpoint, its signed readings land as the owner's data,
//! and forged, replayed, out-of-order, future-dated or malformed readings, and readings of a
//! suspended or retired device, are refused with nothing stored. Transfers move the passport
//! and the readings to the new owner. Readings are sealed in batches, and a resident proves one
//! existed, signed by the device of its passport.

use crate::harness::City;
use chain::device::{Reading, SignedReading, serial_commitment};
use chain::leaf::{DeviceId, DeviceState};
use chain::{ProofBundle, verify_bundle};
use serde_json::{Value, json};
use server::domain::devices::{self, Change, DeviceError, NewDevice, REGISTRY};
use server::ledger::unix_now;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

const SEED: [u8; 32] = [5; 32];

pub(crate) fn meter(serial: &str, seed: &[u8; 32]) -> NewDevice {
    NewDevice {
        label: "Kitchen water meter".into(),
        kind: "meter.water".into(),
        brand: "Aquarius".into(),
        model: "AQ-200".into(),
        serial: serial.into(),
        public_key: chain::device::public_key(seed),
    }
}

fn reading(device: Uuid, counter: u64, value: i64) -> Reading {
    Reading {
        device_id: DeviceId(*device.as_bytes()),
        counter,
        measured_at: unix_now() - 60,
        metric: "water.litres".into(),
        value,
    }
}

/// POSTs readings as the device would; status and JSON answer.
pub(crate) async fn post(city: &City, device: Uuid, readings: &[SignedReading]) -> (u16, Value) {
    post_raw(city, device, &json!({ "readings": readings })).await
}

async fn post_raw(city: &City, device: Uuid, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/devices/{device}/readings", city.portal.url))
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// How many readings of `device` are stored, for anyone.
async fn stored(city: &City, device: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from behavioral_record where data->>'device' = $1")
        .bind(device.to_string())
        .fetch_one(&city.db)
        .await
        .unwrap()
}

async fn passport_text(city: &City, device: Uuid) -> (String, String) {
    let http = reqwest::Client::new();
    let keys = http.get(format!("{}/ledger/keys", city.portal.url)).send().await.unwrap().text().await.unwrap();
    let resp = http.get(format!("{}/devices/{device}/passport?format=bundle", city.portal.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    (resp.text().await.unwrap(), keys)
}

async fn passport_bundle(city: &City, device: Uuid) -> chain::Verdict {
    let (text, keys) = passport_text(city, device).await;
    let policy = server::ledger::bundle::parse_keys(&keys).unwrap();
    let bundle = ProofBundle::from_json(&text).unwrap();
    assert_eq!(bundle.version, chain::bundle::BUNDLE_V4);
    verify_bundle(&bundle, &policy, unix_now()).unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_device_passport_its_signed_readings_and_everything_refused(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await;
    let wang = city.resident("wang").await;
    let key = city.portal.state.pseudonyms.clone();
    let device = devices::register(&city.db, &key, li, &meter("AQ200-000123", &SEED), "resident").await.unwrap();
    let id = device.device_id;

    // Before the registration is cosigned the bundle is not there yet; the summary is.
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/devices/{id}/passport?format=bundle", city.portal.url)).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    city.settle().await;
    let summary: Value =
        http.get(format!("{}/devices/{id}/passport", city.portal.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!((summary["kind"].as_str(), summary["state"].as_str()), (Some("meter.water"), Some("active")));
    assert_eq!(summary["brand"], "Aquarius");
    let text = summary.to_string();
    assert!(!text.contains("AQ200-000123") && !text.contains("Kitchen"), "no serial or label in public: {text}");

    // The passport checks offline: registered under Li's registry pseudonym, with the serial
    // committed and the key published, in service.
    let verdict = passport_bundle(&city, id).await;
    let passport = verdict.passport.unwrap();
    assert!(passport.in_service());
    assert_eq!(passport.status.owner, key.pseudonym(li, REGISTRY));
    assert_eq!(passport.passport.serial_commitment, serial_commitment(&DeviceId(*id.as_bytes()), "AQ200-000123"));
    assert_eq!(passport.passport.public_key, chain::device::public_key(&SEED).to_vec());
    // A brand platform with the two files and the serial on the device checks the same with
    // the CLI; another serial is refused.
    let dir = crate::harness::TempDir::new("passport");
    let (text, keys) = passport_text(&city, id).await;
    let (bundle_file, keys_file) = (dir.0.join("passport.json"), dir.0.join("keys.txt"));
    std::fs::write(&bundle_file, text).unwrap();
    std::fs::write(&keys_file, keys).unwrap();
    let args = server::cli::verify::VerifyArgs {
        bundle: bundle_file,
        keys: keys_file,
        at: None,
        content: None,
        serial: Some("AQ200-000123".into()),
    };
    let out = server::cli::verify::run(&args).unwrap();
    assert!(out.contains("IN SERVICE") && out.contains("(the registrant)"), "{out}");
    assert!(out.contains("serial \"AQ200-000123\": MATCHES"), "{out}");
    let err = format!(
        "{:#}",
        server::cli::verify::run(&server::cli::verify::VerifyArgs { serial: Some("AQ200-000124".into()), ..args })
            .unwrap_err()
    );
    assert!(err.starts_with("NOT VERIFIED: serial \"AQ200-000124\" is not the serial"), "{err}");

    // Signed readings land as Li's utility readings and move Li's data version.
    let version = |r: Uuid| {
        let db = city.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select data_version from resident where resident_id = $1")
                .bind(r)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let before = version(li).await;
    let good: Vec<SignedReading> = (1..=2).map(|c| reading(id, c, 100 * c as i64).sign(&SEED).unwrap()).collect();
    assert_eq!(post(&city, id, &good).await, (202, json!({"accepted": 2, "counter": 2, "fired": 0, "commands": []})));
    assert!(version(li).await > before);
    let owners: Vec<(Uuid, String, Value)> = sqlx::query_as(
        "select resident_id, scope_key, data from behavioral_record where data->>'device' = $1 order by occurred_at",
    )
    .bind(id.to_string())
    .fetch_all(&city.db)
    .await
    .unwrap();
    assert_eq!(owners.len(), 2);
    assert!(owners.iter().all(|(r, s, _)| *r == li && s == "utilities.readings"));
    assert_eq!(owners[1].2["value"], 200);
    assert_eq!(owners[1].2["signature"], good[1].signature.as_str(), "the device's signature travels with the data");

    // Refused, and nothing stored: a replay, a forgery, an altered value, a batch whose second
    // reading goes back, a reading from the future, a malformed body, an unknown device.
    let (status, body) = post(&city, id, &good[1..]).await;
    assert_eq!((status, body["reason"].as_str()), (409, Some("replayed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("counter 2 is not above 2"), "{body}");
    let forged = reading(id, 3, 1).sign(&[6; 32]).unwrap();
    let (status, body) = post(&city, id, &[forged]).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("signature")), "{body}");
    let mut altered = reading(id, 3, 1).sign(&SEED).unwrap();
    altered.reading.value = 1_000_000;
    assert_eq!(post(&city, id, &[altered]).await.0, 403);
    let back = [reading(id, 4, 1).sign(&SEED).unwrap(), reading(id, 3, 1).sign(&SEED).unwrap()];
    let (status, body) = post(&city, id, &back).await;
    assert_eq!(status, 409);
    assert!(body["message"].as_str().unwrap().starts_with("reading 1: counter 3 is not above 4"), "{body}");
    let future = Reading { measured_at: unix_now() + 3600, ..reading(id, 5, 1) }.sign(&SEED).unwrap();
    let (status, body) = post(&city, id, &[future]).await;
    assert_eq!((status, body["reason"].as_str()), (400, Some("readings")), "{body}");
    let (status, _) =
        post_raw(&city, id, &json!({"readings": [{"device_id": id.simple().to_string(), "counter": "x"}]})).await;
    assert_eq!(status, 400);
    let (status, _) = post_raw(&city, id, &json!({"readings": []})).await;
    assert_eq!(status, 400);
    let stranger = Uuid::new_v4();
    assert_eq!(post(&city, stranger, &[reading(stranger, 1, 1).sign(&SEED).unwrap()]).await.0, 404);
    assert_eq!(stored(&city, id).await, 2);
    let counter: i64 = sqlx::query_scalar("select last_counter from device where device_id = $1")
        .bind(id)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(counter, 2, "a refused batch does not move the counter");

    // A key swapped in the row behind the server's back does not become the device's key.
    let swap = |k: [u8; 32]| {
        let db = city.db.clone();
        async move {
            sqlx::query("update device set public_key = $2 where device_id = $1")
                .bind(id)
                .bind(chain::device::public_key(&k).to_vec())
                .execute(&db)
                .await
                .unwrap();
        }
    };
    swap([11; 32]).await;
    assert_eq!(post(&city, id, &[reading(id, 3, 1).sign(&[11; 32]).unwrap()]).await.0, 500);
    let alarms: i64 = sqlx::query_scalar("select count(*) from ledger_alarm where kind = 'device.tampered'")
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(alarms, 1);
    swap(SEED).await;
    assert_eq!(stored(&city, id).await, 2);

    // One key and one serial per device in service.
    let err = devices::register(&city.db, &key, wang, &meter("OTHER", &SEED), "resident").await.unwrap_err();
    assert!(matches!(err, DeviceError::KeyInUse), "{err}");
    let err = devices::register(&city.db, &key, wang, &meter("AQ200-000123", &[8; 32]), "resident").await.unwrap_err();
    assert!(matches!(err, DeviceError::SerialInUse), "{err}");

    // Wang cannot touch Li's device. Suspended: refused until resumed.
    let err = devices::change_state(&city.db, &key, wang, id, Change::Suspend, "", "resident").await.unwrap_err();
    assert!(matches!(err, DeviceError::NotFound(_)), "{err}");
    devices::change_state(&city.db, &key, li, id, Change::Suspend, "on holiday", "resident").await.unwrap();
    let (status, body) = post(&city, id, &[reading(id, 3, 1).sign(&SEED).unwrap()]).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("suspended")), "{body}");
    city.settle().await;
    assert_eq!(passport_bundle(&city, id).await.passport.unwrap().status.state, DeviceState::Suspended);
    devices::change_state(&city.db, &key, li, id, Change::Resume, "", "resident").await.unwrap();
    assert_eq!(post(&city, id, &[reading(id, 3, 1).sign(&SEED).unwrap()]).await.0, 202);

    // Transferred to Wang: the passport names Wang's pseudonym, new readings are Wang's.
    let err = devices::transfer(&city.db, &key, wang, id, li, "resident").await.unwrap_err();
    assert!(matches!(err, DeviceError::NotFound(_)), "only the holder transfers: {err}");
    devices::transfer(&city.db, &key, li, id, wang, "resident").await.unwrap();
    assert_eq!(post(&city, id, &[reading(id, 4, 1).sign(&SEED).unwrap()]).await.0, 202);
    let wangs: i64 =
        sqlx::query_scalar("select count(*) from behavioral_record where resident_id = $1 and data->>'device' = $2")
            .bind(wang)
            .bind(id.to_string())
            .fetch_one(&city.db)
            .await
            .unwrap();
    assert_eq!(wangs, 1);

    // The same request sent eight times at once (a device retrying over a flaky link): the
    // counter check under the row's lock lets exactly one store, the others are replays.
    let before = stored(&city, id).await;
    let burst: Vec<SignedReading> = (10..=12).map(|c| reading(id, c, c as i64).sign(&SEED).unwrap()).collect();
    let answers = futures_util::future::join_all((0..8).map(|_| post(&city, id, &burst))).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 202).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|(s, b)| *s == 202 || b["reason"] == "replayed"), "{answers:?}");
    assert_eq!(stored(&city, id).await, before + 3, "the three readings are stored once");
    city.settle().await;
    let p = passport_bundle(&city, id).await.passport.unwrap();
    assert_eq!((p.status.owner, p.status.state), (key.pseudonym(wang, REGISTRY), DeviceState::Active));
    assert_eq!(p.passport.owner, key.pseudonym(li, REGISTRY), "the registration still names who registered it");

    // Retired: final. Readings refused, no way back, the serial may be registered again.
    devices::change_state(&city.db, &key, wang, id, Change::Retire, "replaced", "resident").await.unwrap();
    let (status, body) = post(&city, id, &[reading(id, 13, 1).sign(&SEED).unwrap()]).await;
    assert_eq!((status, body["reason"].as_str()), (403, Some("retired")), "{body}");
    let err = devices::change_state(&city.db, &key, wang, id, Change::Resume, "", "resident").await.unwrap_err();
    assert!(matches!(err, DeviceError::WrongState { .. }), "{err}");
    city.settle().await;
    assert!(!passport_bundle(&city, id).await.passport.unwrap().in_service());
    devices::register(&city.db, &key, wang, &meter("AQ200-000123", &[9; 32]), "resident").await.unwrap();

    // Every change is an entry on the log, in order.
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from ledger_entry where kind like 'device.%' order by ledger_entry_id")
            .fetch_all(&city.db)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "device.registered",
            "device.status",
            "device.status",
            "device.transferred",
            "device.status",
            "device.registered"
        ]
    );
    city.shutdown().await;
}

/// Seals the queued readings (the portal's own sealer may be at it too) until `n` are sealed.
async fn sealed(city: &City, n: i64) {
    for _ in 0..100 {
        server::ledger::seal::seal_paced(&city.db, server::ledger::seal::Contents::Readings, 1000).await.unwrap();
        let done: i64 = sqlx::query_scalar("select count(*) from sealed_reading").fetch_one(&city.db).await.unwrap();
        if done >= n {
            assert_eq!(done, n, "each reading is sealed once");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("readings not sealed within 10 s");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_sealed_reading_proves_it_existed_signed_by_its_device(_p: PgPoolOptions, opts: PgConnectOptions) {
    use server::ledger::bundle::{BundleError, reading_bundle};
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await;
    let wang = city.resident("wang").await;
    let key = city.portal.state.pseudonyms.clone();
    let id = devices::register(&city.db, &key, li, &meter("AQ200-000777", &SEED), "resident").await.unwrap().device_id;
    let good: Vec<SignedReading> = (1..=3).map(|c| reading(id, c, 100 * c as i64).sign(&SEED).unwrap()).collect();
    assert_eq!(post(&city, id, &good).await.0, 202);
    // A refused request queues nothing for sealing either.
    assert_eq!(post(&city, id, &good[2..]).await.0, 409);
    sealed(&city, 3).await;
    let queued: i64 = sqlx::query_scalar("select count(*) from reading_seal_queue").fetch_one(&city.db).await.unwrap();
    assert_eq!(queued, 0);

    // Before a quorum checkpoint covers the batch there is no proof; after, there is, and it
    // verifies offline: the reading, its value, the passport's key, the batch.
    let ledger = city.portal.state.ledger.clone();
    let mut conn = city.db.acquire().await.unwrap();
    let early = reading_bundle(&mut conn, &ledger, li, id, 2).await.unwrap_err();
    assert!(matches!(early, BundleError::ReadingNotSealed(..) | BundleError::NotYetCosigned(_)), "{early}");
    city.settle().await;
    let bundle = reading_bundle(&mut conn, &ledger, li, id, 2).await.unwrap();
    let text = bundle.to_json().unwrap();
    let verdict = verify_bundle(&ProofBundle::from_json(&text).unwrap(), &bundle.policy, unix_now()).unwrap();
    let r = verdict.reading.unwrap();
    assert_eq!((r.reading.counter, r.reading.value, r.batch_size), (2, 200, 3));
    assert_eq!(r.registrant, key.pseudonym(li, REGISTRY));
    let dir = crate::harness::TempDir::new("reading");
    let (bundle_file, keys_file) = (dir.0.join("reading.json"), dir.0.join("keys.txt"));
    std::fs::write(&bundle_file, &text).unwrap();
    std::fs::write(&keys_file, passport_text(&city, id).await.1).unwrap();
    let args =
        server::cli::verify::VerifyArgs { bundle: bundle_file, keys: keys_file, at: None, content: None, serial: None };
    let out = server::cli::verify::run(&args).unwrap();
    assert!(out.contains("(records.batch)") && out.contains("water.litres = 200"), "{out}");
    assert!(out.contains("SIGNED by the key of the device's passport"), "{out}");

    // Wang cannot have Li's reading proved, nor can anyone signed out.
    let err = reading_bundle(&mut conn, &ledger, wang, id, 2).await.unwrap_err();
    assert!(matches!(err, BundleError::ReadingNotSealed(..)), "{err}");
    let resp = reqwest::get(format!("{}/me/devices/{id}/readings/2/proof", city.portal.url)).await.unwrap();
    assert_eq!(resp.status(), 401);

    // A stored reading edited behind the server's back: no proof, and an alarm.
    sqlx::query(
        "update behavioral_record set data = jsonb_set(data, '{value}', '999')
         where data->>'device' = $1 and data->>'counter' = '2'",
    )
    .bind(id.to_string())
    .execute(&city.db)
    .await
    .unwrap();
    let err = reading_bundle(&mut conn, &ledger, li, id, 2).await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let alarms: i64 = sqlx::query_scalar("select count(*) from ledger_alarm where kind = 'reading.tampered'")
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(alarms, 1);
    drop(conn);
    city.shutdown().await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_device_changes_hands_with_a_claim_code(_p: PgPoolOptions, opts: PgConnectOptions) {
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await;
    let wang = city.resident("wang").await;
    let zhao = city.resident("zhao").await;
    let key = city.portal.state.pseudonyms.clone();
    let id = devices::register(&city.db, &key, li, &meter("AQ200-000888", &SEED), "resident").await.unwrap().device_id;
    let valve = NewDevice { kind: "valve.water".into(), serial: "V-1".into(), ..meter("V-1", &[21; 32]) };
    let valve = devices::register(&city.db, &key, li, &valve, "resident").await.unwrap().device_id;
    city.settle().await;
    let rule = server::domain::rules::create(
        &city.db,
        &key,
        li,
        &server::domain::rules::NewRule {
            trigger: id,
            metric: "water.litres".into(),
            comparison: ">".into(),
            threshold: 1000,
            action: valve,
            command: "close".into(),
            notify: false,
            window: None,
            valid_days: 30,
        },
        480,
    )
    .await
    .unwrap();

    // Only the holder offers; the code is 12 characters in three groups, only its hash is kept.
    let err = devices::offer_transfer(&city.db, wang, id).await.unwrap_err();
    assert!(matches!(err, DeviceError::NotFound(_)), "{err}");
    let offer = devices::offer_transfer(&city.db, li, id).await.unwrap();
    assert!(regex_like_code(&offer.code), "{}", offer.code);
    let stored: Vec<u8> = sqlx::query_scalar("select code_hash from device_transfer_offer where device_id = $1")
        .bind(id)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(stored, chain::Hash::sha256(offer.code.replace('-', "").as_bytes()).0.to_vec(), "only its hash is kept");
    assert!(devices::open_offer(&city.db, li, id).await.unwrap().is_some());

    // A wrong, malformed or withdrawn code claims nothing; the holder cannot claim their own.
    let err = devices::claim(&city.db, &key, wang, "AAAA-BBBB-CCCC").await.unwrap_err();
    assert!(err.to_string().contains("no device is offered under this code"), "{err}");
    let err = devices::claim(&city.db, &key, wang, "not a code").await.unwrap_err();
    assert!(err.to_string().contains("12 letters and digits"), "{err}");
    let err = devices::claim(&city.db, &key, li, &offer.code).await.unwrap_err();
    assert!(matches!(err, DeviceError::SameOwner), "{err}");
    devices::cancel_transfer(&city.db, li, id).await.unwrap();
    let err = devices::claim(&city.db, &key, wang, &offer.code).await.unwrap_err();
    assert!(err.to_string().contains("no device is offered"), "withdrawn: {err}");

    // A new offer replaces the old; an expired one is refused and spent.
    let offer = devices::offer_transfer(&city.db, li, id).await.unwrap();
    sqlx::query("update device_transfer_offer set expires_at = now() - interval '1 minute' where device_id = $1")
        .bind(id)
        .execute(&city.db)
        .await
        .unwrap();
    let err = devices::claim(&city.db, &key, wang, &offer.code).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(devices::open_offer(&city.db, li, id).await.unwrap().is_none());

    // Claimed, typed loosely: Wang holds it, the passport says so, Li's rule for it is revoked,
    // and the code is spent.
    let offer = devices::offer_transfer(&city.db, li, id).await.unwrap();
    let typed = offer.code.to_lowercase().replace('-', " ");
    let d = devices::claim(&city.db, &key, wang, &typed).await.unwrap();
    assert_eq!(d.device_id, id);
    let err = devices::claim(&city.db, &key, zhao, &offer.code).await.unwrap_err();
    assert!(err.to_string().contains("no device is offered"), "spent: {err}");
    let revoked: i64 = sqlx::query_scalar("select count(*) from device_rule_revocation where rule_id = $1")
        .bind(rule)
        .fetch_one(&city.db)
        .await
        .unwrap();
    assert_eq!(revoked, 1, "the giver's rule for the device ends with the transfer");
    city.settle().await;
    let p = passport_bundle(&city, id).await.passport.unwrap();
    assert_eq!((p.status.owner, p.status.state), (key.pseudonym(wang, REGISTRY), DeviceState::Active));
    city.shutdown().await;
}

fn regex_like_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split('-').collect();
    groups.len() == 3
        && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b"ABCDEFGHJKMNPQRSTVWXYZ23456789".contains(&b)))
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_flood_of_readings_is_rate_limited(_p: PgPoolOptions, opts: PgConnectOptions) {
    // 20 a minute in bursts of 2: the third request at once is refused before any signature
    // is checked (the unit tests in `http::limits` show every spelling of the id is one key).
    let city = City::start(&opts, &["--portal-rate-per-minute=20".into()]).await;
    let li = city.resident("li").await;
    let key = city.portal.state.pseudonyms.clone();
    let id = devices::register(&city.db, &key, li, &meter("AQ200-000999", &SEED), "resident").await.unwrap().device_id;
    let forged = [reading(id, 1, 1).sign(&[6; 32]).unwrap()];
    assert_eq!(post(&city, id, &forged).await.0, 403);
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/devices/{}/readings", city.portal.url, id.simple().to_string().to_uppercase());
    let resp = http.post(&url).json(&json!({ "readings": forged })).send().await.unwrap();
    assert_eq!(resp.status(), 403, "the second fits the burst");
    let resp = http.post(&url).json(&json!({ "readings": forged })).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    city.shutdown().await;
}
