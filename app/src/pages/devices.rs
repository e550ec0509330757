//! My devices: each device with its passport on the city ledger, checked in the browser
//! against what the page shows; its latest signed readings, as a chart and a table; the
//! forms to suspend, resume or retire it; the form to register a new one; and the rules that
//! link devices across brands, each with the receipts of what it did.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{CheckedBadge, ErrorNote, StateBadge, poll_while};
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::devices::{
    CancelTransfer, ChangeDevice, ClaimDevice, CreateRule, DeviceView, DevicesView, FiringView, OfferTransfer,
    ReadingView, RegisterDevice, RevokeRule, RuleView, my_devices,
};
use crate::verify::{FiringShown, PassportShown, ReadingShown, verify_firing, verify_passport, verify_reading};

#[component]
pub fn DevicesPage() -> impl IntoView {
    let t = use_messages();
    let register = ServerAction::<RegisterDevice>::new();
    let change = ServerAction::<ChangeDevice>::new();
    let actions = RuleActions { create: ServerAction::<CreateRule>::new(), revoke: ServerAction::<RevokeRule>::new() };
    let transfer = TransferActions {
        offer: ServerAction::<OfferTransfer>::new(),
        cancel: ServerAction::<CancelTransfer>::new(),
        claim: ServerAction::<ClaimDevice>::new(),
    };
    let data = Resource::new(
        move || {
            (
                register.version().get(),
                change.version().get(),
                actions.create.version().get(),
                actions.revoke.version().get(),
                (transfer.offer.version().get(), transfer.cancel.version().get(), transfer.claim.version().get()),
            )
        },
        |_| my_devices(),
    );
    // A new passport, state change or rule is cosigned within seconds: follow it until it can
    // be checked. Readings arrive as devices send them: the page shows them when reloaded.
    poll_while(data, std::time::Duration::from_secs(3), |v: &DevicesView| {
        v.devices.iter().any(|d| !d.provable) || v.rules.iter().any(|r| r.state == "pending")
    });
    let error = move || {
        register
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| change.value().get().and_then(Result::err))
            .or_else(|| actions.create.value().get().and_then(Result::err))
            .or_else(|| actions.revoke.value().get().and_then(Result::err))
            .or_else(|| transfer.offer.value().get().and_then(Result::err))
            .or_else(|| transfer.cancel.value().get().and_then(Result::err))
            .or_else(|| transfer.claim.value().get().and_then(Result::err))
            .map(|e| view! { <ErrorNote error=e /> })
    };
    view! {
        <Title text=format!("{} — onecity", t.devices_title) />
        <h1>{t.devices_title}</h1>
        <p class="lead">{t.devices_lead}</p>
        {error}
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <Devices view=v register change actions transfer /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Devices(
    view: DevicesView,
    register: ServerAction<RegisterDevice>,
    change: ServerAction<ChangeDevice>,
    actions: RuleActions,
    transfer: TransferActions,
) -> impl IntoView {
    let t = use_messages();
    let DevicesView { devices, kinds, rules, commands } = view;
    let rules_view = view! { <Rules devices=devices.clone() rules commands actions /> };
    view! {
        {if devices.is_empty() {
            view! { <p class="note">{t.no_devices}</p> }.into_any()
        } else {
            view! {
                <div class="devices" id="devices">
                    {devices.into_iter().map(|d| view! { <Device device=d change transfer /> }).collect_view()}
                </div>
            }
            .into_any()
        }}
        {rules_view}
        <Register kinds register />
        <Claim claim=transfer.claim />
    }
}

/// Handing devices over: offer one (a claim code), withdraw the offer, claim one with a code.
#[derive(Clone, Copy)]
struct TransferActions {
    offer: ServerAction<OfferTransfer>,
    cancel: ServerAction<CancelTransfer>,
    claim: ServerAction<ClaimDevice>,
}

/// A device's transfer: the offer button, or the open offer with its code (shown once) and a
/// way to withdraw it.
#[component]
fn Transfer(
    device_id: uuid::Uuid,
    until: Option<String>,
    code: Option<String>,
    actions: TransferActions,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let Some(until) = until else {
        return view! {
            <ActionForm action=actions.offer attr:class="transfer">
                <input type="hidden" name="device_id" value=device_id.to_string() />
                <button type="submit" class="secondary" data-action="offer-transfer">{t.transfer_offer}</button>
                <span class="help">{t.transfer_help}</span>
            </ActionForm>
        }
        .into_any();
    };
    // The code comes with the first page after the offer; with JavaScript the action's answer
    // keeps it on screen while the page refreshes.
    let just_made =
        move || actions.offer.value().get().and_then(Result::ok).filter(|c| c.device_id == device_id).map(|c| c.code);
    view! {
        <div class="transfer" data-transfer="offered">
            {move || {
                code.clone()
                    .or_else(just_made)
                    .map(|c| {
                        view! {
                            <p class="claim-code" role="status">
                                {t.transfer_code_lead} " " <strong><code data-claim-code=c.clone()>{c.clone()}</code></strong>
                            </p>
                        }
                    })
            }}
            <p class="muted">
                {t.transfer_offered_until} " " <time datetime=until.clone()>{locale.date_time(&until)}</time>
            </p>
            <ActionForm action=actions.cancel>
                <input type="hidden" name="device_id" value=device_id.to_string() />
                <button type="submit" class="secondary" data-action="cancel-transfer">{t.transfer_cancel}</button>
            </ActionForm>
        </div>
    }
    .into_any()
}

/// Claiming a device someone hands over, with the code they give.
#[component]
fn Claim(claim: ServerAction<ClaimDevice>) -> impl IntoView {
    let t = use_messages();
    view! {
        <section class="card" aria-labelledby="claim-title" id="claim">
            <h2 id="claim-title">{t.claim_title}</h2>
            <p>{t.claim_lead}</p>
            <ActionForm action=claim attr:class="stack" attr:id="claim-form">
                <p>
                    <label for="c-code">{t.claim_code_field}</label>
                    <input id="c-code" name="code" required maxlength="24" autocomplete="off" spellcheck="false"
                        autocapitalize="characters" />
                </p>
                <button type="submit" data-action="claim-device">{t.claim_button}</button>
            </ActionForm>
        </section>
    }
}

/// The two actions of the rules section.
#[derive(Clone, Copy)]
struct RuleActions {
    create: ServerAction<CreateRule>,
    revoke: ServerAction<RevokeRule>,
}

/// Rules between the resident's devices: each in a sentence with its state, its entry on the
/// ledger and what it did; the form to make one.
#[component]
fn Rules(
    devices: Vec<DeviceView>,
    rules: Vec<RuleView>,
    commands: Vec<(String, Vec<String>)>,
    actions: RuleActions,
) -> impl IntoView {
    let t = use_messages();
    view! {
        <section aria-labelledby="rules-title" class="card" id="rules">
            <h2 id="rules-title">{t.rules_title}</h2>
            <p>{t.rules_lead}</p>
            {if rules.is_empty() {
                view! { <p class="muted">{t.no_rules}</p> }.into_any()
            } else {
                view! {
                    <ul class="rules">
                        {rules.into_iter().map(|r| view! { <RuleItem rule=r revoke=actions.revoke /> }).collect_view()}
                    </ul>
                }
                .into_any()
            }}
            <NewRuleForm devices commands create=actions.create />
        </section>
    }
}

#[component]
fn RuleItem(rule: RuleView, revoke: ServerAction<RevokeRule>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let id = rule.rule_id;
    let sentence = locale.rule_sentence(
        &rule.trigger_label,
        &rule.metric,
        &rule.comparison,
        rule.threshold,
        &rule.action_label,
        &rule.command,
    );
    let window = rule.window.as_ref().map_or_else(|| t.rule_all_day.to_owned(), |(s, e)| format!("{s}–{e}"));
    let live = matches!(rule.state.as_str(), "pending" | "active");
    let revoked = rule.state == "revoked";
    view! {
        <li class="rule" id=format!("rule-{id}") data-rule=id.to_string() data-state=rule.state.clone()>
            <p class="rule-sentence">
                <strong>{sentence}</strong> " " <StateBadge state=rule.state.clone() />
            </p>
            <p class="muted">
                {window} " · " {t.rule_until} " "
                <time datetime=rule.valid_until.clone()>{locale.date(&rule.valid_until)}</time>
                {rule.notify.then(|| format!(" · {}", t.rule_notifies))}
                {rule
                    .leaf_index
                    .map(|i| {
                        view! {
                            " · "
                            <a href=format!("/ledger/bundle/{i}") rel="external" download=format!("onecity-rule-{i}.json")
                                class="download">
                                {t.rule_entry}
                            </a>
                        }
                    })}
            </p>
            <h3 class="visually-hidden">{t.rule_firings}</h3>
            {if rule.firings.is_empty() {
                view! { <p class="muted rule-no-firings">{t.rule_no_firings}</p> }.into_any()
            } else {
                view! {
                    <table class="firings">
                        <caption>{t.rule_firings}</caption>
                        <thead>
                            <tr>
                                <th scope="col">{t.rule_fired_at}</th>
                                <th scope="col">{t.device_counter}</th>
                                <th scope="col">{t.rule_command_col}</th>
                                <th scope="col">{t.rule_delivered}</th>
                                <th scope="col">{t.rule_receipt}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {rule
                                .firings
                                .into_iter()
                                .map(|f| view! { <FiringRow rule_id=id firing=f revoked /> })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
            {live
                .then(|| {
                    view! {
                        <ActionForm action=revoke>
                            <input type="hidden" name="rule_id" value=id.to_string() />
                            <button type="submit" class="danger" data-action="revoke-rule">
                                {t.rule_revoke_button}
                            </button>
                        </ActionForm>
                    }
                })}
        </li>
    }
}

#[component]
fn FiringRow(rule_id: uuid::Uuid, firing: FiringView, revoked: bool) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let delivered = match (&firing.delivered_at, revoked) {
        (Some(at), _) => view! { <time datetime=at.clone()>{locale.date_time(at)}</time> }.into_any(),
        (None, true) => view! { <span>{t.rule_withheld}</span> }.into_any(),
        (None, false) => view! { <span>{t.rule_waiting}</span> }.into_any(),
    };
    view! {
        <tr data-counter=firing.trigger_counter>
            <td><time datetime=firing.fired_at.clone()>{locale.date_time(&firing.fired_at)}</time></td>
            <td>{firing.trigger_counter}</td>
            <td><code>{firing.command.clone()}</code></td>
            <td>{delivered}</td>
            <td>
                {match firing.leaf_index {
                    Some(i) => {
                        let shown = FiringShown {
                            index: i,
                            rule_id,
                            trigger_counter: firing.trigger_counter,
                            command: firing.command.clone(),
                        };
                        view! {
                            <span data-receipt-check=i><FiringBadge shown /></span>
                            " "
                            <a href=format!("/ledger/bundle/{i}") rel="external"
                                download=format!("onecity-receipt-{i}.json") class="download" data-receipt=i>
                                {t.download_proof}
                            </a>
                        }
                        .into_any()
                    }
                    None => view! { <span class="badge pending">{t.badge_not_cosigned}</span> }.into_any(),
                }}
            </td>
        </tr>
    }
}

#[component]
fn NewRuleForm(
    devices: Vec<DeviceView>,
    commands: Vec<(String, Vec<String>)>,
    create: ServerAction<CreateRule>,
) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let live: Vec<DeviceView> = devices.into_iter().filter(|d| d.state == "active").collect();
    let can_act = |d: &DeviceView| commands.iter().any(|(k, _)| *k == d.kind);
    let actors: Vec<(String, String)> =
        live.iter().filter(|d| can_act(d)).map(|d| (d.device_id.to_string(), d.label.clone())).collect();
    if actors.is_empty() || live.len() < 2 {
        return view! { <p class="note">{t.rule_need_actor}</p> }.into_any();
    }
    let option = |(id, label): (String, String)| view! { <option value=id>{label}</option> };
    let triggers: Vec<(String, String)> = live.iter().map(|d| (d.device_id.to_string(), d.label.clone())).collect();
    view! {
        <h3 id="rule-new-title">{t.rule_new_title}</h3>
        <ActionForm action=create attr:class="stack" attr:id="rule-form" attr:aria-labelledby="rule-new-title">
            <div class="two-col">
                <p>
                    <label for="r-trigger">{t.rule_trigger_field}</label>
                    <select id="r-trigger" name="trigger">{triggers.into_iter().map(option).collect_view()}</select>
                </p>
                <p>
                    <label for="r-metric">{t.rule_metric_field}</label>
                    <input id="r-metric" name="metric" required maxlength="64" pattern=r"[a-z0-9._\-]{1,64}"
                        spellcheck="false" autocomplete="off" aria-describedby="r-metric-help" />
                    <span id="r-metric-help" class="help">{t.rule_metric_help}</span>
                </p>
                <p>
                    <label for="r-comparison">{t.rule_comparison_field}</label>
                    <select id="r-comparison" name="comparison">
                        {["==", "!=", ">", ">=", "<", "<="]
                            .into_iter()
                            .map(|c| view! { <option value=c>{c}</option> })
                            .collect_view()}
                    </select>
                </p>
                <p>
                    <label for="r-threshold">{t.rule_threshold_field}</label>
                    <input id="r-threshold" name="threshold" type="number" step="1" required value="1" />
                </p>
                <p>
                    <label for="r-action">{t.rule_action_field}</label>
                    <select id="r-action" name="action">{actors.into_iter().map(option).collect_view()}</select>
                </p>
                <p>
                    <label for="r-command">{t.rule_command_field}</label>
                    <select id="r-command" name="command">
                        {commands
                            .into_iter()
                            .map(|(kind, cmds)| {
                                view! {
                                    <optgroup label=locale.device_kind(&kind)>
                                        {cmds.into_iter().map(|c| { let text = c.clone(); view! { <option value=c>{text}</option> } }).collect_view()}
                                    </optgroup>
                                }
                            })
                            .collect_view()}
                    </select>
                </p>
                <p>
                    <label for="r-start">{t.rule_window_start}</label>
                    <input id="r-start" name="window_start" type="time" />
                </p>
                <p>
                    <label for="r-end">{t.rule_window_end}</label>
                    <input id="r-end" name="window_end" type="time" />
                </p>
                <p>
                    <label for="r-days">{t.rule_valid_days}</label>
                    <input id="r-days" name="valid_days" type="number" min="1" max="3650" step="1" required value="365" />
                </p>
            </div>
            <p class="choice">
                <input type="checkbox" id="r-notify" name="notify" value="on" checked=true />
                <label for="r-notify">{t.rule_notify_field}</label>
            </p>
            <button type="submit" data-action="create-rule">{t.rule_create_button}</button>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn Device(device: DeviceView, change: ServerAction<ChangeDevice>, transfer: TransferActions) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let id = device.device_id;
    let shown = PassportShown {
        device_id: id,
        kind: device.kind.clone(),
        brand: device.brand.clone(),
        model: device.model.clone(),
        public_key: device.public_key.clone(),
        state: device.state.clone(),
    };
    let state_class = if device.state == "active" { "badge active" } else { "badge revoked" };
    let retire_box = format!("retire-confirm-{id}");
    let reason_id = format!("reason-{id}");
    let live = device.state != "retired";
    let toggle = if device.state == "active" { ("suspend", t.device_suspend) } else { ("resume", t.device_resume) };
    view! {
        <article class="card device" id=format!("device-{id}") data-device=id.to_string() data-state=device.state.clone()
            aria-labelledby=format!("device-title-{id}")>
            <h2 id=format!("device-title-{id}")>{device.label.clone()}</h2>
            <p class="muted">
                {locale.device_kind(&device.kind)} " · " {device.brand.clone()} " " {device.model.clone()} " · "
                <span class=state_class>{locale.device_state(&device.state)}</span>
            </p>
            <dl class="facts">
                <div>
                    <dt>{t.device_passport}</dt>
                    <dd>
                        {if device.provable {
                            view! { <PassportBadge shown /> }.into_any()
                        } else {
                            view! { <span class="badge pending" data-verify="pending">{t.device_passport_pending}</span> }
                                .into_any()
                        }}
                    </dd>
                </div>
                <div>
                    <dt>{t.device_registered}</dt>
                    <dd>
                        <time datetime=device.registered_at.clone()>{locale.date_time(&device.registered_at)}</time>
                    </dd>
                </div>
                <div>
                    <dt>{t.device_serial}</dt>
                    <dd>{device.serial.clone()}</dd>
                </div>
                <div>
                    <dt>{t.device_key}</dt>
                    <dd>
                        <code class="key">{device.public_key.clone()}</code>
                    </dd>
                </div>
            </dl>
            <p class="downloads">
                <a href=format!("/devices/{id}/passport?format=bundle") rel="external" download=format!("passport-{id}.json")
                    class="download">
                    {t.device_download_passport}
                </a>
            </p>
            <Readings device=id readings=device.readings />
            {live
                .then(|| {
                    view! {
                        <div class="device-actions">
                            <ActionForm action=change>
                                <input type="hidden" name="device_id" value=id.to_string() />
                                <input type="hidden" name="change" value=toggle.0 />
                                <p>
                                    <label for=reason_id.clone()>{t.device_reason}</label>
                                    <input id=reason_id.clone() name="reason" maxlength="200" />
                                </p>
                                <button type="submit" data-action=toggle.0>{toggle.1}</button>
                            </ActionForm>
                            <details class="erase">
                                <summary>{t.device_retire_title}</summary>
                                <ActionForm action=change>
                                    <input type="hidden" name="device_id" value=id.to_string() />
                                    <input type="hidden" name="change" value="retire" />
                                    <p class="choice">
                                        <input type="checkbox" id=retire_box.clone() name="confirm" value="retire" required=true />
                                        <label for=retire_box>{t.device_retire_confirm}</label>
                                    </p>
                                    <button type="submit" class="danger" data-action="retire">
                                        {t.device_retire_button}
                                        <span class="visually-hidden">": " {device.label.clone()}</span>
                                    </button>
                                </ActionForm>
                            </details>
                        </div>
                    }
                })}
            {(device.state == "active")
                .then(|| {
                    view! {
                        <Transfer device_id=id until=device.transfer_until.clone() code=device.transfer_code.clone()
                            actions=transfer />
                    }
                })}
        </article>
    }
}

/// The passport's badge, computed by the browser from the bundle and the fields shown.
#[component]
fn PassportBadge(shown: PassportShown) -> impl IntoView {
    let locale = use_locale();
    let badge = checked_in_browser(move || {
        let shown = shown.clone();
        async move {
            match verify_passport(shown).await {
                Ok(v) => v.badge(locale),
                Err(e) => e.badge(locale),
            }
        }
    });
    view! { <CheckedBadge badge /> }
}

/// A rule action's receipt badge, computed by the browser from its bundle and the row shown.
#[component]
fn FiringBadge(shown: FiringShown) -> impl IntoView {
    let locale = use_locale();
    let badge = checked_in_browser(move || {
        let shown = shown.clone();
        async move {
            match verify_firing(shown).await {
                Ok(v) => v.badge(locale),
                Err(e) => e.badge(locale),
            }
        }
    });
    view! { <CheckedBadge badge /> }
}

/// A reading's seal badge, computed by the browser from its proof and the row shown.
#[component]
fn ReadingSealBadge(shown: ReadingShown) -> impl IntoView {
    let locale = use_locale();
    let badge = checked_in_browser(move || {
        let shown = shown.clone();
        async move {
            match verify_reading(shown).await {
                Ok(v) => v.badge(locale),
                Err(e) => e.badge(locale),
            }
        }
    });
    view! { <CheckedBadge badge /> }
}

/// Runs a check in the browser once the component is live; its badge when done.
fn checked_in_browser<F, Fut>(check: F) -> ReadSignal<Option<(&'static str, &'static str, String)>>
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = (&'static str, &'static str, String)> + 'static,
{
    let (badge, set_badge) = signal(None);
    Effect::new(move |_| {
        let check = check();
        leptos::task::spawn_local(async move { set_badge.set(Some(check.await)) });
    });
    badge
}

/// The latest readings: a line per metric over time (drawn on the server, so it shows without
/// JavaScript), and the newest ten as a table.
#[component]
fn Readings(device: uuid::Uuid, readings: Vec<ReadingView>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    if readings.is_empty() {
        return view! { <p class="muted readings-none">{t.device_no_readings}</p> }.into_any();
    }
    let metric = readings[0].metric.clone();
    // Oldest first, one metric (the newest reading's): a chart of mixed units would mislead.
    let mut series: Vec<&ReadingView> = readings.iter().filter(|r| r.metric == metric).collect();
    series.reverse();
    let (lo, hi) = series.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| (lo.min(r.value), hi.max(r.value)));
    let span = (hi - lo).max(1) as f64;
    let n = series.len().max(2) - 1;
    let points: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{:.1},{:.1}", 300.0 * i as f64 / n as f64, 90.0 - 80.0 * (r.value - lo) as f64 / span))
        .collect();
    let label = locale.readings_chart(&metric, series.len(), lo, hi);
    // The browser checks the newest sealed reading's proof (one per device: each check fetches
    // a bundle and verifies a quorum of signatures).
    let newest_sealed = readings.iter().take(10).find(|r| r.sealed).map(|r| r.counter);
    let title = label.clone();
    view! {
        <section class="readings" aria-label=t.device_readings>
            <h3>{t.device_readings}</h3>
            <svg class="chart" viewBox="0 0 300 100" role="img" aria-label=label preserveAspectRatio="none">
                <title>{title}</title>
                <polyline points=points.join(" ") fill="none" stroke="currentColor" stroke-width="2" />
            </svg>
            <table>
                <thead>
                    <tr>
                        <th scope="col">{t.device_time}</th>
                        <th scope="col">{t.device_metric}</th>
                        <th scope="col">{t.device_value}</th>
                        <th scope="col">{t.device_counter}</th>
                        <th scope="col">{t.device_reading_seal}</th>
                    </tr>
                </thead>
                <tbody>
                    {readings
                        .iter()
                        .take(10)
                        .map(|r| {
                            view! {
                                <tr data-counter=r.counter>
                                    <td><time datetime=r.at.clone()>{locale.date_time(&r.at)}</time></td>
                                    <td><code>{r.metric.clone()}</code></td>
                                    <td>{r.value}</td>
                                    <td>{r.counter}</td>
                                    <td data-reading-seal=r.counter>
                                        {(Some(r.counter) == newest_sealed)
                                            .then(|| {
                                                let shown = ReadingShown {
                                                    device_id: device,
                                                    counter: r.counter,
                                                    metric: r.metric.clone(),
                                                    value: r.value,
                                                };
                                                view! { <ReadingSealBadge shown /> " " }
                                            })}
                                        {if r.sealed {
                                            view! {
                                                <a href=format!("/me/devices/{device}/readings/{}/proof", r.counter)
                                                    rel="external" class="download" data-reading-proof=r.counter
                                                    download=format!("onecity-reading-{}.json", r.counter)>
                                                    {t.download_proof}
                                                </a>
                                            }
                                            .into_any()
                                        } else {
                                            view! { <span class="badge pending">{t.device_reading_unsealed}</span> }.into_any()
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn Register(kinds: Vec<String>, register: ServerAction<RegisterDevice>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    view! {
        <section aria-labelledby="register-title" class="card" id="register">
            <h2 id="register-title">{t.device_register_title}</h2>
            <p>{t.device_register_lead}</p>
            <ActionForm action=register attr:class="stack" attr:id="register-form">
                <div class="two-col">
                    <p>
                        <label for="d-label">{t.device_label_field}</label>
                        <input id="d-label" name="label" required maxlength="80" />
                    </p>
                    <p>
                        <label for="d-kind">{t.device_kind_field}</label>
                        <select id="d-kind" name="kind">
                            {kinds
                                .into_iter()
                                .map(|k| view! { <option value=k.clone()>{locale.device_kind(&k)}</option> })
                                .collect_view()}
                        </select>
                    </p>
                    <p>
                        <label for="d-brand">{t.device_brand_field}</label>
                        <input id="d-brand" name="brand" required maxlength="128" />
                    </p>
                    <p>
                        <label for="d-model">{t.device_model_field}</label>
                        <input id="d-model" name="model" required maxlength="128" />
                    </p>
                    <p>
                        <label for="d-serial">{t.device_serial_field}</label>
                        <input id="d-serial" name="serial" required maxlength="128" />
                    </p>
                    <p>
                        <label for="d-key">{t.device_key_field}</label>
                        <input id="d-key" name="public_key" required pattern="[0-9a-fA-F]{64}" spellcheck="false"
                            autocomplete="off" aria-describedby="d-key-help" />
                        <span id="d-key-help" class="help">{t.device_key_help}</span>
                    </p>
                </div>
                <button type="submit" data-action="register">{t.device_register_button}</button>
            </ActionForm>
        </section>
    }
}
