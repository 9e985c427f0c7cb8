//! The `dv` binary: the command-line front end of dv-core.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
