//! Linkage rules against the real PostgreSQL, witnesses and ledger: a rule between two
//! brands' devices is pending until cosigned, fires on a matching signed reading with a
//! `rule.fired` receipt, hands its command to the action device once, stops at once when
//! revoked (undelivered commands withheld), and refuses to be made from bad input or another
//! resident's device. A rule row altered behind the server's back does not fire.

use crate::devices::{meter, post};
use crate::harness::{City, behind_the_servers_back};
use chain::device::{Reading, SignedReading};
use chain::leaf::DeviceId;
use server::domain::devices::{self, DeviceError, NewDevice};
use server::domain::grants::GrantState;
use server::domain::rules::{self, NewRule, RuleInfo};
use server::ledger::unix_now;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

const SENSOR: [u8; 32] = [21; 32];
const VALVE: [u8; 32] = [22; 32];
/// The city's local time in these tests, UTC+8.
const OFFSET: i16 = 480;

fn device(label: &str, kind: &str, brand: &str, serial: &str, seed: &[u8; 32]) -> NewDevice {
    NewDevice {
        label: label.into(),
        kind: kind.into(),
        brand: brand.into(),
        model: "M1".into(),
        serial: serial.into(),
        public_key: chain::device::public_key(seed),
    }
}

/// Measured now: a reading measured before a rule was made does not fire it.
fn signed(device: Uuid, seed: &[u8; 32], counter: u64, metric: &str, value: i64) -> SignedReading {
    Reading { device_id: DeviceId(*device.as_bytes()), counter, measured_at: unix_now(), metric: metric.into(), value }
        .sign(seed)
        .unwrap()
}

fn leak_rule(trigger: Uuid, action: Uuid) -> NewRule {
    NewRule {
        trigger,
        metric: "leak".into(),
        comparison: "==".into(),
        threshold: 1,
        action,
        command: "close".into(),
        notify: true,
        window: None,
        valid_days: 365,
    }
}

async fn rule_of(city: &City, resident: Uuid, rule: Uuid) -> RuleInfo {
    rules::list(&city.db, resident).await.unwrap().into_iter().find(|r| r.rule_id == rule).unwrap()
}

async fn count(city: &City, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&city.db).await.unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_rule_links_two_brands_fires_with_a_receipt_and_stops_when_revoked(
    _p: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let mut city = City::start(&opts, &[]).await;
    let li = city.resident("li").await;
    let wang = city.resident("wang").await;
    let key = city.portal.state.pseudonyms.clone();
    let reg = |r: Uuid, d: NewDevice| {
        let (db, key) = (city.db.clone(), key.clone());
        async move { devices::register(&db, &key, r, &d, "resident").await.unwrap().device_id }
    };
    let sensor = reg(li, device("Bathroom leak sensor", "sensor.leak", "Aqara", "LK-1", &SENSOR)).await;
    let valve = reg(li, device("Main valve", "valve.water", "Sonoff", "VV-1", &VALVE)).await;
    let li_meter = reg(li, meter("AQ-1", &[23; 32])).await;
    let wangs_valve = reg(wang, device("Wang's valve", "valve.water", "Sonoff", "VV-2", &[24; 32])).await;

    // Refused, each naming the problem, and nothing written.
    let refused = |new: NewRule| {
        let (db, key) = (city.db.clone(), key.clone());
        async move { rules::create(&db, &key, li, &new, OFFSET).await.unwrap_err() }
    };
    let field = |e: DeviceError| match e {
        DeviceError::Invalid { field, problem } => format!("{field}: {problem}"),
        other => panic!("not a field error: {other}"),
    };
    let e = field(refused(leak_rule(sensor, sensor)).await);
    assert!(e.starts_with("action: choose a different device"), "{e}");
    let e = field(refused(NewRule { command: "on".into(), ..leak_rule(sensor, valve) }).await);
    assert_eq!(e, "command: \"on\" is not something a valve.water does (close, open)");
    let e = field(refused(leak_rule(sensor, li_meter)).await);
    assert!(e.starts_with("command: a meter.water cannot be told to act"), "{e}");
    let e = field(refused(NewRule { comparison: "~".into(), ..leak_rule(sensor, valve) }).await);
    assert!(e.starts_with("comparison:"), "{e}");
    let e = field(refused(NewRule { metric: "Leak!".into(), ..leak_rule(sensor, valve) }).await);
    assert!(e.starts_with("metric:"), "{e}");
    let e = field(refused(NewRule { valid_days: 0, ..leak_rule(sensor, valve) }).await);
    assert!(e.starts_with("valid_days:"), "{e}");
    let e = field(refused(NewRule { window: Some((600, 600)), ..leak_rule(sensor, valve) }).await);
    assert!(e.starts_with("window:"), "{e}");
    assert!(matches!(refused(leak_rule(sensor, wangs_valve)).await, DeviceError::NotFound(d) if d == wangs_valve));
    let e = rules::create(&city.db, &key, wang, &leak_rule(sensor, wangs_valve), OFFSET).await.unwrap_err();
    assert!(matches!(e, DeviceError::NotFound(d) if d == sensor), "Wang cannot use Li's sensor: {e}");
    assert_eq!(count(&city, "select count(*) from device_rule").await, 0);
    assert_eq!(count(&city, "select count(*) from ledger_entry where kind = 'rule.granted'").await, 0);

    // Made: a `rule.granted` entry, pending until cosigned. A leak then does nothing.
    let rule = rules::create(&city.db, &key, li, &leak_rule(sensor, valve), OFFSET).await.unwrap();
    assert_eq!(rule_of(&city, li, rule).await.state, GrantState::Pending);
    assert!(rules::list(&city.db, wang).await.unwrap().is_empty(), "Wang does not see Li's rules");
    let (status, body) = post(&city, sensor, &[signed(sensor, &SENSOR, 1, "leak", 1)]).await;
    assert_eq!((status, body["fired"].as_u64()), (202, Some(0)), "{body}");
    city.settle().await;
    let info = rule_of(&city, li, rule).await;
    assert_eq!(
        (info.state, info.trigger_label.as_str(), info.action_label.as_str()),
        (GrantState::Active, "Bathroom leak sensor", "Main valve")
    );

    // Active: no leak, nothing; a burst of leak readings fires once, for the newest.
    let (_, body) = post(&city, sensor, &[signed(sensor, &SENSOR, 2, "leak", 0)]).await;
    assert_eq!(body["fired"], 0);
    let burst = [signed(sensor, &SENSOR, 3, "leak", 1), signed(sensor, &SENSOR, 4, "leak", 1)];
    let (status, body) = post(&city, sensor, &burst).await;
    assert_eq!((status, body["fired"].as_u64()), (202, Some(1)), "{body}");
    assert_eq!(count(&city, "select count(*) from ledger_entry where kind = 'rule.fired'").await, 1);
    let firing = &rule_of(&city, li, rule).await.firings[0];
    assert_eq!((firing.trigger_counter, firing.command.as_str(), firing.delivered_at), (4, "close", None));

    // The valve, another brand, gets "close" with its next signed readings, once.
    let (status, body) = post(&city, valve, &[signed(valve, &VALVE, 1, "valve.open", 1)]).await;
    assert_eq!(status, 202, "{body}");
    let commands = body["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1, "{body}");
    assert_eq!(
        (commands[0]["command"].as_str(), commands[0]["rule_id"].as_str()),
        (Some("close"), Some(&*rule.to_string()))
    );
    let (_, body) = post(&city, valve, &[signed(valve, &VALVE, 2, "valve.open", 0)]).await;
    assert_eq!(body["commands"], serde_json::json!([]), "delivered once");

    // The receipt is on the log, cosigned: its proof bundle verifies offline and names the rule.
    city.settle().await;
    let firing = rule_of(&city, li, rule).await.firings[0].clone();
    assert!(firing.delivered_at.is_some());
    let index = firing.leaf_index.expect("sequenced");
    let http = reqwest::Client::new();
    let keys = http.get(format!("{}/ledger/keys", city.portal.url)).send().await.unwrap().text().await.unwrap();
    let text =
        http.get(format!("{}/ledger/bundle/{index}", city.portal.url)).send().await.unwrap().text().await.unwrap();
    let bundle = chain::ProofBundle::from_json(&text).unwrap();
    let verdict =
        chain::verify_bundle(&bundle, &server::ledger::bundle::parse_keys(&keys).unwrap(), unix_now()).unwrap();
    match verdict.event {
        chain::leaf::Event::RuleFired(f) => {
            assert_eq!((f.rule_id.0, f.trigger_counter, f.command.as_str()), (*rule.as_bytes(), 4, "close"));
        }
        other => panic!("not a receipt: {other:?}"),
    }

    // Outside its window a rule does not fire: one for the hour after this one, local time.
    let minute = ((unix_now() / 60) as i64 + i64::from(OFFSET)).rem_euclid(1440) as u16;
    let later = NewRule { window: Some(((minute + 60) % 1440, (minute + 120) % 1440)), ..leak_rule(sensor, valve) };
    let windowed = rules::create(&city.db, &key, li, &later, OFFSET).await.unwrap();
    city.settle().await;
    let (_, body) = post(&city, sensor, &[signed(sensor, &SENSOR, 5, "leak", 1)]).await;
    assert_eq!(body["fired"], 1, "only the all-day rule: {body}");
    assert!(rule_of(&city, li, windowed).await.firings.is_empty());

    // Revoked: stops at once, before the revocation is cosigned, and the command it fired
    // above that the valve has not collected is withheld.
    let e = rules::revoke(&city.db, &key, wang, rule).await.unwrap_err();
    assert!(matches!(e, DeviceError::RuleNotFound(_)), "only the owner revokes: {e}");
    rules::revoke(&city.db, &key, li, rule).await.unwrap();
    assert!(matches!(rules::revoke(&city.db, &key, li, rule).await.unwrap_err(), DeviceError::RuleRevoked));
    let (_, body) = post(&city, sensor, &[signed(sensor, &SENSOR, 6, "leak", 1)]).await;
    assert_eq!(body["fired"], 0, "{body}");
    let (_, body) = post(&city, valve, &[signed(valve, &VALVE, 3, "valve.open", 0)]).await;
    assert_eq!(body["commands"], serde_json::json!([]), "withheld: {body}");
    city.settle().await;
    assert_eq!(rule_of(&city, li, rule).await.state, GrantState::Revoked);

    // A rule altered behind the server's back (another command) is refused by the gate, with
    // an alarm; nothing fires.
    let other = rules::create(&city.db, &key, li, &leak_rule(sensor, valve), OFFSET).await.unwrap();
    rules::revoke(&city.db, &key, li, windowed).await.unwrap();
    city.settle().await;
    let mut conn = behind_the_servers_back(&city.db).await;
    sqlx::query("update device_rule set command = 'open' where rule_id = $1")
        .bind(other)
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, body) = post(&city, sensor, &[signed(sensor, &SENSOR, 7, "leak", 1)]).await;
    assert_eq!((status, body["fired"].as_u64()), (202, Some(0)), "{body}");
    assert_eq!(count(&city, "select count(*) from ledger_alarm where kind = 'grant_integrity'").await, 1);
    assert_eq!(count(&city, "select count(*) from ledger_entry where kind = 'rule.fired'").await, 2);
    city.shutdown().await;
}
