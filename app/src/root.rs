//! The document shell, the router and the layout every page shares.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{Lazy, LazyRoute, SsrMode, StaticSegment, lazy_route, path};

use crate::i18n::{self, Locale, use_locale, use_messages};
use crate::pages::consent::ConsentPage;
use crate::pages::console::{ConsolePage, ConsoleServicePage};
use crate::pages::data_use::DataUsePage;
use crate::pages::devices::DevicesPage;
use crate::pages::home::HomePage;
use crate::pages::permissions::PermissionsPage;
use crate::pages::records::RecordsPage;
use crate::pages::transparency::TransparencyPage;
use crate::pages::verify::VerifyPage;
use crate::serverfns::me::{Me, get_me};
use crate::session::{MeResource, ROLE_AGENCY_STAFF};

/// The Content-Security-Policy the server wants on every page, with `{nonce}` where the
/// per-response script nonce goes. Provided by the server as context.
#[derive(Clone, Debug)]
pub struct CspTemplate(pub String);

/// The HTML document around the app. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_csp_header();
    let locale = i18n::detect();
    provide_context(locale);
    view! {
        <!DOCTYPE html>
        <html lang=locale.tag()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href="/pkg/onecity.css" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Puts the CSP with this response's nonce on the response. Inline scripts Leptos writes
/// (hydration bootstrap, streamed resources) carry the same nonce, so no 'unsafe-inline'.
#[cfg(feature = "ssr")]
fn set_csp_header() {
    use leptos::nonce::use_nonce;
    let (Some(template), Some(nonce), Some(response)) =
        (use_context::<CspTemplate>(), use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = template.0.replace("{nonce}", &nonce.to_string());
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // On the server the shell provided it already; in the browser it comes from <html lang>.
    if use_context::<Locale>().is_none() {
        provide_context(i18n::detect());
    }
    let t = use_messages();
    // One request for "who am I" per page load, shared by the header and the pages.
    let me = Resource::new(|| (), |_| get_me());
    provide_context(me);

    // Browser tests wait for this attribute before they interact with the hydrated page.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // Routes render in order (SsrMode::InOrder): every Suspense is resolved in the HTML
    // itself, so pages are complete with JavaScript off; hydration then takes over.
    view! {
        <Title text="onecity" />
        <Router>
            <a class="skip-link" href="#main">
                {t.skip_to_content}
            </a>
            <Header />
            <main id="main" tabindex="-1">
                // Pages render their own typed errors (ErrorNote); this catches anything else a
                // view throws, so one broken part never blanks the whole page.
                <ErrorBoundary fallback=move |_| view! { <p class="note error" role="alert">{t.error_generic}</p> }>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::InOrder />
                    <Route path=path!("/consent/:service_id") view={Lazy::<Consent>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/permissions") view={Lazy::<Permissions>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/data-use") view={Lazy::<DataUse>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/console") view={Lazy::<Console>::new()} ssr=SsrMode::InOrder />
                    <Route
                        path=path!("/console/services/:service_id")
                        view={Lazy::<ConsoleService>::new()}
                        ssr=SsrMode::InOrder
                    />
                    <Route path=path!("/transparency") view={Lazy::<Transparency>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/records") view={Lazy::<Records>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/devices") view={Lazy::<Devices>::new()} ssr=SsrMode::InOrder />
                    <Route path=path!("/verify") view={Lazy::<Verify>::new()} ssr=SsrMode::InOrder />
                </Routes>
                </ErrorBoundary>
            </main>
            <footer class="site-footer">
                <p>{t.footer}</p>
            </footer>
        </Router>
    }
}

// Every page but My City is a lazy route: `cargo leptos build --split` moves each one's view
// code into its own WebAssembly chunk, which the browser fetches when it first shows that page
// (or hydrates it, when the visit starts there). The main bundle keeps the shell, the router
// and My City, the page most visits start on. The pages make their own resources, so a
// route's data half is empty.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    Consent => ConsentPage,
    Permissions => PermissionsPage,
    DataUse => DataUsePage,
    Console => ConsolePage,
    ConsoleService => ConsoleServicePage,
    Transparency => TransparencyPage,
    Records => RecordsPage,
    Devices => DevicesPage,
    Verify => VerifyPage,
}

#[component]
fn Header() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let t = use_messages();
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                "onecity"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let me = me.await.ok().flatten();
                    view! { <Nav me /> }
                })}
            </Transition>
            <div class="header-tools">
                <LanguageSwitch />
                <Transition fallback=|| view! { <span class="muted">"…"</span> }>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(Some(me)) => {
                                view! {
                                    <span class="signed-in-as" id="signed-in-name">
                                        {me.name}
                                    </span>
                                    <form method="post" action="/auth/logout" class="inline">
                                        <button type="submit" id="logout-button">
                                            {t.sign_out}
                                        </button>
                                    </form>
                                }
                                    .into_any()
                            }
                            _ => {
                                let location = use_location();
                                let href = move || {
                                    let back = format!("{}{}", location.pathname.get(), location.search.get());
                                    crate::session::sign_in_href(&back)
                                };
                                view! {
                                    // rel=external: a full navigation to the server route, not the client router.
                                    <a href=href rel="external" id="login-link" class="button">
                                        {t.sign_in}
                                    </a>
                                }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
        </header>
    }
}

/// The pages this person can use. `aria-current` marks where they are.
#[component]
fn Nav(me: Option<Me>) -> impl IntoView {
    let t = use_messages();
    let resident = me.as_ref().is_some_and(|m| m.is_resident);
    let staff = me.as_ref().is_some_and(|m| m.roles.iter().any(|r| r == ROLE_AGENCY_STAFF));
    view! {
        <nav aria-label=t.nav_label class="site-nav">
            <ul>
                <li>
                    <A href="/" exact=true>
                        {if resident { t.nav_my_city } else { t.nav_city }}
                    </A>
                </li>
                {resident
                    .then(|| {
                        view! {
                            <li>
                                <A href="/permissions">{t.nav_permissions}</A>
                            </li>
                            <li>
                                <A href="/data-use">{t.nav_data_use}</A>
                            </li>
                            <li>
                                <A href="/records">{t.nav_records}</A>
                            </li>
                            <li>
                                <A href="/devices">{t.nav_devices}</A>
                            </li>
                        }
                    })}
                {staff
                    .then(|| {
                        view! {
                            <li>
                                <A href="/console">{t.nav_console}</A>
                            </li>
                        }
                    })}
                <li>
                    <A href="/transparency">{t.nav_transparency}</A>
                </li>
            </ul>
        </nav>
    }
}

/// Two buttons in a plain form: a full page load in the chosen language, with or without
/// JavaScript. The server remembers the choice (cookie, and the account when signed in).
#[component]
fn LanguageSwitch() -> impl IntoView {
    let t = use_messages();
    let current = use_locale();
    let location = use_location();
    let back = move || format!("{}{}", location.pathname.get(), location.search.get());
    view! {
        <form method="post" action="/locale" class="lang-switch" aria-label=t.language>
            <input type="hidden" name="back" value=back />
            <button type="submit" name="lang" value="en" lang="en" aria-pressed=(current == Locale::En).to_string()>
                "English"
            </button>
            <button
                type="submit"
                name="lang"
                value="zh-CN"
                lang="zh-CN"
                aria-pressed=(current == Locale::Zh).to_string()
            >
                "中文"
            </button>
        </form>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let t = use_messages();
    view! {
        <Title text=format!("{} — onecity", t.not_found_title) />
        <h1>{t.not_found_title}</h1>
        <p>
            <a href="/">{t.back_to_city}</a>
        </p>
    }
}
