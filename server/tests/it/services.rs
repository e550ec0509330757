//! Services and their immutable versions against the real PostgreSQL: each published version
//! is a row and a `service.published` ledger entry, together or not at all.

use chain::Event;
use server::domain::services::{AccessMode, NewVersion, ServiceError, create_service, publish_version, withdraw};
use sqlx::PgPool;

async fn agency(db: &PgPool) {
    sqlx::query(
        "insert into agency (agency_id, name_en, name_zh) values ('transit-authority', 'Transit Authority', '交通局')",
    )
    .execute(db)
    .await
    .unwrap();
}

fn fare_capping() -> NewVersion {
    NewVersion {
        name_en: "Fare capping".into(),
        name_zh: "票价封顶".into(),
        description_en: "Never pay more than the monthly pass".into(),
        description_zh: "每月花费不超过月票".into(),
        category: "transport".into(),
        purpose: "Cap your monthly fares using your trips".into(),
        required_scopes: vec!["transit.trips".into()],
        optional_scopes: vec!["residence.district".into()],
        retention_days: 90,
        districts: vec![],
        access_mode: AccessMode::Recurring { max_reads_per_day: 4 },
        history_days: 0,
    }
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn each_published_version_is_an_immutable_row_and_a_ledger_entry(db: PgPool) {
    agency(&db).await;
    let id = create_service(&db, "transit-authority", "fare-capping").await.unwrap();
    let v1 = publish_version(&db, id, &fare_capping()).await.unwrap();
    assert_eq!(v1.version, 1);
    let body: Vec<u8> = sqlx::query_scalar("select body from ledger_entry where ledger_entry_id = $1")
        .bind(v1.ledger_entry_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(chain::tree::leaf_hash(&body), v1.leaf_hash, "the row names the entry's leaf hash");
    match Event::decode(&body).unwrap() {
        Event::ServicePublishedV2(t) => {
            assert_eq!(body[0], chain::leaf::LEAF_V2, "the portal writes leaf format v2");
            assert_eq!((t.agency.as_str(), t.service.as_str(), t.version), ("transit-authority", "fare-capping", 1));
            assert_eq!(t.purpose, "Cap your monthly fares using your trips");
            assert_eq!((t.name_en.as_str(), t.category.as_str()), ("Fare capping", "transport"));
            assert_eq!(
                (t.required_scopes, t.optional_scopes),
                (vec!["transit.trips".to_owned()], vec!["residence.district".to_owned()])
            );
            assert_eq!(t.retention_days, 90);
            assert_eq!(t.access, AccessMode::Recurring { max_reads_per_day: 4 }, "the access mode is in the leaf");
            assert_eq!((t.districts.len(), t.history_days), (0, 0));
        }
        other => panic!("unexpected entry {other:?}"),
    }

    // A wider purpose needs a new version; the old one is untouched and cannot be edited.
    let wider = NewVersion { purpose: "Cap fares and plan new routes".into(), ..fare_capping() };
    let v2 = publish_version(&db, id, &wider).await.unwrap();
    assert_eq!(v2.version, 2);
    let err = sqlx::query("update service_version set purpose = 'anything' where version = 1")
        .execute(&db)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    let purpose: String =
        sqlx::query_scalar("select purpose from service_version where version = 1").fetch_one(&db).await.unwrap();
    assert_eq!(purpose, "Cap your monthly fares using your trips");
    assert_eq!(count(&db, "select count(*) from ledger_entry where kind = 'service.published'").await, 2);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bad_versions_are_refused_by_field_and_nothing_is_written(db: PgPool) {
    agency(&db).await;
    let id = create_service(&db, "transit-authority", "fare-capping").await.unwrap();
    let cases = [
        (
            NewVersion { required_scopes: vec!["transit.trips".into(), "dna.sequence".into()], ..fare_capping() },
            "dna.sequence",
        ),
        (NewVersion { purpose: "  ".into(), ..fare_capping() }, "purpose"),
        (NewVersion { optional_scopes: vec!["transit.trips".into()], ..fare_capping() }, "optional_scopes"),
        (NewVersion { retention_days: 0, ..fare_capping() }, "retention_days"),
        (
            NewVersion { access_mode: AccessMode::Recurring { max_reads_per_day: 0 }, ..fare_capping() },
            "max_reads_per_day",
        ),
        (NewVersion { required_scopes: vec![], ..fare_capping() }, "required_scopes"),
    ];
    for (version, named) in cases {
        let err = publish_version(&db, id, &version).await.unwrap_err();
        assert!(err.to_string().contains(named), "{err} should name {named}");
    }
    assert_eq!(count(&db, "select count(*) from service_version").await, 0);
    assert_eq!(count(&db, "select count(*) from ledger_entry").await, 0, "no entry without its row");
    let status: String = sqlx::query_scalar("select status from service").fetch_one(&db).await.unwrap();
    assert_eq!(status, "draft");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn slugs_agencies_and_withdrawal_are_enforced(db: PgPool) {
    agency(&db).await;
    let id = create_service(&db, "transit-authority", "fare-capping").await.unwrap();
    let dup = create_service(&db, "transit-authority", "fare-capping").await.unwrap_err();
    assert!(matches!(dup, ServiceError::Invalid { field: "slug", .. }), "{dup}");
    let bad = create_service(&db, "transit-authority", "Fare Capping!").await.unwrap_err();
    assert!(matches!(bad, ServiceError::Invalid { field: "slug", .. }), "{bad}");
    let nobody = create_service(&db, "no-such-agency", "x-service").await.unwrap_err();
    assert!(matches!(nobody, ServiceError::Invalid { field: "agency_id", .. }), "{nobody}");

    publish_version(&db, id, &fare_capping()).await.unwrap();
    withdraw(&db, id).await.unwrap();
    let err = publish_version(&db, id, &fare_capping()).await.unwrap_err();
    assert!(matches!(err, ServiceError::Withdrawn), "{err}");
    assert!(matches!(withdraw(&db, uuid::Uuid::new_v4()).await.unwrap_err(), ServiceError::NotFound));
}
