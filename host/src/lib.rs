//! Tabula: a multiplayer game host whose game rules are sandboxed WebAssembly components.
//!
//! ```text
//!   cli ──────────────┐
//!                     ▼
//!   rules (sandbox) ◄─ modules (catalog of bundled and loaded rule versions)
//!     │  wasmtime engine, bindgen! of wit/, pools, limits, artifact cache
//!     ▼
//!   rules modules (wasm components built from rules/* by rules/bundle)
//! ```
//!
//! - [`rules`] is the only place that knows wasmtime: it turns component bytes into a
//!   [`rules::Module`] whose calls take and return the host's own types, under a CPU budget, a
//!   wall-clock deadline, a memory cap and an output cap.
//! - [`modules`] resolves a module by bundled name or file.
//! - [`replay`] holds game records (seed, options, every input) and replays them.
//! - [`cli`] is the `tabula` command line.
//!
//! Rooms, the WebSocket protocol, storage and clustering come next and will reach rules only
//! through [`rules::Module`].

pub mod api;
pub mod cli;
pub mod config;
pub mod ids;
pub mod metrics;
pub mod modules;
pub mod replay;
pub mod room;
pub mod rules;
pub mod server;
pub mod session;
