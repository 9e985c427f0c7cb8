//! dv: version large files, folders and tables next to Git.
//!
//! The library does all the work and never talks to the terminal; the `cli` module is the only place that
//! prints, reads the environment or parses arguments. See `docs/architecture.md` for the map.

pub mod chunk;
pub mod cli;
pub mod error;
pub mod fault;
pub mod fsutil;
pub mod git;
pub mod id;
pub mod lock;
pub mod meta;
pub mod model;
pub mod ops;
pub mod paths;
pub mod pointer;
pub mod progress;
pub mod redact;
pub mod remote;
pub mod remote_http;
pub mod repo;
pub mod secret;
pub mod store;
pub mod table;

pub use error::{Error, Result};
pub use id::ObjectId;
