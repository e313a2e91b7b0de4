//! Tabula: a multiplayer game host whose game rules are sandboxed WebAssembly components.
//!
//! ```text
//!   clients ──WebSocket──► api      axum edge: a reader and a writer task per connection; the
//!                           │       wire types, error codes and close codes live here only
//!                           │  RoomHandle (bounded inbox)        ▲ typed Outgoing messages
//!                           ▼                                    │ (held until durable)
//!                          room     one actor task per room:
//!                           │         Game (pure core) · Sandboxed calls · Seats · Deadlines
//!                           │         Release (append the entry, hold the outputs)
//!              ┌────────────┼──────────────────┐
//!              ▼            ▼                  ▼
//!           rules        store (ports)     modules (port)
//!         the sandbox    EventLog, Session-  ModuleCatalog: versions by
//!         (wasmtime)     Store, Archive;     name + version + digest, an
//!                        in memory, SQLite,  active version per game
//!                        PostgreSQL
//! ```
//!
//! - Dependencies point one way: [`api`] → [`room`] → [`rules`], and [`room`] / [`session`] →
//!   the ports ([`store`], [`modules`]). `room` and `session` know nothing of the wire: they
//!   return their own errors ([`room::RoomError`], [`session::SessionError`]) and push typed
//!   [`room::Outgoing`] messages; [`api::errors`] maps errors and close reasons to codes once.
//! - [`rules`] is the only place that knows wasmtime: it turns component bytes into a
//!   [`rules::Module`] whose calls take and return the host's own types, under a CPU budget, a
//!   wall-clock deadline, a memory cap and an output cap.
//! - A room is the single owner of its game. Every input is a [`room::RoomCmd`] or a deadline
//!   it set itself; its game core applies the input and returns the log entry and the updates
//!   without doing I/O; the entry is appended to the event log (which returns at once) and
//!   nothing the input produced — updates, acks, refusals, replies — leaves before the log says
//!   the entry is durable.
//! - A module call runs inline within a small fuel slice; one that needs more is made again on
//!   the blocking pool, so a module that runs long never holds up the connections' I/O.
//! - [`replay`] holds game records and replays them; [`config`], [`metrics`], [`server`] wire it
//!   together; [`cli`] is the `tabula` command line.

pub mod api;
pub mod cli;
pub mod config;
mod counts;
pub mod ids;
pub mod metrics;
pub mod modules;
pub mod replay;
pub mod room;
pub mod rules;
pub mod server;
pub mod session;
pub mod store;
