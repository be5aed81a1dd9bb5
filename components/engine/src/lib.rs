//! The Docker Engine (`dockerd`): an HTTP API server in front of an image store, a
//! container store and containerd, which runs the containers.
//!
//! Requests arrive in [`api`], which parses them and calls into the [`daemon::Daemon`]
//! state: [`images`] (layers unpacked once under the data root), [`containers`] (config,
//! lifecycle, I/O), [`volumes`], [`events`]; containers run through [`containerd`] as
//! dockerd's do (namespace `moby`, runtime `io.containerd.runc.v2`).

#![recursion_limit = "256"]

mod api;
mod config;
mod containerd;
mod containers;
mod daemon;
mod events;
mod ids;
mod images;
mod logging;
mod volumes;

pub use daemon::main;
