//! `fleetsim` command line: parse arguments, call the library, map outcomes
//! to exit codes (0 pass, 1 violations or unmet expectations, 2 bad input,
//! 3 infrastructure failure).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
