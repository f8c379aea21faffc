//! The `pbs` command line, for the tests to run as a real process.
fn main() -> std::process::ExitCode {
    pbs::cli::main()
}
