//! CLI tests: the real `dv` binary in real Git repositories. One test binary, a module per command.
// Tests, benchmarks and examples print as they like (clippy.toml's rule is for src/cli).
#![allow(clippy::disallowed_macros)]

mod common;
#[path = "../support/emulators.rs"]
mod emulators;
#[path = "../support/s3_server.rs"]
mod s3_server;

mod add;
mod backends;
mod checkout;
mod crash;
mod diff_html;
mod diskfull;
mod errors;
mod format;
mod gitindex;
mod gitside;
mod history;
mod hostile;
mod init;
mod jsonshape;
mod maintain;
mod manual;
mod merge;
mod meta;
mod migrate;
mod model;
mod oldformat;
mod partial;
mod paths;
mod permissions;
mod pipeline;
mod registry;
mod remote;
mod remoteerr;
mod remotegc;
mod sharedremote;
mod statemachine;
mod status;
mod table;
mod tempnames;
