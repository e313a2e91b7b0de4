//! Tabula: a multiplayer game host whose game rules are sandboxed WebAssembly components.
//!
//! ```text
//!   clients ──WebSocket──► api (axum: /ws reader+writer per connection, protocol, health, metrics)
//!                            │  RoomHandle (bounded inbox; replies and updates via Outbox queues)
//!                            ▼
//!                          room (one actor task per room: state bytes, seats, bots, timers, seq)
//!                            │  Module calls (host types only)
//!                            ▼
//!                          rules (sandbox: wasmtime, bindgen! of wit/, limits, pools, cache)
//!                            │
//!                            ▼
//!                          rules modules (components built from rules/* by rules/bundle)
//! ```
//!
//! - [`rules`] is the only place that knows wasmtime: it turns component bytes into a
//!   [`rules::Module`] whose calls take and return the host's own types, under a CPU budget, a
//!   wall-clock deadline, a memory cap and an output cap.
//! - [`room`] owns games: every input is a [`room::RoomCmd`], applied one at a time; the room
//!   never waits for a connection.
//! - [`api`] speaks the protocol of `docs/protocol.md` and reaches rooms only through handles;
//!   [`session`] maps tokens to players.
//! - [`modules`] finds modules (bundled or files) and keeps the catalog of installed games;
//!   [`replay`] holds game records and replays them; [`config`], [`metrics`], [`server`] wire it
//!   together; [`cli`] is the `tabula` command line.
//!
//! Storage (the event log), hot swap and clustering come next and will reach games only through
//! room commands.

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
pub mod store;
