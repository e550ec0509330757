//! The document shell, the router and the layout every page shares.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

use crate::api::{Me, get_me};
use crate::pages::home::HomePage;

/// The Content-Security-Policy the server wants on every page, with `{nonce}` where the
/// per-response script nonce goes. Provided by the server as context.
#[derive(Clone, Debug)]
pub struct CspTemplate(pub String);

/// The HTML document around the app. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_csp_header();
    view! {
        <!DOCTYPE html>
        <html lang="en">
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
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Header />
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::InOrder />
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"onecity — your data, your city, every use on the record."</p>
            </footer>
        </Router>
    }
}

/// Who is signed in, for any component below [`App`].
pub type MeResource = Resource<Result<Option<Me>, ServerFnError>>;

#[component]
fn Header() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                "onecity"
            </a>
            <nav aria-label="Account">
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
                                            "Sign out"
                                        </button>
                                    </form>
                                }
                                    .into_any()
                            }
                            _ => {
                                view! {
                                    // rel=external: a full navigation to the server route, not the client router.
                                    <a href="/auth/login" rel="external" id="login-link" class="button">
                                        "Sign in"
                                    </a>
                                }
                                    .into_any()
                            }
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found — onecity" />
        <h1>"Page not found"</h1>
        <p>
            <a href="/">"Back to the city"</a>
        </p>
    }
}
