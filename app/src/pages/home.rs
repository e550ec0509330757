//! The home page: My City for a signed-in resident, the public city for everyone else.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{BarChart, ErrorNote, MapSvg, ScopeList, StateBadge, poll_while, scope_text};
use crate::i18n::{Locale, parse_local, use_locale, use_messages};
use crate::serverfns::city::{
    CardCheck, CardPart, CardView, MyCityView, NoticeView, PublicCityView, my_city, public_city,
};
use crate::serverfns::resident::{OfferView, ScopeView};
use crate::session::MeResource;

/// What the home page shows: the signed-in resident's city, or the public one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Home {
    Mine(MyCityView),
    Public(PublicCityView),
}

#[component]
pub fn HomePage() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let t = use_messages();
    // One resource for the page, created here and not in the branch it picks: the branch is
    // rendered inside a `Suspend`, which the server runs once per pass, and a resource made there
    // fetched (and serialised into the page) the whole city once per pass.
    let home = Resource::new(
        || (),
        move |_| async move {
            match me.await {
                Ok(Some(me)) if me.is_resident => my_city().await.map(Home::Mine),
                _ => public_city().await.map(Home::Public),
            }
        },
    );
    poll_while(
        home,
        Duration::from_millis(1500),
        |h: &Home| matches!(h, Home::Mine(c) if c.cards.iter().any(|card| card.check == CardCheck::Pending)),
    );
    view! {
        <Transition fallback=move || view! { <p class="muted">{t.loading}</p> }>
            {move || Suspend::new(async move {
                match home.await {
                    Ok(Home::Mine(city)) => view! { <MyCity city /> }.into_any(),
                    Ok(Home::Public(city)) => view! { <PublicCity city /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MyCity(city: MyCityView) -> impl IntoView {
    let t = use_messages();
    view! {
        <Title text=format!("{} — onecity", t.nav_my_city) />
        <MyCityBody city />
    }
}

#[component]
fn MyCityBody(city: MyCityView) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let district_line = city
        .district
        .as_ref()
        .map_or_else(|| t.no_district.to_owned(), |d| locale.lives_in(locale.pick(&d.name_en, &d.name_zh)));
    let district_name = city.district.as_ref().map(|d| locale.pick(&d.name_en, &d.name_zh).to_owned());
    let scopes = city.scopes.clone();
    let no_cards = city.cards.is_empty();
    let no_offers = city.offers.is_empty();
    view! {
        <section class="hero" aria-labelledby="home-title">
            <h1 id="home-title">{locale.hello(&city.name)}</h1>
            <p class="lead" id="district-line">
                {district_line}
            </p>
        </section>
        <div class="city-grid">
            <section aria-labelledby="cards-title" class="cards-section">
                <h2 id="cards-title">{t.your_services}</h2>
                <p class="muted">{t.your_services_lead}</p>
                {no_cards.then(|| view! { <p class="note">{t.no_services_yet}</p> })}
                <div class="cards" id="service-cards">
                    {city
                        .cards
                        .into_iter()
                        .map(|card| view! { <ServiceCard card scopes=scopes.clone() /> }.into_any())
                        .collect_view()}
                </div>
            </section>
            <aside class="side">
                {city
                    .map
                    .map(|map| {
                        view! {
                            <section aria-labelledby="map-title">
                                <h2 id="map-title">{t.your_district}</h2>
                                <MapSvg
                                    map
                                    id="district-map"
                                    title=district_name.clone().unwrap_or_default()
                                    desc=t.map_desc.to_owned()
                                />
                            </section>
                        }
                            .into_any()
                    })}
                {(!city.devices.is_empty()).then(|| view! { <DeviceList devices=city.devices /> })}
                {view! { <Notices notices=city.notices /> }.into_any()}
            </aside>
        </div>
        <section aria-labelledby="offers-title">
            <h2 id="offers-title">{t.offers}</h2>
            <p class="muted">{t.offers_lead}</p>
            {no_offers.then(|| view! { <p class="note">{t.no_offers}</p> })}
            <div class="cards" id="offers">
                {city
                    .offers
                    .into_iter()
                    .map(|offer| view! { <Offer offer scopes=scopes.clone() signed_in=true /> }.into_any())
                    .collect_view()}
            </div>
        </section>
    }
}

/// A service the resident enabled: verified first, then filled with what it uses.
#[component]
fn ServiceCard(card: CardView, scopes: Vec<ScopeView>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let g = card.grant;
    let name = locale.pick(&g.service_name_en, &g.service_name_zh).to_owned();
    let agency = locale.pick(&card.agency_name_en, &card.agency_name_zh).to_owned();
    let heading_id = format!("card-{}", g.grant_id);
    let labelledby = heading_id.clone();
    let status = match card.check {
        CardCheck::Verified => view! {
            <p class="verified-line" data-check="verified">
                <span aria-hidden="true">"✓ "</span>
                {t.card_verified}
            </p>
        }
        .into_any(),
        CardCheck::Pending => view! {
            <p class="note" role="status" data-check="pending">
                {t.card_pending}
            </p>
        }
        .into_any(),
        CardCheck::Integrity => view! {
            <p class="note error" role="alert" data-check="integrity">
                {t.card_integrity}
            </p>
        }
        .into_any(),
    };
    let state = match card.check {
        CardCheck::Pending => "pending".to_owned(),
        _ => g.state.clone(),
    };
    view! {
        <article class="card service-card" aria-labelledby=labelledby data-service-id=g.service_id.to_string()>
            <header class="card-head">
                <h3 id=heading_id>{name}</h3>
                <StateBadge state />
            </header>
            <p class="muted">{agency}</p>
            {status}
            {card.parts.into_iter().map(|p| view! { <Part part=p scopes=scopes.clone() /> }).collect_view()}
            <p class="card-foot">
                <a href=format!("/permissions#grant-{}", g.grant_id)>{t.card_manage}</a>
                " · "
                <span class="muted">{locale.until(&g.valid_until)}</span>
            </p>
        </article>
    }
}

#[component]
fn Part(part: CardPart, scopes: Vec<ScopeView>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    match part {
        CardPart::Trips { count, spend_cents, recent, .. } => view! {
            <dl class="stats" data-part="trips">
                <div>
                    <dt>{t.trips_this_month}</dt>
                    <dd data-value="trips">{locale.trips(count)}</dd>
                </div>
                <div>
                    <dt>{t.spent_this_month}</dt>
                    <dd data-value="spend">{locale.money(spend_cents)}</dd>
                </div>
            </dl>
            {if recent.is_empty() {
                view! { <p class="muted">{t.no_trips}</p> }.into_any()
            } else {
                view! {
                    <h4 class="small-heading">{t.recent_trips}</h4>
                    <ul class="plain-list">
                        {recent
                            .into_iter()
                            .map(|trip| {
                                view! {
                                    <li>
                                        {locale.date_time(&trip.at)} " · " {trip.from} " → " {trip.to} " · "
                                        {locale.money(trip.fare_cents)}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        }
        .into_any(),
        CardPart::Titles { titles } => view! {
            <h4 class="small-heading">{t.property_titles}</h4>
            {if titles.is_empty() {
                view! { <p class="muted">{t.no_titles}</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list" data-part="titles">
                        {titles
                            .into_iter()
                            .map(|title| {
                                view! {
                                    <li>
                                        <strong>{title.address}</strong>
                                        <br />
                                        {t.tax_due}
                                        ": "
                                        <time datetime=title.tax_due.clone()>{locale.date(&title.tax_due)}</time>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        }
        .into_any(),
        CardPart::Readings { readings } => {
            if readings.is_empty() {
                view! { <p class="muted">{t.no_readings}</p> }.into_any()
            } else {
                let n = readings.len();
                let bars = readings
                    .into_iter()
                    .map(|r| {
                        let label =
                            parse_local(&r.at).map_or_else(String::new, |d| locale.short_month(u8::from(d.month())));
                        (label, r.kwh, locale.kwh(r.kwh))
                    })
                    .collect();
                view! {
                    <h4 class="small-heading">{t.meter_readings}</h4>
                    <BarChart
                        id="usage-chart"
                        title=locale.usage_chart(n)
                        bars
                        label_header=t.col_day
                        value_header=t.meter_readings
                    />
                }
                .into_any()
            }
        }
        CardPart::Eligibility { eligible, clinic } => {
            let text = match eligible {
                Some(true) => t.clinic_eligible,
                Some(false) => t.clinic_not_eligible,
                None => t.state_unknown,
            };
            view! {
                <p data-part="eligibility" data-eligible=eligible.map(|e| e.to_string())>
                    {text}
                </p>
                {(eligible == Some(true))
                    .then(|| {
                        clinic
                            .map(|c| {
                                view! {
                                    <p>
                                        {t.clinic_where} " " <strong>{locale.pick(&c.name_en, &c.name_zh).to_owned()}</strong>
                                    </p>
                                }
                            })
                    })}
            }
            .into_any()
        }
        CardPart::Other { scope } => view! { <p class="muted">{scope_text(&scopes, &scope)}</p> }.into_any(),
    }
}

/// A service the person could enable, with everything it would use.
#[component]
pub fn Offer(offer: OfferView, scopes: Vec<ScopeView>, signed_in: bool) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    let heading_id = format!("offer-{}", offer.service_id);
    let labelledby = heading_id.clone();
    let asked: Vec<String> = offer.required_scopes.iter().chain(&offer.optional_scopes).cloned().collect();
    let consent = format!("/consent/{}", offer.service_id);
    let href = if signed_in { consent } else { crate::session::sign_in_href(&consent) };
    let name = locale.pick(&offer.name_en, &offer.name_zh).to_owned();
    view! {
        <article class="card offer" aria-labelledby=labelledby data-service-id=offer.service_id.to_string()>
            <h3 id=heading_id>{name.clone()}</h3>
            <p class="muted">{locale.pick(&offer.agency_name_en, &offer.agency_name_zh).to_owned()}</p>
            <p>{locale.pick(&offer.description_en, &offer.description_zh).to_owned()}</p>
            <dl class="facts">
                <div>
                    <dt>{t.asks_for}</dt>
                    <dd>
                        <ScopeList scopes=asked catalogue=scopes />
                    </dd>
                </div>
                <div>
                    <dt>{t.purpose}</dt>
                    <dd>{offer.purpose.clone()}</dd>
                </div>
                <div>
                    <dt>{t.how_often}</dt>
                    <dd>{locale.access_mode(&offer.access_mode, offer.max_reads_per_day)}</dd>
                </div>
            </dl>
            <p>
                <a class="button" href=href rel=(!signed_in).then_some("external")>
                    {t.enable}
                    <span class="visually-hidden">": " {name}</span>
                </a>
            </p>
        </article>
    }
}

/// The resident's devices with what each said last; the Devices page has the rest.
#[component]
fn DeviceList(devices: Vec<crate::serverfns::city::DeviceSummary>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    view! {
        <section aria-labelledby="devices-title">
            <h2 id="devices-title">{t.nav_devices}</h2>
            <ul class="my-devices" id="my-devices">
                {devices
                    .into_iter()
                    .map(|d| {
                        view! {
                            <li data-device=d.device_id.to_string()>
                                <a href=format!("/devices#device-{}", d.device_id)>{d.label}</a>
                                " · " {locale.device_kind(&d.kind)}
                                {(d.state != "active").then(|| view! { " · " <span class="badge revoked">{locale.device_state(&d.state)}</span> })}
                                <br />
                                {match d.latest {
                                    Some((metric, value, at)) => view! {
                                        <span class="reading">
                                            <code>{metric}</code> " " <strong>{value}</strong> " · "
                                            <time datetime=at.clone()>{locale.date_time(&at)}</time>
                                        </span>
                                    }
                                    .into_any(),
                                    None => view! { <span class="muted">{t.device_no_readings}</span> }.into_any(),
                                }}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Notices(notices: Vec<NoticeView>) -> impl IntoView {
    let t = use_messages();
    let locale = use_locale();
    view! {
        <section aria-labelledby="notices-title">
            <h2 id="notices-title">{t.notices}</h2>
            {if notices.is_empty() {
                view! { <p class="muted">{t.no_notices}</p> }.into_any()
            } else {
                view! {
                    <ul class="notices" id="notices">
                        {notices.into_iter().map(|n| view! { <li>{notice(locale, n)}</li> }).collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
    }
}

fn notice(locale: Locale, n: NoticeView) -> impl IntoView {
    let t = locale.messages();
    let place = if n.district_id.is_none() { Some(t.citywide) } else { None };
    view! {
        <article class="notice" data-notice=n.notice_id.clone()>
            <h3 class="small-heading">{locale.pick(&n.title_en, &n.title_zh).to_owned()}</h3>
            <p class="muted">
                {locale.pick(&n.agency_name_en, &n.agency_name_zh).to_owned()} " · "
                <time datetime=n.published_at.clone()>{locale.date(&n.published_at)}</time>
                {place.map(|p| format!(" · {p}"))}
            </p>
            <p>{locale.pick(&n.body_en, &n.body_zh).to_owned()}</p>
        </article>
    }
}

#[component]
fn PublicCity(city: PublicCityView) -> impl IntoView {
    let t = use_messages();
    let scopes = city.scopes.clone();
    view! {
        <Title text="onecity" />
        <section class="hero" aria-labelledby="home-title">
            <h1 id="home-title">{t.welcome_title}</h1>
            <p class="lead">{t.welcome_lead}</p>
        </section>
        <div class="city-grid">
            <section aria-labelledby="districts-title">
                <h2 id="districts-title">{t.districts}</h2>
                <MapSvg
                    map=city.map
                    id="city-map"
                    title=t.city_map.to_owned()
                    desc=t.city_map_desc.to_owned()
                />
                <ul class="district-list" id="district-list">
                    {city
                        .districts
                        .into_iter()
                        .map(|d| {
                            view! {
                                <li>
                                    <span lang="en">{d.name_en}</span>
                                    " "
                                    <span lang="zh-CN">{d.name_zh}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
            <aside class="side">
                <Notices notices=city.notices />
            </aside>
        </div>
        <section aria-labelledby="catalogue-title">
            <h2 id="catalogue-title">{t.services_catalogue}</h2>
            <p class="muted">{t.services_catalogue_lead}</p>
            <div class="cards" id="catalogue">
                {city
                    .services
                    .into_iter()
                    .map(|offer| view! { <Offer offer scopes=scopes.clone() signed_in=false /> }.into_any())
                    .collect_view()}
            </div>
        </section>
    }
}
