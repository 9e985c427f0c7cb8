fn main() -> std::process::ExitCode {
    dv::cli::main()
}
