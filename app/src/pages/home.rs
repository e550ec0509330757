//! The home page: the public city for visitors, a personal greeting for residents.

use leptos::prelude::*;

use crate::api::list_districts;
use crate::app::MeResource;

#[component]
pub fn HomePage() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let districts = Resource::new(|| (), |_| list_districts());

    view! {
        <section class="hero" aria-labelledby="home-title">
            <Transition fallback=|| view! { <h1 id="home-title">"Welcome to onecity"</h1> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => {
                            let district = me
                                .district
                                .map(|d| format!("You live in {}.", d.name_en))
                                .unwrap_or_else(|| "Your district is not set yet.".to_owned());
                            view! {
                                <h1 id="home-title">
                                    "Hello, " <span id="greeting-name">{me.name}</span>
                                </h1>
                                <p class="lead">{district}</p>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <h1 id="home-title">"Welcome to onecity"</h1>
                                <p class="lead">
                                    "One person, one city: sign in to see the city built from the data you choose to share — and every use of it, with a proof."
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        <section aria-labelledby="districts-title">
            <h2 id="districts-title">"Districts"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading districts…"</p> }>
                <ErrorBoundary fallback=|_| view! { <p role="alert">"The districts could not be loaded."</p> }>
                    {move || Suspend::new(async move {
                        districts
                            .await
                            .map(|list| {
                                view! {
                                    <ul class="district-list" id="district-list">
                                        {list
                                            .into_iter()
                                            .map(|d| {
                                                view! {
                                                    <li lang="en">
                                                        {d.name_en} " " <span lang="zh-CN">{d.name_zh}</span>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                            })
                    })}
                </ErrorBoundary>
            </Suspense>
        </section>
    }
}
