//! Data use: every read of the resident's data by an agency, filterable by agency, data and
//! period (a GET form, so filtered views can be bookmarked and work without JavaScript), a
//! chart of reads per day, and each receipt's proof, checked in the browser.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use time::{Date, Duration, UtcOffset};

use crate::components::{BarChart, ErrorNote, Expect, Table, VerifyBadge, scope_text};
use crate::error::AppError;
use crate::i18n::{CITY_OFFSET_HOURS, now, parse_local, use_locale, use_messages};
use crate::serverfns::resident::{OfferView, ReceiptView, ScopeView, my_offers, my_receipts, scope_catalogue};

/// Receipts shown per page, and how many of them get a live proof check.
const PAGE: u32 = 200;
const CHECKED: usize = 20;
/// The chart's period when no filter sets one.
const DEFAULT_DAYS: i64 = 30;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    agency: Option<String>,
    scope: Option<String>,
    /// `YYYY-MM-DD`, in the city's zone.
    from: Option<String>,
    to: Option<String>,
}

fn city() -> UtcOffset {
    UtcOffset::from_hms(CITY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC)
}

fn parse_day(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

fn rfc3339(d: Date) -> Option<String> {
    d.midnight().assume_offset(city()).format(&time::format_description::well_known::Rfc3339).ok()
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct DataUse {
    receipts: Vec<ReceiptView>,
    offers: Vec<OfferView>,
    scopes: Vec<ScopeView>,
}

#[component]
pub fn DataUsePage() -> impl IntoView {
    let t = use_messages();
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
        Filter { agency: get("agency"), scope: get("scope"), from: get("from"), to: get("to") }
    };
    let data = Resource::new(filter, |f| async move {
        let from = f.from.as_deref().and_then(parse_day).and_then(rfc3339);
        // The "until" day is included: the query's end is the next midnight.
        let to = f.to.as_deref().and_then(parse_day).and_then(|d| d.next_day()).and_then(rfc3339);
        Ok::<_, AppError>(DataUse {
            receipts: my_receipts(None, f.agency, f.scope, from, to, Some(PAGE)).await?,
            offers: my_offers().await?,
            scopes: scope_catalogue().await?,
        })
    });
    view! {
        <Title text=format!("{} — onecity", t.data_use_title) />
        <h1>{t.data_use_title}</h1>
        <p class="lead">{t.data_use_lead}</p>
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Body data=d filter=filter() /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Body(data: DataUse, filter: Filter) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let DataUse { receipts, offers, scopes } = data;
    let row_scopes = scopes.clone();
    let mut agencies: Vec<(String, String)> = offers
        .iter()
        .map(|o| (o.agency_id.clone(), locale.pick(&o.agency_name_en, &o.agency_name_zh).to_owned()))
        .collect();
    agencies.sort();
    agencies.dedup();
    let agency_name = {
        let agencies = agencies.clone();
        move |id: &str| agencies.iter().find(|(a, _)| a == id).map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    };

    // Reads per day over the filtered period (default: the last 30 days).
    let today = now().to_offset(city()).date();
    let last = filter.to.as_deref().and_then(parse_day).unwrap_or(today);
    let first = filter.from.as_deref().and_then(parse_day).unwrap_or(last - Duration::days(DEFAULT_DAYS - 1));
    let days = ((last - first).whole_days() + 1).clamp(1, 366);
    let mut counts = vec![0_i64; usize::try_from(days).unwrap_or(1)];
    for r in &receipts {
        if let Some(at) = parse_local(&r.read_at) {
            let i = (at.date() - first).whole_days();
            if let Some(c) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
                *c += 1;
            }
        }
    }
    let total: i64 = counts.iter().sum();
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let day = first + Duration::days(i as i64);
            let label = format!("{}/{}", u8::from(day.month()), day.day());
            (label, n, locale.number(n))
        })
        .collect();

    let selected = |current: &Option<String>, v: &str| current.as_deref() == Some(v);
    view! {
        <Form method="GET" action="" attr:class="filters" attr:aria-label=t.filter>
            <p>
                <label for="filter-agency">{t.filter_agency}</label>
                <select id="filter-agency" name="agency">
                    <option value="">{t.filter_any}</option>
                    {agencies
                        .iter()
                        .map(|(id, name)| {
                            view! {
                                <option value=id.clone() selected=selected(&filter.agency, id)>
                                    {name.clone()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </p>
            <p>
                <label for="filter-scope">{t.filter_scope}</label>
                <select id="filter-scope" name="scope">
                    <option value="">{t.filter_any}</option>
                    {scopes
                        .iter()
                        .map(|s| {
                            view! {
                                <option value=s.scope_key.clone() selected=selected(&filter.scope, &s.scope_key)>
                                    {locale.pick(&s.description_en, &s.description_zh).to_owned()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </p>
            <p>
                <label for="filter-from">{t.filter_from}</label>
                <input type="date" id="filter-from" name="from" value=filter.from.clone().unwrap_or_default() />
            </p>
            <p>
                <label for="filter-to">{t.filter_to}</label>
                <input type="date" id="filter-to" name="to" value=filter.to.clone().unwrap_or_default() />
            </p>
            <p class="actions">
                <button type="submit" id="filter-apply">
                    {t.filter_apply}
                </button>
                <a href="/data-use">{t.filter_clear}</a>
            </p>
        </Form>
        <section aria-labelledby="chart-title">
            <h2 id="chart-title">{t.reads_over_time}</h2>
            <BarChart
                id="reads-chart"
                title=locale.reads_chart(total, days)
                bars
                label_header=t.col_day
                value_header=t.col_reads
            />
        </section>
        {if receipts.is_empty() {
            view! { <p class="note" id="no-receipts">{t.no_receipts}</p> }.into_any()
        } else {
            view! {
                <Table id="receipts" labelledby="receipts-caption" headers=vec![t.col_when, t.col_who, t.col_service, t.col_scopes, t.col_purpose, t.col_proof] caption=t.data_use_title>
                            {receipts
                                .into_iter()
                                .enumerate()
                                .map(|(i, r)| {
                                    let proof = if i < CHECKED {
                                        view! { <VerifyBadge leaf_index=r.leaf_index expect=Expect::receipt(&r) /> }.into_any()
                                    } else {
                                        r.leaf_index
                                            .map(|ix| {
                                                view! {
                                                    <a href=format!("/ledger/bundle/{ix}") rel="external">
                                                        {t.download_proof}
                                                    </a>
                                                }
                                            })
                                            .into_any()
                                    };
                                    view! {
                                        <tr data-receipt=r.receipt_id.to_string()>
                                            <td>
                                                <time datetime=r.read_at.clone()>{locale.date_time(&r.read_at)}</time>
                                            </td>
                                            <td>
                                                {agency_name(&r.agency_id)}
                                                <br />
                                                <span class="muted small">{r.reader.clone()}</span>
                                            </td>
                                            <td>{locale.pick(&r.service_name_en, &r.service_name_zh).to_owned()}</td>
                                            <td>
                                                {r.scopes.iter().map(|s| scope_text(&row_scopes, s)).collect::<Vec<_>>().join("; ")}
                                            </td>
                                            <td>{r.purpose.clone()}</td>
                                            <td>{proof}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                </Table>
            }
                .into_any()
        }}
    }
}
