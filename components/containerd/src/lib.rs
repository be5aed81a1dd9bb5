//! containerd, its runc v2 shim and ctr, in Rust: the daemon speaks containerd's gRPC
//! API (message types from `containerd-client`), the shim speaks the shim v2 ttrpc
//! protocol (types from `containerd-shim-protos`), and `ctr` is a client of the daemon.

pub mod ctr;
pub mod daemon;
pub mod shim;
mod timefmt;
