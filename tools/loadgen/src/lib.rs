//! What the load tools share: the slice of the protocol they speak (`proto`) and what they read
//! of the server under test from /proc (`procfs`). Like the binaries, this must stay free of the
//! server's crates: the tools are clients like any other.

pub mod procfs;
pub mod proto;
