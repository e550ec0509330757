//! Check a seal (public): anyone shown a city record with its seal, a bank or a court, pastes
//! both and the portal runs the same check as `onecity verify --content`, against the
//! ledger's keys. Works without JavaScript: the form posts, and the answer comes back in the
//! page's address (only digits, hex, ids and key names).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::ErrorNote;
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::records::{CheckSeal, SealCheck};

#[component]
pub fn VerifyPage() -> impl IntoView {
    let t = use_messages();
    let check = ServerAction::<CheckSeal>::new();
    let query = use_query_map();
    // JavaScript on: the action's value; off: the redirect's query.
    let result = move || match check.value().get() {
        Some(Ok(c)) => Some(Ok(c)),
        Some(Err(e)) => Some(Err(e)),
        None => SealCheck::from_query(&|k| query.read().get(k)).map(Ok),
    };
    view! {
        <Title text=format!("{} — onecity", t.verify_title) />
        <h1>{t.verify_title}</h1>
        <p class="lead">{t.verify_lead}</p>
        <ActionForm action=check attr:class="verify-seal" attr:id="verify-seal">
            <p>
                <label for="seal-proof">{t.verify_proof_label}</label>
                <textarea id="seal-proof" name="proof" rows="8" required=true spellcheck="false"></textarea>
            </p>
            <p>
                <label for="seal-content">{t.verify_content_label}</label>
                <textarea id="seal-content" name="content" rows="4" spellcheck="false"></textarea>
            </p>
            <button type="submit" data-action="check-seal">
                {t.verify_button}
            </button>
        </ActionForm>
        {move || match result() {
            None => None,
            Some(Err(e)) => Some(view! { <ErrorNote error=e /> }.into_any()),
            Some(Ok(c)) => Some(view! { <Checked check=c /> }.into_any()),
        }}
    }
}

#[component]
fn Checked(check: SealCheck) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    view! {
        <section class="card verified" id="seal-result" role="status" data-verify="verified">
            <h2>{t.verify_ok}</h2>
            <p data-content-checked=check.content_checked.to_string()>
                {if check.content_checked { t.verify_content_ok } else { t.verify_content_unchecked }}
            </p>
            <dl class="facts">
                <div>
                    <dt>{t.record_recorded}</dt>
                    <dd>
                        <code>{check.scope.clone()}</code> " · " {check.record_id.to_string()} " · " {t.record_version} " "
                        {check.version} " · "
                        <time datetime=check.recorded_at.clone()>{locale.date_time(&check.recorded_at)}</time>
                    </dd>
                </div>
                <div>
                    <dt>{t.verify_sealed_by}</dt>
                    <dd>
                        <time datetime=check.sealed_by.clone()>{locale.date_time(&check.sealed_by)}</time>
                    </dd>
                </div>
                <div>
                    <dt>{t.verify_checkpoint}</dt>
                    <dd>
                        {locale.cosigned(check.cosigners.len(), check.checkpoint_size)}
                        {check.anchor.clone().map(|a| view! { " · " <code>{a}</code> })}
                    </dd>
                </div>
            </dl>
        </section>
    }
}
