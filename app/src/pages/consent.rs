//! The consent screen: what data, who, why, for how long and how often; the optional scopes
//! to add; confirm. Afterwards (`?grant=<id>`) it follows the new permission from pending to
//! active without a reload.

use std::time::Duration;

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

use crate::components::{ErrorNote, StateBadge, poll_while};
use crate::i18n::{end_of_day_in, use_locale, use_messages};
use crate::serverfns::resident::{
    GrantService, GrantView, OfferView, ScopeView, my_grants, my_offers, scope_catalogue,
};

/// How long a resident can choose to share (days).
const DURATIONS: [i64; 4] = [30, 90, 180, 365];

#[component]
pub fn ConsentPage() -> impl IntoView {
    let t = use_messages();
    let params = use_params_map();
    let query = use_query_map();
    let service = move || params.read().get("service_id").and_then(|s| Uuid::parse_str(&s).ok());
    let new_grant = move || query.read().get("grant").and_then(|s| Uuid::parse_str(&s).ok());
    let data = Resource::new(
        || (),
        |_| async move {
            let (offers, scopes) = (my_offers().await?, scope_catalogue().await?);
            Ok::<_, crate::error::AppError>((offers, scopes))
        },
    );
    view! {
        <Title text=format!("{} — onecity", t.consent_title) />
        <h1>{t.consent_title}</h1>
        {move || match new_grant() {
            Some(grant) => view! { <GrantProgress grant /> }.into_any(),
            None => {
                view! {
                    <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
                        {move || Suspend::new(async move {
                            let (offers, scopes) = match data.await {
                                Ok(d) => d,
                                Err(e) => return view! { <ErrorNote error=e /> }.into_any(),
                            };
                            match offers.into_iter().find(|o| Some(o.service_id) == service()) {
                                Some(offer) => view! { <ConsentForm offer scopes /> }.into_any(),
                                None => view! { <p class="note">{t.consent_not_offered}</p> }.into_any(),
                            }
                        })}
                    </Transition>
                }
                    .into_any()
            }
        }}
    }
}

#[component]
fn ConsentForm(offer: OfferView, scopes: Vec<ScopeView>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let action = ServerAction::<GrantService>::new();
    let describe = move |key: &str| describe(&scopes, locale, key);
    let agency = locale.pick(&offer.agency_name_en, &offer.agency_name_zh).to_owned();
    let name = locale.pick(&offer.name_en, &offer.name_zh).to_owned();
    let required = offer.required_scopes.clone();
    let n_required = required.len();
    let optional = offer.optional_scopes.clone();
    view! {
        <p class="lead">{t.consent_lead}</p>
        <article class="consent" aria-labelledby="consent-service">
            <h2 id="consent-service">{name}</h2>
            <p>{locale.pick(&offer.description_en, &offer.description_zh).to_owned()}</p>
            {offer.granted.is_some().then(|| view! { <p class="note">{t.consent_already}</p> })}
            <ActionForm action attr:id="consent-form" attr:class="stack">
                <input type="hidden" name="service_id" value=offer.service_id.to_string() />
                // The terms shown here: a newer version published meanwhile is refused, not
                // silently agreed to.
                <input type="hidden" name="version" value=offer.version.to_string() />
                <dl class="facts">
                    <div>
                        <dt>{t.consent_who}</dt>
                        <dd id="consent-agency">{agency}</dd>
                    </div>
                    <div>
                        <dt>{t.consent_why}</dt>
                        <dd id="consent-purpose">{offer.purpose.clone()}</dd>
                    </div>
                    <div>
                        <dt>{t.consent_how_often}</dt>
                        <dd>{locale.access_mode(&offer.access_mode, offer.max_reads_per_day)}</dd>
                    </div>
                    <div>
                        <dt>{t.consent_history}</dt>
                        <dd id="consent-history">{locale.history(offer.history_days)}</dd>
                    </div>
                    <div>
                        <dt>{t.consent_retention}</dt>
                        <dd>{locale.days(i64::from(offer.retention_days))}</dd>
                    </div>
                </dl>
                <fieldset>
                    <legend>{t.consent_what}</legend>
                    <p class="small-heading">{t.consent_required}</p>
                    <ul class="scope-list" id="required-scopes">
                        {required
                            .iter()
                            .enumerate()
                            .map(|(i, key)| {
                                let (text, level) = describe(key);
                                view! {
                                    <li data-scope=key.clone()>
                                        <input type="hidden" name=format!("scopes[{i}]") value=key.clone() />
                                        {text}
                                        " "
                                        <span class=format!("sensitivity s{level}")>{locale.sensitivity(level)}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    {(!optional.is_empty())
                        .then(|| {
                            view! {
                                <p class="small-heading">{t.consent_optional}</p>
                                <ul class="scope-list choices" id="optional-scopes">
                                    {optional
                                        .iter()
                                        .enumerate()
                                        .map(|(j, key)| {
                                            let (text, level) = describe(key);
                                            let id = format!("scope-{}", key.replace('.', "-"));
                                            view! {
                                                <li data-scope=key.clone()>
                                                    <input
                                                        type="checkbox"
                                                        id=id.clone()
                                                        name=format!("scopes[{}]", n_required + j)
                                                        value=key.clone()
                                                    />
                                                    <label for=id>
                                                        {text} " "
                                                        <span class=format!(
                                                            "sensitivity s{level}",
                                                        )>{locale.sensitivity(level)}</span>
                                                    </label>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                        })}
                </fieldset>
                <p>
                    <label for="valid-until">{t.consent_duration}</label>
                    <select id="valid-until" name="valid_until">
                        {DURATIONS
                            .into_iter()
                            .map(|d| {
                                let until = end_of_day_in(d);
                                let text = format!("{} ({})", locale.days(d), locale.date(&until));
                                view! {
                                    <option value=until selected=d == 90>
                                        {text}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </p>
                {move || {
                    action.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e /> })
                }}
                <p class="actions">
                    <button type="submit" id="consent-confirm" class="primary" disabled=move || action.pending().get()>
                        {t.consent_confirm}
                    </button>
                    <a href="/" class="button secondary">
                        {t.consent_cancel}
                    </a>
                </p>
            </ActionForm>
        </article>
    }
}

/// A scope's plain-language text and sensitivity.
fn describe(scopes: &[ScopeView], locale: crate::i18n::Locale, key: &str) -> (String, i16) {
    scopes.iter().find(|s| s.scope_key == key).map_or_else(
        || (key.to_owned(), 1),
        |s| (locale.pick(&s.description_en, &s.description_zh).to_owned(), s.sensitivity),
    )
}

/// After confirming: the permission's state, refreshed until the witnesses cosigned it.
#[component]
fn GrantProgress(grant: Uuid) -> impl IntoView {
    let t = use_messages();
    let grants = Resource::new(|| (), |_| my_grants());
    poll_while(grants, Duration::from_millis(1000), move |gs: &Vec<GrantView>| gs.iter().any(|g| g.state == "pending"));
    view! {
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                let grants = match grants.await {
                    Ok(g) => g,
                    Err(e) => return view! { <ErrorNote error=e /> }.into_any(),
                };
                let Some(g) = grants.into_iter().find(|g| g.grant_id == grant) else {
                    return view! { <ErrorNote error=crate::error::AppError::NotFound("grant".into()) /> }.into_any();
                };
                let text = if g.state == "active" { t.new_grant_active } else { t.new_grant_pending };
                let locale = use_locale();
                view! {
                    <section class="card" aria-labelledby="progress-title">
                        <h2 id="progress-title">{locale.pick(&g.service_name_en, &g.service_name_zh).to_owned()}</h2>
                        <p role="status" id="grant-status" data-state=g.state.clone()>
                            <StateBadge state=g.state.clone() />
                            " "
                            {text}
                        </p>
                        <p class="actions">
                            <a href="/" class="button primary">
                                {t.nav_my_city}
                            </a>
                            <a href=format!("/permissions#grant-{}", g.grant_id) class="button secondary">
                                {t.nav_permissions}
                            </a>
                            {(g.state == "pending")
                                .then(|| {
                                    view! {
                                        <a href=format!("/consent/{}?grant={}", g.service_id, g.grant_id)>
                                            {t.check_again}
                                        </a>
                                    }
                                })}
                        </p>
                    </section>
                }
                    .into_any()
            })}
        </Transition>
    }
}
