//! Permissions: every grant, grouped by service with its history, each with a badge the browser
//! computes from the grant's proof bundle; revoke, share less or extend in one step.

use std::time::Duration;

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{ErrorNote, Expect, ScopeList, StateBadge, VerifyBadge, poll_while, scope_text};
use crate::i18n::{end_of_day_in, use_locale, use_messages};
use crate::serverfns::resident::{
    ExtendGrant, GrantView, NarrowGrant, OfferView, RevokeGrant, ScopeView, my_grants, my_offers, scope_catalogue,
};

/// Everything the page shows, fetched together.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Permissions {
    grants: Vec<GrantView>,
    offers: Vec<OfferView>,
    scopes: Vec<ScopeView>,
}

#[component]
pub fn PermissionsPage() -> impl IntoView {
    let t = use_messages();
    let revoke = ServerAction::<RevokeGrant>::new();
    let narrow = ServerAction::<NarrowGrant>::new();
    let extend = ServerAction::<ExtendGrant>::new();
    let data = Resource::new(
        move || (revoke.version().get(), narrow.version().get(), extend.version().get()),
        |_| async move {
            Ok::<_, crate::error::AppError>(Permissions {
                grants: my_grants().await?,
                offers: my_offers().await?,
                scopes: scope_catalogue().await?,
            })
        },
    );
    poll_while(data, Duration::from_millis(1500), |p: &Permissions| p.grants.iter().any(|g| g.state == "pending"));
    let errors = move || {
        [
            revoke.value().get().map(|r| r.map(|_| ())),
            narrow.value().get().map(|r| r.map(|_| ())),
            extend.value().get().map(|r| r.map(|_| ())),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| r.err().map(|e| view! { <ErrorNote error=e /> }))
    };
    view! {
        <Title text=format!("{} — onecity", t.permissions_title) />
        <h1>{t.permissions_title}</h1>
        <p class="lead">{t.permissions_lead}</p>
        {errors}
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                let p = match data.await {
                    Ok(p) => p,
                    Err(e) => return view! { <ErrorNote error=e /> }.into_any(),
                };
                if p.grants.is_empty() {
                    return view! { <p class="note">{t.no_grants}</p> }.into_any();
                }
                // Newest first already; the first grant of each service is its current one.
                let mut services: Vec<(uuid::Uuid, Vec<GrantView>)> = Vec::new();
                for g in p.grants {
                    match services.iter_mut().find(|(s, _)| *s == g.service_id) {
                        Some((_, list)) => list.push(g),
                        None => services.push((g.service_id, vec![g])),
                    }
                }
                view! {
                    <div class="grants" id="grants">
                        {services
                            .into_iter()
                            .map(|(service, mut grants)| {
                                let current = grants.remove(0);
                                let offer = p.offers.iter().find(|o| o.service_id == service).cloned();
                                view! {
                                    <GrantCard
                                        current
                                        history=grants
                                        offer
                                        scopes=p.scopes.clone()
                                        revoke
                                        narrow
                                        extend
                                    />
                                }
                            })
                            .collect_view()}
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

#[component]
fn GrantCard(
    current: GrantView,
    history: Vec<GrantView>,
    offer: Option<OfferView>,
    scopes: Vec<ScopeView>,
    revoke: ServerAction<RevokeGrant>,
    narrow: ServerAction<NarrowGrant>,
    extend: ServerAction<ExtendGrant>,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let g = current;
    let live = g.state == "active" || g.state == "pending";
    let name = locale.pick(&g.service_name_en, &g.service_name_zh).to_owned();
    let heading = format!("grant-{}-title", g.grant_id);
    let labelledby = heading.clone();
    let (gid_narrow, gid_extend) = (g.grant_id.to_string(), g.grant_id.to_string());
    let history_scopes = scopes.clone();
    let narrow_scopes = scopes.clone();
    let required: Vec<String> = offer.as_ref().map(|o| o.required_scopes.clone()).unwrap_or_default();
    let droppable: Vec<String> = g.scopes.iter().filter(|s| !required.contains(s)).cloned().collect();
    let kept_required: Vec<String> = g.scopes.iter().filter(|s| required.contains(s)).cloned().collect();
    let later: Vec<String> =
        [90, 180, 365, 730].into_iter().map(end_of_day_in).filter(|u| *u > g.valid_until).collect();
    let grant_id = g.grant_id.to_string();
    view! {
        <article
            class="card grant"
            id=format!("grant-{}", g.grant_id)
            aria-labelledby=labelledby
            data-service-id=g.service_id.to_string()
            data-state=g.state.clone()
        >
            <header class="card-head">
                <h2 id=heading class="h3">
                    {name.clone()}
                </h2>
                <StateBadge state=g.state.clone() />
            </header>
            <dl class="facts">
                <div>
                    <dt>{t.scopes}</dt>
                    <dd>
                        <ScopeList scopes=g.scopes.clone() catalogue=scopes.clone() />
                    </dd>
                </div>
                <div>
                    <dt>{t.purpose}</dt>
                    <dd>{g.purpose.clone()}</dd>
                </div>
                <div>
                    <dt>{t.window}</dt>
                    <dd>
                        <time datetime=g.valid_from.clone()>{locale.date(&g.valid_from)}</time>
                        " – "
                        <time datetime=g.valid_until.clone()>{locale.date(&g.valid_until)}</time>
                    </dd>
                </div>
                <div>
                    <dt>{t.col_proof}</dt>
                    <dd>
                        <VerifyBadge leaf_index=g.leaf_index expect=Expect::grant(&g) />
                    </dd>
                </div>
            </dl>
            {live
                .then(|| {
                    view! {
                        <div class="grant-actions">
                            <ActionForm action=revoke attr:class="inline">
                                <input type="hidden" name="grant_id" value=grant_id.clone() />
                                <button type="submit" class="danger" data-action="revoke">
                                    {t.revoke}
                                    <span class="visually-hidden">": " {name.clone()}</span>
                                </button>
                            </ActionForm>
                            {(!droppable.is_empty())
                                .then(|| {
                                    view! {
                                        <ActionForm action=narrow attr:class="narrow">
                                            <input type="hidden" name="grant_id" value=gid_narrow.clone() />
                                            <fieldset>
                                                <legend>{t.narrow_keep}</legend>
                                                {kept_required
                                                    .iter()
                                                    .enumerate()
                                                    .map(|(i, s)| {
                                                        view! {
                                                            <input type="hidden" name=format!("scopes[{i}]") value=s.clone() />
                                                        }
                                                    })
                                                    .collect_view()}
                                                {droppable
                                                    .iter()
                                                    .enumerate()
                                                    .map(|(j, s)| {
                                                        let id = format!("keep-{}-{}", gid_narrow, s.replace('.', "-"));
                                                        view! {
                                                            <p class="choice">
                                                                <input
                                                                    type="checkbox"
                                                                    id=id.clone()
                                                                    name=format!("scopes[{}]", kept_required.len() + j)
                                                                    value=s.clone()
                                                                    checked=true
                                                                />
                                                                <label for=id>{scope_text(&narrow_scopes, s)}</label>
                                                            </p>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </fieldset>
                                            <button type="submit" data-action="narrow">
                                                {t.narrow}
                                            </button>
                                        </ActionForm>
                                    }
                                })}
                            {(!later.is_empty())
                                .then(|| {
                                    let select = format!("extend-{gid_extend}");
                                    view! {
                                        <ActionForm action=extend attr:class="inline">
                                            <input type="hidden" name="grant_id" value=gid_extend.clone() />
                                            <label for=select.clone()>{t.extend_to}</label>
                                            " "
                                            <select id=select name="valid_until">
                                                {later
                                                    .into_iter()
                                                    .map(|u| {
                                                        let text = locale.date(&u);
                                                        view! { <option value=u>{text}</option> }
                                                    })
                                                    .collect_view()}
                                            </select>
                                            " "
                                            <button type="submit" data-action="extend">
                                                {t.extend}
                                            </button>
                                        </ActionForm>
                                    }
                                })}
                        </div>
                    }
                })}
            {(!history.is_empty())
                .then(|| {
                    view! {
                        <details class="history">
                            <summary>{t.history}</summary>
                            <ol>
                                {history
                                    .into_iter()
                                    .map(|h| {
                                        view! {
                                            <li data-state=h.state.clone()>
                                                <time datetime=h.valid_from.clone()>{locale.date(&h.valid_from)}</time>
                                                " · "
                                                <StateBadge state=h.state.clone() />
                                                " · "
                                                {h.scopes.iter().map(|s| scope_text(&history_scopes, s)).collect::<Vec<_>>().join("; ")}
                                                " "
                                                <VerifyBadge leaf_index=h.leaf_index expect=Expect::grant(&h) />
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ol>
                        </details>
                    }
                })}
        </article>
    }
}
