//! My records: each confirmation record with every version, the version's content as sealed,
//! and its seal on the city ledger, checked in the browser against the content shown; the
//! downloads to show a bank or a court; erasure; and the records erased, with their purge
//! receipts.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{CheckedBadge, ErrorNote, Expect, VerifyBadge, poll_while, scope_text};
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::records::{EraseRecord, ErasedView, RecordVersionView, RecordView, RecordsView, my_records};
use crate::serverfns::resident::{ScopeView, scope_catalogue};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Page {
    records: RecordsView,
    scopes: Vec<ScopeView>,
}

#[component]
pub fn RecordsPage() -> impl IntoView {
    let t = use_messages();
    let erase = ServerAction::<EraseRecord>::new();
    let data = Resource::new(
        move || erase.version().get(),
        |_| async move {
            Ok::<_, crate::error::AppError>(Page { records: my_records().await?, scopes: scope_catalogue().await? })
        },
    );
    // New versions are sealed within a minute: follow them until every seal can be checked.
    poll_while(data, std::time::Duration::from_secs(3), |p: &Page| {
        p.records.records.iter().flat_map(|r| &r.versions).any(|v| !v.provable)
    });
    let error = move || erase.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e /> });
    view! {
        <Title text=format!("{} — onecity", t.records_title) />
        <h1>{t.records_title}</h1>
        <p class="lead">{t.records_lead}</p>
        {error}
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => view! { <Records page=p erase /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Records(page: Page, erase: ServerAction<EraseRecord>) -> impl IntoView {
    let t = use_messages();
    let Page { records, scopes } = page;
    let list = if records.records.is_empty() {
        view! { <p class="note">{t.no_records}</p> }.into_any()
    } else {
        let scopes = scopes.clone();
        view! {
            <div class="records" id="records">
                {records
                    .records
                    .into_iter()
                    .map(|r| view! { <Record record=r scopes=scopes.clone() erase /> })
                    .collect_view()}
            </div>
        }
        .into_any()
    };
    view! {
        {list}
        {(!records.erased.is_empty())
            .then(|| {
                view! {
                    <section aria-labelledby="erased-title" id="erased" class="card">
                        <h2 id="erased-title">{t.erased_title}</h2>
                        <p>{t.erased_lead}</p>
                        <ul class="erased">
                            {records
                                .erased
                                .into_iter()
                                .map(|x| view! { <Erased erased=x scopes=scopes.clone() /> })
                                .collect_view()}
                        </ul>
                    </section>
                }
            })}
    }
}

#[component]
fn Record(record: RecordView, scopes: Vec<ScopeView>, erase: ServerAction<EraseRecord>) -> impl IntoView {
    let t = use_messages();
    let title = scope_text(&scopes, &record.scope);
    let id = record.record_id;
    let confirm = format!("erase-confirm-{id}");
    view! {
        <article class="card record" data-record=id.to_string() aria-labelledby=format!("record-{id}")>
            <h2 id=format!("record-{id}")>{title.clone()}</h2>
            {record.versions.into_iter().map(|v| view! { <Version record=id version=v /> }).collect_view()}
            <details class="erase">
                <summary>{t.erase_title}</summary>
                <ActionForm action=erase>
                    <input type="hidden" name="record_id" value=id.to_string() />
                    <p class="choice">
                        <input type="checkbox" id=confirm.clone() name="confirm" value="erase" required=true />
                        <label for=confirm>{t.erase_confirm}</label>
                    </p>
                    <button type="submit" class="danger" data-action="erase">
                        {t.erase_button}
                        <span class="visually-hidden">": " {title}</span>
                    </button>
                </ActionForm>
            </details>
        </article>
    }
}

/// One version: its fields as recorded, when, and its seal.
#[component]
fn Version(record: uuid::Uuid, version: RecordVersionView) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let fields: Vec<(String, String)> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&version.content)
            .map(|m| m.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
            .unwrap_or_default();
    let v = version.version;
    let base = format!("/me/records/{record}/{v}");
    view! {
        <section class="version" data-version=v aria-label=format!("{} {v}", t.record_version)>
            <p class="version-head">
                <strong>{t.record_version} " " {v}</strong>
                " · "
                {match &version.superseded_at {
                    None => view! { <span class="badge active">{t.record_current}</span> }.into_any(),
                    Some(at) => view! {
                        <span>
                            {t.record_replaced} " " <time datetime=at.clone()>{locale.date_time(at)}</time>
                        </span>
                    }
                    .into_any(),
                }}
            </p>
            <dl class="facts">
                {fields
                    .into_iter()
                    .map(|(k, v)| {
                        view! {
                            <div>
                                <dt>{locale.record_field(&k)}</dt>
                                <dd>{v}</dd>
                            </div>
                        }
                    })
                    .collect_view()}
                <div>
                    <dt>{t.record_recorded}</dt>
                    <dd>
                        <time datetime=version.recorded_at.clone()>{locale.date_time(&version.recorded_at)}</time>
                    </dd>
                </div>
                <div>
                    <dt>{t.record_seal}</dt>
                    <dd>
                        {if version.provable {
                            view! { <SealBadge record version=v content=version.content.clone() /> }.into_any()
                        } else {
                            view! { <span class="badge pending" data-verify="pending">{t.seal_pending}</span> }.into_any()
                        }}
                    </dd>
                </div>
            </dl>
            <p class="downloads">
                <a href=format!("{base}/content") rel="external" download="" class="download">
                    {t.download_record}
                </a>
                {version
                    .provable
                    .then(|| {
                        view! {
                            " "
                            <a href=format!("{base}/proof") rel="external" download="" class="download">
                                {t.download_seal}
                            </a>
                        }
                    })}
            </p>
        </section>
    }
}

/// The seal's badge, computed by the browser from the proof and the content this page shows.
#[component]
fn SealBadge(record: uuid::Uuid, version: i32, content: String) -> impl IntoView {
    let locale = use_locale();
    let (badge, set_badge) = signal(None::<(&'static str, &'static str, String)>);
    Effect::new(move |_| {
        let content = content.clone();
        leptos::task::spawn_local(async move {
            let shown = match crate::verify::verify_seal(record, version, content).await {
                Ok(v) => v.badge(locale),
                Err(e) => e.badge(locale),
            };
            set_badge.set(Some(shown));
        });
    });
    view! { <CheckedBadge badge /> }
}

#[component]
fn Erased(erased: ErasedView, scopes: Vec<ScopeView>) -> impl IntoView {
    let locale = use_locale();
    let scope = scope_text(&scopes, &erased.scope);
    let expect = Expect::Erasure {
        requested_by: erased.requested_by.clone(),
        erased_at: erased.erased_at.clone(),
        sealed_versions: usize::try_from(erased.sealed_versions).unwrap_or(0),
    };
    view! {
        <li data-erased=erased.record_id.to_string()>
            <time datetime=erased.erased_at.clone()>{locale.date_time(&erased.erased_at)}</time>
            " — "
            {locale.erased_record(&scope, &erased.requested_by, erased.sealed_versions)}
            " "
            <VerifyBadge leaf_index=erased.leaf_index expect />
        </li>
    }
}
