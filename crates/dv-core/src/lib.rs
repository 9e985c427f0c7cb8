//! dv-core: version large files, folders and tables next to Git.
//!
//! This crate does all the work and never talks to the terminal; the `dv` binary (the repository's root
//! package, `src/cli`) is the only place that prints or parses arguments. See `docs/architecture.md` for the map.

#![forbid(unsafe_code)]

#[macro_use]
mod words;

pub mod chunk;
pub mod cut;
pub mod error;
pub mod fault;
pub mod fsutil;
pub mod git;
pub mod id;
pub mod lock;
pub mod migrate;
pub mod model;
pub mod ops;
pub mod paths;
pub mod pointer;
pub mod progress;
pub mod redact;
pub mod registry;
pub mod remote;
pub mod repo;
pub mod secret;
pub mod session;
pub mod settings;
pub mod steps;
pub mod store;
pub mod table;
mod toml_text;
pub mod yaml;

pub use error::{Error, Result};
pub use id::ObjectId;
pub use settings::Settings;
