//! Transparency (public): the current checkpoint, the witnesses and when each last
//! cosigned, the quorum, the anchors on the chain, the integrity alarms, and how anyone can
//! check the log without trusting this server.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{ErrorNote, Table};
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::city::{TransparencyView, transparency};

#[component]
pub fn TransparencyPage() -> impl IntoView {
    let t = use_messages();
    let data = Resource::new(|| (), |_| transparency());
    view! {
        <Title text=format!("{} — onecity", t.transparency_title) />
        <h1>{t.transparency_title}</h1>
        <p class="lead">{t.transparency_lead}</p>
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <Body v /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Body(v: TransparencyView) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let n = v.witnesses.len() as i64;
    view! {
        <section aria-labelledby="checkpoint-title" class="card">
            <h2 id="checkpoint-title">{t.checkpoint}</h2>
            {match v.checkpoint {
                None => view! { <p class="note">{t.no_checkpoint}</p> }.into_any(),
                Some(cp) => view! {
                    <dl class="facts" id="checkpoint">
                        <div>
                            <dt>{t.tree_size}</dt>
                            <dd data-value="tree-size">{locale.number(cp.tree_size)}</dd>
                        </div>
                        <div>
                            <dt>{t.root_hash}</dt>
                            <dd>
                                <code class="hash">{cp.root_hash}</code>
                            </dd>
                        </div>
                        <div>
                            <dt>{t.cosigned_at}</dt>
                            <dd>
                                <time datetime=cp.cosigned_at.clone()>{locale.date_time(&cp.cosigned_at)}</time>
                            </dd>
                        </div>
                    </dl>
                    <details>
                        <summary>{t.signed_note}</summary>
                        <pre class="note-text">{cp.note}</pre>
                    </details>
                }
                .into_any(),
            }}
        </section>
        <section aria-labelledby="witnesses-title">
            <h2 id="witnesses-title">{t.witnesses}</h2>
            <p id="quorum">{locale.quorum(v.quorum, n)}</p>
            <ul class="witness-list" id="witnesses">
                {v
                    .witnesses
                    .into_iter()
                    .map(|w| {
                        let name = w.name.clone();
                        view! {
                            <li class="card" data-witness=name>
                                <h3 class="small-heading">{w.name}</h3>
                                <dl class="facts">
                                    <div>
                                        <dt>{t.last_cosignature}</dt>
                                        <dd>
                                            {w
                                                .last_cosigned_at
                                                .map_or_else(|| t.never.to_owned(), |at| locale.date_time(&at))}
                                        </dd>
                                    </div>
                                    <div>
                                        <dt>{t.tree_size}</dt>
                                        <dd>{locale.number(w.tree_size)}</dd>
                                    </div>
                                    <div>
                                        <dt>{t.witness_key}</dt>
                                        <dd>
                                            <code class="hash">{w.key}</code>
                                        </dd>
                                    </div>
                                </dl>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p>
                {t.log_key} ": " <code class="hash" id="log-key">
                    {v.log_key}
                </code>
            </p>
        </section>
        <section aria-labelledby="anchors-title">
            <h2 id="anchors-title">{t.anchors}</h2>
            {if v.anchors.is_empty() {
                view! { <p class="note">{t.no_anchors}</p> }.into_any()
            } else {
                view! {
                    <Table id="anchors" labelledby="anchors-title" headers=vec![t.tree_size, t.anchor_block, t.anchor_tx, t.col_when]>
                                {v
                                    .anchors
                                    .into_iter()
                                    .map(|a| {
                                        let tx = a.tx_hash.clone();
                                        let href = a.tx_url.clone().unwrap_or_else(|| "/ledger/anchors".to_owned());
                                        view! {
                                            <tr>
                                                <td>{locale.number(a.tree_size)}</td>
                                                <td>{format!("{} (chain {})", a.block_number, a.chain_id)}</td>
                                                <td>
                                                    <a href=href rel="external" class="hash">
                                                        {tx}
                                                    </a>
                                                </td>
                                                <td>{locale.date_time(&a.anchored_at)}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                    </Table>
                }
                    .into_any()
            }}
        </section>
        <section aria-labelledby="alarms-title">
            <h2 id="alarms-title">{t.alarms}</h2>
            {if v.alarms.is_empty() {
                view! { <p class="note ok" id="no-alarms">{t.no_alarms}</p> }.into_any()
            } else {
                view! {
                    <ul class="alarms" id="alarms">
                        {v
                            .alarms
                            .into_iter()
                            .map(|a| {
                                view! {
                                    <li class=if a.resolved { "resolved" } else { "open" }>
                                        <strong>{a.kind}</strong>
                                        " · "
                                        {locale.date_time(&a.raised_at)}
                                        <br />
                                        {a.detail}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
        <section aria-labelledby="seals-title" class="card">
            <h2 id="seals-title">{t.seals_title}</h2>
            <p>{t.seals_lead}</p>
            <dl class="facts" id="seals">
                <div>
                    <dt>{t.seals_batches}</dt>
                    <dd data-value="batches">{locale.number(v.seals.batches)}</dd>
                </div>
                <div>
                    <dt>{t.seals_sealed}</dt>
                    <dd data-value="sealed">{locale.number(v.seals.sealed)}</dd>
                </div>
                <div>
                    <dt>{t.seals_pending}</dt>
                    <dd data-value="pending">{locale.number(v.seals.pending)}</dd>
                </div>
                <div>
                    <dt>{t.seals_last}</dt>
                    <dd>
                        {v
                            .seals
                            .last_sealed_at
                            .clone()
                            .map_or_else(
                                || t.seals_none.to_owned(),
                                |at| locale.date_time(&at),
                            )}
                    </dd>
                </div>
            </dl>
            <p>
                <a href="/verify">{t.verify_title}</a>
            </p>
        </section>
        <section aria-labelledby="verify-title" class="card">
            <h2 id="verify-title">{t.how_to_verify}</h2>
            <ol>
                {t.how_to_verify_steps.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}
            </ol>
            <p>
                <a href="/ledger/keys" rel="external">
                    "/ledger/keys"
                </a>
                " · "
                <a href="/ledger/checkpoint" rel="external">
                    "/ledger/checkpoint"
                </a>
                " · "
                <a href="/ledger/anchors" rel="external">
                    "/ledger/anchors"
                </a>
            </p>
        </section>
    }
}
