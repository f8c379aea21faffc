fn main() -> std::process::ExitCode {
    pbs::cli::main()
}
