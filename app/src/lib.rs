//! The onecity portal's user interface: Leptos components, routes and server functions.
//!
//! Built twice: with `ssr` into the server (server-side rendering and the server functions'
//! bodies), and with `hydrate` into the WebAssembly bundle that makes the same pages
//! interactive in the browser. Server-only code lives behind `#[cfg(feature = "ssr")]`.
//!
//! * [`root`]: the HTML shell, the app and its routes: the only module that names pages;
//! * [`pages`]: one module per page; pages use components and server functions, never each
//!   other;
//! * [`components`]: the parts pages share (badges, tables, the map, charts);
//! * [`serverfns`]: the view types and server functions, one module per resource, with the
//!   traits the server crate implements;
//! * [`session`]: who is signed in; [`i18n`]: the two languages; [`error`]: `AppError`;
//!   [`verify`]: the proof checks the browser runs.

pub mod components;
pub mod error;
pub mod i18n;
pub mod pages;
pub mod root;
pub mod serverfns;
pub mod session;
pub mod verify;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes (root.rs) hydrate once their chunk has loaded.
    leptos::mount::hydrate_lazy(root::App);
}
