//! The firedrill command line: parse, run, map to an exit code.

fn main() -> std::process::ExitCode {
    firedrill::cli::main()
}
