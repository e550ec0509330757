//! The agency console: the agency's services (draft → published, versioned), the permissions
//! residents gave each, and reads through the gate with the reason of every refusal.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

use crate::components::{ErrorNote, StateBadge, Table, scope_text};
use crate::error::AppError;
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::agency::{
    AgencyCreateService, AgencyPublishVersion, AgencyRead, AgencyWithdrawService, ServiceView, agency_grants,
    agency_services,
};
use crate::serverfns::resident::{ScopeView, scope_catalogue};

fn status_text(status: &str) -> &'static str {
    let t = use_messages();
    match status {
        "draft" => t.console_status_draft,
        "published" => t.console_status_published,
        _ => t.console_status_withdrawn,
    }
}

#[component]
pub fn ConsolePage() -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let create = ServerAction::<AgencyCreateService>::new();
    let services = Resource::new(move || create.version().get(), |_| agency_services());
    view! {
        <Title text=format!("{} — onecity", t.console_title) />
        <h1>{t.console_title}</h1>
        <p class="lead">{t.console_lead}</p>
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                let list = match services.await {
                    Ok(l) => l,
                    Err(e) => return view! { <ErrorNote error=e /> }.into_any(),
                };
                view! {
                    <section aria-labelledby="services-title">
                        <h2 id="services-title">{t.console_services}</h2>
                        {list.is_empty().then(|| view! { <p class="note">{t.console_no_services}</p> })}
                        <ul class="service-list" id="console-services">
                            {list
                                .into_iter()
                                .map(|s| {
                                    let name = s
                                        .versions
                                        .last()
                                        .map_or_else(|| s.slug.clone(), |v| locale.pick(&v.name_en, &v.name_zh).to_owned());
                                    view! {
                                        <li data-slug=s.slug.clone()>
                                            <a href=format!("/console/services/{}", s.service_id)>{name}</a>
                                            " "
                                            <code>{s.slug.clone()}</code>
                                            " · "
                                            <span class=format!("state state-{}", s.status)>{status_text(&s.status)}</span>
                                            " · "
                                            {t.console_version}
                                            " "
                                            {s.versions.last().map_or(0, |v| v.version)}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </section>
                }
                    .into_any()
            })}
        </Transition>
        <section aria-labelledby="new-service-title" class="card">
            <h2 id="new-service-title">{t.console_new_service}</h2>
            <ActionForm action=create attr:id="create-service">
                <p>
                    <label for="new-slug">{t.console_slug}</label>
                    <input
                        id="new-slug"
                        name="slug"
                        required
                        pattern="[a-z0-9-]{2,40}"
                        aria-describedby="new-slug-hint"
                        autocomplete="off"
                    />
                    <span id="new-slug-hint" class="hint">
                        {t.console_slug_hint}
                    </span>
                </p>
                {move || create.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e /> })}
                <button type="submit">{t.console_create}</button>
            </ActionForm>
        </section>
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct ServicePage {
    service: Option<ServiceView>,
    grants: Vec<crate::serverfns::agency::AgencyGrantView>,
    scopes: Vec<ScopeView>,
    districts: Vec<crate::serverfns::me::District>,
}

#[component]
pub fn ConsoleServicePage() -> impl IntoView {
    let t = use_messages();
    let params = use_params_map();
    let id = move || params.read().get("service_id").and_then(|s| Uuid::parse_str(&s).ok());
    let publish = ServerAction::<AgencyPublishVersion>::new();
    let withdraw = ServerAction::<AgencyWithdrawService>::new();
    let data = Resource::new(
        move || (id(), publish.version().get(), withdraw.version().get()),
        |(id, _, _)| async move {
            let Some(id) = id else { return Err(AppError::NotFound("service".into())) };
            let service = agency_services().await?.into_iter().find(|s| s.service_id == id);
            let grants = if service.is_some() { agency_grants(id).await? } else { Vec::new() };
            let districts = crate::serverfns::me::list_districts().await.map_err(|_| AppError::Internal)?;
            Ok(ServicePage { service, grants, scopes: scope_catalogue().await?, districts })
        },
    );
    view! {
        <Title text=format!("{} — onecity", t.console_title) />
        <p>
            <a href="/console">{t.console_title}</a>
        </p>
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(ServicePage { service: Some(service), grants, scopes, districts }) => {
                        view! { <ServiceDetail service grants scopes districts publish withdraw /> }.into_any()
                    }
                    Ok(_) => view! { <ErrorNote error=AppError::NotFound("service".into()) /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ServiceDetail(
    service: ServiceView,
    grants: Vec<crate::serverfns::agency::AgencyGrantView>,
    scopes: Vec<ScopeView>,
    districts: Vec<crate::serverfns::me::District>,
    publish: ServerAction<AgencyPublishVersion>,
    withdraw: ServerAction<AgencyWithdrawService>,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let latest = service.versions.last().cloned();
    let title =
        latest.as_ref().map_or_else(|| service.slug.clone(), |v| locale.pick(&v.name_en, &v.name_zh).to_owned());
    let asked: Vec<String> = latest
        .as_ref()
        .map(|v| v.required_scopes.iter().chain(&v.optional_scopes).cloned().collect())
        .unwrap_or_default();
    let service_id = service.service_id.to_string();
    view! {
        <h1>
            {title} " " <span class=format!("state state-{}", service.status) id="service-status">
                {status_text(&service.status)}
            </span>
        </h1>
        <section aria-labelledby="versions-title">
            <h2 id="versions-title">{t.console_version}</h2>
            <Table id="versions" labelledby="versions-title" headers=vec![t.console_version, t.console_name_en, t.purpose, t.scopes, t.console_access_mode, t.col_when]>
                        {service
                            .versions
                            .iter()
                            .rev()
                            .map(|v| {
                                view! {
                                    <tr>
                                        <td>{v.version}</td>
                                        <td>{locale.pick(&v.name_en, &v.name_zh).to_owned()}</td>
                                        <td>{v.purpose.clone()}</td>
                                        <td>
                                            {v.required_scopes.join(", ")}
                                            {(!v.optional_scopes.is_empty())
                                                .then(|| format!(" (+ {})", v.optional_scopes.join(", ")))}
                                        </td>
                                        <td>{locale.access_mode(&v.access_mode, v.max_reads_per_day)}</td>
                                        <td>{locale.date_time(&v.published_at)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
            </Table>
        </section>
        {(!grants.is_empty() || service.status == "published")
            .then(|| {
                view! {
                    <GrantsAndQuery
                        service_id=service.service_id
                        grants=grants.clone()
                        asked=asked.clone()
                        scopes=scopes.clone()
                    />
                }
            })}
        {(service.status != "withdrawn")
            .then(|| {
                view! { <PublishForm service_id=service.service_id latest=latest.clone() scopes=scopes.clone() districts=districts.clone() publish /> }
            })}
        {(service.status == "published")
            .then(|| {
                view! {
                    <ActionForm action=withdraw attr:class="inline">
                        <input type="hidden" name="service_id" value=service_id.clone() />
                        <button type="submit" class="danger" id="withdraw-service">
                            {t.console_withdraw}
                        </button>
                    </ActionForm>
                }
            })}
    }
}

#[component]
fn GrantsAndQuery(
    service_id: Uuid,
    grants: Vec<crate::serverfns::agency::AgencyGrantView>,
    asked: Vec<String>,
    scopes: Vec<ScopeView>,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let read = ServerAction::<AgencyRead>::new();
    let query = use_query_map();
    // Without JavaScript the page comes back with the receipt of a released read.
    let released_receipt = move || query.read().get("released");
    let pseudonyms: Vec<String> = grants.iter().map(|g| g.pseudonym.clone()).collect();
    view! {
        <section aria-labelledby="grants-title">
            <h2 id="grants-title">{t.console_grants}</h2>
            {if grants.is_empty() {
                view! { <p class="note">{t.console_no_grants}</p> }.into_any()
            } else {
                view! {
                    <Table id="agency-grants" labelledby="grants-title" headers=vec![t.console_pseudonym, t.scopes, t.window, t.state]>
                                {grants
                                    .into_iter()
                                    .map(|g| {
                                        view! {
                                            <tr data-pseudonym=g.pseudonym.clone()>
                                                <td>
                                                    <code title=g.pseudonym.clone()>{g.pseudonym[..12.min(g.pseudonym.len())].to_owned()} "…"</code>
                                                </td>
                                                <td>{g.scopes.join(", ")}</td>
                                                <td>{locale.until(&g.valid_until)}</td>
                                                <td>
                                                    <StateBadge state=g.state.clone() />
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                    </Table>
                }
                    .into_any()
            }}
        </section>
        <section aria-labelledby="query-title" class="card">
            <h2 id="query-title">{t.console_query}</h2>
            <p class="muted">{t.console_query_lead}</p>
            <ActionForm action=read attr:id="query-form">
                <input type="hidden" name="service_id" value=service_id.to_string() />
                <p>
                    <label for="query-pseudonym">{t.console_pseudonym}</label>
                    <input
                        id="query-pseudonym"
                        name="pseudonym"
                        list="known-pseudonyms"
                        required
                        autocomplete="off"
                        spellcheck="false"
                    />
                    <datalist id="known-pseudonyms">
                        {pseudonyms.into_iter().map(|p| view! { <option value=p /> }).collect_view()}
                    </datalist>
                </p>
                <fieldset>
                    <legend>{t.scopes}</legend>
                    {asked
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let id = format!("query-scope-{}", s.replace('.', "-"));
                            view! {
                                <p class="choice">
                                    <input type="checkbox" id=id.clone() name=format!("scopes[{i}]") value=s.clone() checked=i == 0 />
                                    <label for=id>{scope_text(&scopes, s)} " " <code>{s.clone()}</code></label>
                                </p>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <button type="submit" id="query-run" disabled=move || read.pending().get()>
                    {t.console_run}
                </button>
            </ActionForm>
            <div aria-live="polite" id="query-result">
                {move || match read.value().get() {
                    Some(Ok(json)) => {
                        let pretty = serde_json::from_str::<serde_json::Value>(&json)
                            .ok()
                            .and_then(|v| serde_json::to_string_pretty(&v).ok())
                            .unwrap_or(json);
                        view! {
                            <p class="note ok" data-outcome="released">
                                {t.console_released}
                            </p>
                            <pre class="json">{pretty}</pre>
                        }
                            .into_any()
                    }
                    Some(Err(e)) => view! {
                        <p class="small-heading" data-outcome="denied">
                            {t.console_denied}
                        </p>
                        <ErrorNote error=e />
                    }
                        .into_any(),
                    None => released_receipt()
                        .map(|r| {
                            view! {
                                <p class="note ok" data-outcome="released">
                                    {t.console_released} " — " {t.console_receipt} " " <code>{r}</code>
                                </p>
                            }
                        })
                        .into_any(),
                }}
            </div>
        </section>
    }
}

#[component]
fn PublishForm(
    service_id: Uuid,
    latest: Option<crate::serverfns::agency::VersionView>,
    scopes: Vec<ScopeView>,
    districts: Vec<crate::serverfns::me::District>,
    publish: ServerAction<AgencyPublishVersion>,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let v = latest.clone();
    let get = move |f: fn(&crate::serverfns::agency::VersionView) -> String| v.as_ref().map(f).unwrap_or_default();
    let required = latest.as_ref().map(|v| v.required_scopes.clone()).unwrap_or_default();
    let optional = latest.as_ref().map(|v| v.optional_scopes.clone()).unwrap_or_default();
    let mode = latest.as_ref().map_or_else(|| "recurring".to_owned(), |v| v.access_mode.clone());
    let per_day = latest.as_ref().and_then(|v| v.max_reads_per_day).unwrap_or(1);
    let retention = latest.as_ref().map_or(90, |v| v.retention_days);
    let history = latest.as_ref().map_or(0, |v| v.history_days);
    let limited_to = latest.as_ref().map(|v| v.districts.clone()).unwrap_or_default();
    view! {
        <section aria-labelledby="publish-title" class="card">
            <h2 id="publish-title">{t.console_publish_title}</h2>
            <ActionForm action=publish attr:id="publish-form" attr:class="stack">
                <input type="hidden" name="service_id" value=service_id.to_string() />
                <div class="two-col">
                    <p>
                        <label for="v-name-en">{t.console_name_en}</label>
                        <input id="v-name-en" name="version[name_en]" required value=get(|v| v.name_en.clone()) />
                    </p>
                    <p>
                        <label for="v-name-zh">{t.console_name_zh}</label>
                        <input id="v-name-zh" name="version[name_zh]" lang="zh-CN" required value=get(|v| v.name_zh.clone()) />
                    </p>
                    <p>
                        <label for="v-desc-en">{t.console_description_en}</label>
                        <textarea id="v-desc-en" name="version[description_en]" rows="2">
                            {get(|v| v.description_en.clone())}
                        </textarea>
                    </p>
                    <p>
                        <label for="v-desc-zh">{t.console_description_zh}</label>
                        <textarea id="v-desc-zh" name="version[description_zh]" lang="zh-CN" rows="2">
                            {get(|v| v.description_zh.clone())}
                        </textarea>
                    </p>
                    <p>
                        <label for="v-category">{t.console_category}</label>
                        <input id="v-category" name="version[category]" required value=get(|v| v.category.clone()) />
                    </p>
                    <p>
                        <label for="v-purpose">{t.purpose}</label>
                        <input id="v-purpose" name="version[purpose]" required value=get(|v| v.purpose.clone()) />
                    </p>
                </div>
                <fieldset>
                    <legend>{t.scopes}</legend>
                    <div class="table-wrap" role="region" aria-label=t.scopes tabindex="0">
                    <table class="scope-matrix">
                        <thead>
                            <tr>
                                <th scope="col">{t.scopes}</th>
                                <th scope="col">{t.console_required}</th>
                                <th scope="col">{t.console_optional}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {scopes
                                .iter()
                                .enumerate()
                                .map(|(i, s)| {
                                    let text = locale.pick(&s.description_en, &s.description_zh).to_owned();
                                    let (rid, oid) = (format!("req-{i}"), format!("opt-{i}"));
                                    view! {
                                        <tr>
                                            <th scope="row">
                                                <code>{s.scope_key.clone()}</code>
                                                <br />
                                                <span class="small">{text.clone()}</span>
                                            </th>
                                            <td>
                                                <input
                                                    type="checkbox"
                                                    id=rid.clone()
                                                    name=format!("version[required_scopes][{i}]")
                                                    value=s.scope_key.clone()
                                                    checked=required.contains(&s.scope_key)
                                                    aria-label=format!("{}: {}", t.console_required, s.scope_key)
                                                />
                                            </td>
                                            <td>
                                                <input
                                                    type="checkbox"
                                                    id=oid.clone()
                                                    name=format!("version[optional_scopes][{i}]")
                                                    value=s.scope_key.clone()
                                                    checked=optional.contains(&s.scope_key)
                                                    aria-label=format!("{}: {}", t.console_optional, s.scope_key)
                                                />
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                    </div>
                </fieldset>
                <div class="two-col">
                    <p>
                        <label for="v-retention">{t.console_retention}</label>
                        <input
                            id="v-retention"
                            name="version[retention_days]"
                            type="number"
                            min="1"
                            max="3650"
                            required
                            value=retention.to_string()
                        />
                    </p>
                    <p>
                        <label for="v-mode">{t.console_access_mode}</label>
                        <select id="v-mode" name="version[access_mode]">
                            <option value="one_off" selected=mode == "one_off">
                                {t.console_mode_one_off}
                            </option>
                            <option value="recurring" selected=mode == "recurring">
                                {t.console_mode_recurring}
                            </option>
                            <option value="ongoing" selected=mode == "ongoing">
                                {t.console_mode_ongoing}
                            </option>
                        </select>
                    </p>
                    <p>
                        <label for="v-per-day">{t.console_per_day}</label>
                        <input
                            id="v-per-day"
                            name="version[max_reads_per_day]"
                            type="number"
                            min="1"
                            max="1000"
                            value=per_day.to_string()
                        />
                    </p>
                    <p>
                        <label for="v-history">{t.console_history_days}</label>
                        <input
                            id="v-history"
                            name="version[history_days]"
                            type="number"
                            min="0"
                            max="366"
                            required
                            value=history.to_string()
                        />
                    </p>
                </div>
                <fieldset id="v-districts">
                    <legend>{t.console_districts}</legend>
                    <p class="small">{t.console_districts_hint}</p>
                    {districts
                        .iter()
                        .enumerate()
                        .map(|(i, d)| {
                            let id = format!("district-{i}");
                            view! {
                                <p>
                                    <input
                                        type="checkbox"
                                        id=id.clone()
                                        name=format!("version[districts][{i}]")
                                        value=d.district_id.clone()
                                        checked=limited_to.contains(&d.district_id)
                                    />
                                    <label for=id>{locale.pick(&d.name_en, &d.name_zh).to_owned()}</label>
                                </p>
                            }
                        })
                        .collect_view()}
                </fieldset>
                {move || publish.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e /> })}
                <button type="submit" class="primary" id="publish-version">
                    {t.console_publish}
                </button>
            </ActionForm>
        </section>
    }
}
