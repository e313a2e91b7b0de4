//! The load tools' library: the turn-room workload (`load`, driving `room`s of `client`s, figures
//! in `report`), the soak's misbehaving clients (`hostile`), the slice of the protocol they speak (`proto`) and what they read of the server
//! under test from /proc (`procfs`). Like the binaries, this must stay free of the server's
//! crates: the tools are clients like any other.

pub mod client;
pub mod hostile;
pub mod load;
pub mod procfs;
pub mod proto;
pub mod report;
pub mod room;
