//! The onecity portal's user interface: Leptos components, routes and server functions.
//!
//! Built twice: with `ssr` into the server (server-side rendering and the server functions'
//! bodies), and with `hydrate` into the WebAssembly bundle that makes the same pages
//! interactive in the browser. Server-only code lives behind `#[cfg(feature = "ssr")]`.

pub mod agency;
pub mod api;
pub mod app;
pub mod auth;
pub mod city;
pub mod error;
pub mod i18n;
pub mod pages;
pub mod resident;
pub mod verify;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes (app.rs) hydrate once their chunk has loaded.
    leptos::mount::hydrate_lazy(app::App);
}
