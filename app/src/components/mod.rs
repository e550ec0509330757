//! Pieces several pages share: error notes, the SVG map and bar chart, scope lists, state and
//! verification badges, and polling while something is pending.

use std::time::Duration;

use leptos::prelude::*;

use crate::error::AppError;
use crate::i18n::{use_locale, use_messages};
use crate::serverfns::city::MapView;
use crate::serverfns::resident::ScopeView;
pub use crate::verify::Expect;

/// An error as a person should read it: sign in when signed out, the field and the problem
/// when a form was wrong, the gate's reason when it refused.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    match error {
        AppError::Unauthorized => view! {
            <p class="note" role="alert">
                {t.sign_in_needed} " "
                <a href="/auth/login" rel="external">
                    {t.sign_in}
                </a>
            </p>
        }
        .into_any(),
        AppError::Denied { reason, .. } => view! {
            <p class="note error" role="alert" data-reason=reason.clone()>
                {locale.denial(&reason)}
            </p>
        }
        .into_any(),
        AppError::Internal | AppError::ServerFn(_) => view! {
            <p class="note error" role="alert">
                {t.error_generic}
            </p>
        }
        .into_any(),
        other => view! {
            <p class="note error" role="alert">
                {other.to_string()}
            </p>
        }
        .into_any(),
    }
}

/// A map with a text alternative: the title and description for assistive technology, and the
/// facilities again as a list below.
#[component]
pub fn MapSvg(map: MapView, id: &'static str, title: String, desc: String) -> impl IntoView {
    let locale = use_locale();
    let t = use_messages();
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    let facilities = map.facilities.clone();
    view! {
        <figure class="map">
            <svg
                id=id
                viewBox=format!("0 0 {} {}", map.width, map.height)
                role="img"
                aria-labelledby=format!("{title_id} {desc_id}")
                preserveAspectRatio="xMidYMid meet"
            >
                <title id=title_id.clone()>{title}</title>
                <desc id=desc_id.clone()>{desc}</desc>
                {map
                    .areas
                    .into_iter()
                    .map(|a| {
                        let name = locale.pick(&a.name_en, &a.name_zh).to_owned();
                        view! {
                            <g class=if a.home { "area home" } else { "area" } data-district=a.district_id>
                                <path d=a.path />
                                <text x=a.label.0 y=a.label.1 text-anchor="middle">
                                    {name}
                                </text>
                            </g>
                        }
                    })
                    .collect_view()}
                {map
                    .facilities
                    .into_iter()
                    .map(|f| {
                        let name = locale.pick(&f.name_en, &f.name_zh).to_owned();
                        view! {
                            <g class=format!("facility {}", f.kind)>
                                <circle cx=f.at.0 cy=f.at.1 r="15" />
                                <text x=f.at.0 y=f.at.1 dy="6" text-anchor="middle" aria-hidden="true">
                                    {facility_glyph(&f.kind)}
                                </text>
                                <title>{name}</title>
                            </g>
                        }
                    })
                    .collect_view()}
            </svg>
            {(!facilities.is_empty())
                .then(|| {
                    view! {
                        <figcaption>
                            <h3 class="small-heading">{t.facilities}</h3>
                            <ul class="facility-list">
                                {facilities
                                    .into_iter()
                                    .map(|f| {
                                        view! {
                                            <li>
                                                <span class=format!("dot {}", f.kind) aria-hidden="true">
                                                    {facility_glyph(&f.kind)}
                                                </span>
                                                " "
                                                {locale.pick(&f.name_en, &f.name_zh).to_owned()}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        </figcaption>
                    }
                })}
        </figure>
    }
}

/// One letter per kind of facility, drawn in its marker.
fn facility_glyph(kind: &str) -> &'static str {
    match kind {
        "transit" => "M",
        "clinic" => "+",
        "library" => "L",
        "school" => "S",
        "park" => "P",
        "service-centre" => "i",
        "recycling" => "R",
        _ => "•",
    }
}

/// A bar chart drawn as SVG, with the same numbers as a table for assistive technology and
/// anyone who prefers figures.
#[component]
pub fn BarChart(
    id: &'static str,
    title: String,
    /// (label under the bar, value, value as text)
    bars: Vec<(String, i64, String)>,
    label_header: &'static str,
    value_header: &'static str,
) -> impl IntoView {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const AXIS: f64 = 24.0;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = bars.len().max(1) as f64;
    let slot = W / n;
    let bar_w = (slot * 0.7).max(1.0);
    // Label every bar when there is room, else about ten of them.
    let every = (bars.len() / 10).max(1);
    let title_id = format!("{id}-title");
    let labelledby = title_id.clone();
    let table = bars.clone();
    view! {
        <figure class="chart">
            <svg
                id=id
                viewBox=format!("-16 0 {} {}", W + 32.0, H + AXIS)
                role="img"
                aria-labelledby=labelledby
            >
                <title id=title_id>{title.clone()}</title>
                <line x1="0" y1=H x2=W y2=H class="axis" />
                {bars
                    .into_iter()
                    .enumerate()
                    .map(|(i, (label, value, text))| {
                        let h = (value as f64 / max) * (H - 16.0);
                        let x = i as f64 * slot + (slot - bar_w) / 2.0;
                        view! {
                            <g class="bar">
                                <rect x=x y=H - h width=bar_w height=h>
                                    <title>{format!("{label}: {text}")}</title>
                                </rect>
                                {i.is_multiple_of(every)
                                    .then(|| {
                                        view! {
                                            <text x=x + bar_w / 2.0 y=H + 16.0 text-anchor="middle">
                                                {label.clone()}
                                            </text>
                                        }
                                    })}
                            </g>
                        }
                    })
                    .collect_view()}
            </svg>
            <details class="chart-data">
                <summary>{title}</summary>
                <table>
                    <thead>
                        <tr>
                            <th scope="col">{label_header}</th>
                            <th scope="col">{value_header}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {table
                            .into_iter()
                            .map(|(label, _, text)| {
                                view! {
                                    <tr>
                                        <td>{label}</td>
                                        <td>{text}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </details>
        </figure>
    }
}

/// A permission's state as a coloured label (the colour is never the only signal: the word is
/// there).
#[component]
pub fn StateBadge(state: String) -> impl IntoView {
    let locale = use_locale();
    view! {
        <span class=format!("state state-{state}") data-state=state.clone()>
            {locale.grant_state(&state)}
        </span>
    }
}

/// Scopes in plain language, with their sensitivity.
#[component]
pub fn ScopeList(scopes: Vec<String>, catalogue: Vec<ScopeView>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <ul class="scope-list">
            {scopes
                .into_iter()
                .map(|key| {
                    let entry = catalogue.iter().find(|s| s.scope_key == key);
                    let text = entry
                        .map_or_else(|| key.clone(), |s| locale.pick(&s.description_en, &s.description_zh).to_owned());
                    let level = entry.map_or(1, |s| s.sensitivity);
                    view! {
                        <li data-scope=key>
                            {text} " "
                            <span class=format!("sensitivity s{level}")>{locale.sensitivity(level)}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// The plain-language text of one scope.
#[must_use]
pub fn scope_text(catalogue: &[ScopeView], key: &str) -> String {
    let locale = use_locale();
    catalogue
        .iter()
        .find(|s| s.scope_key == key)
        .map_or_else(|| key.to_owned(), |s| locale.pick(&s.description_en, &s.description_zh).to_owned())
}

/// A badge the browser computes itself: it fetches the entry's proof bundle and the ledger's
/// keys, and the `chain` crate, compiled to WebAssembly, verifies the bundle (log signature,
/// quorum of witness cosignatures, inclusion, and for grants the status-map proof). Without
/// JavaScript it says so and offers the download instead.
#[component]
pub fn VerifyBadge(leaf_index: Option<i64>, expect: Expect) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let Some(index) = leaf_index else {
        return view! { <span class="badge pending">{t.badge_not_cosigned}</span> }.into_any();
    };
    // Computed after hydration (effects never run on the server), so the server's HTML and
    // the hydrating browser agree on the placeholder.
    let (badge, set_badge) = signal(None::<(&'static str, &'static str, String)>);
    Effect::new(move |_| {
        let expect = expect.clone();
        leptos::task::spawn_local(async move {
            let shown = match crate::verify::verify_entry(index, expect).await {
                Ok(v) => v.badge(locale),
                Err(e) => e.badge(locale),
            };
            set_badge.set(Some(shown));
        });
    });
    let href = format!("/ledger/bundle/{index}");
    view! {
        <span class="proof">
            <CheckedBadge badge />
            <a href=href rel="external" download=format!("onecity-proof-{index}.json") class="download">
                {t.download_proof}
            </a>
        </span>
    }
    .into_any()
}

/// A badge the browser fills in once its check is done: (CSS class, `data-verify`, text).
#[component]
pub fn CheckedBadge(badge: ReadSignal<Option<(&'static str, &'static str, String)>>) -> impl IntoView {
    let t = use_messages();
    move || match badge.get() {
        // Which text shows is up to the style sheet: the bundle marks the body once it has
        // hydrated, and only then can a check be under way.
        None => view! {
            <span class="badge unchecked" data-verify="unchecked">
                <span class="nojs-only">{t.badge_needs_js}</span>
                <span class="js-only">{t.badge_verifying}</span>
            </span>
        }
        .into_any(),
        Some((class, state, text)) => view! {
            <span class=format!("badge {class}") data-verify=state role="status">
                {text}
            </span>
        }
        .into_any(),
    }
}

/// A table that scrolls sideways inside its own focusable region on narrow screens (never the
/// page), named by `labelledby` (a heading's id, or its own caption's when it has one).
#[component]
pub fn Table(
    id: &'static str,
    labelledby: &'static str,
    headers: Vec<&'static str>,
    #[prop(optional)] caption: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap" role="region" aria-labelledby=labelledby tabindex="0">
            <table id=id>
                {caption.map(|c| view! { <caption id=labelledby>{c}</caption> })}
                <thead>
                    <tr>{headers.into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}</tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// Refetches `resource` every `every` while `wait` holds for its value (in the browser only:
/// effects do not run on the server). Used to turn "pending" into "active" without a reload.
pub fn poll_while<T, E>(resource: Resource<Result<T, E>>, every: Duration, wait: fn(&T) -> bool)
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
    Result<T, E>: serde::Serialize + serde::de::DeserializeOwned,
{
    Effect::new(move |_| {
        let waiting = resource.with(|v| matches!(v, Some(Ok(v)) if wait(v)));
        if waiting {
            set_timeout(move || resource.refetch(), every);
        }
    });
}
