//! Integration tests: a real server on an ephemeral port, real WebSocket clients.

mod archive;
mod browser;
mod edge;
mod liap_tui;
mod lobby;
mod misuse;
mod page;
mod play;
mod resilience;
mod rooms;
mod storage;
mod versions;
