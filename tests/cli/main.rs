//! CLI tests: the real `dv` binary in real Git repositories. One test binary, a module per command.

mod common;

mod add;
mod checkout;
mod errors;
mod history;
mod init;
mod remote;
mod status;
