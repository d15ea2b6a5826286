//! `fleetsim` command line: parse arguments, run the command, map its
//! outcome to an exit code (0 pass, 1 violations or unmet expectations,
//! 2 bad input, 3 infrastructure failure).

use std::process::ExitCode;

use clap::Parser;

mod cli;

use cli::Exit;

/// mimalloc instead of glibc's malloc: a real-time run allocates and frees
/// a few small objects per request (the request, its answer, the kept trace
/// lines) across one or more threads, where glibc spent about 15 % of the
/// driver's CPU (`_int_malloc`, `malloc_consolidate`, `brk`). Built without
/// the `mimalloc` feature, the binary uses the system allocator (for heap
/// profilers).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let (code, message) = match cli::dispatch(args) {
        Exit::Pass => (0, None),
        Exit::Violations => (1, None),
        Exit::Failed(msg) => (1, Some(msg)),
        Exit::BadInput(msg) => (2, Some(msg)),
        Exit::Infrastructure(e) => (3, Some(format!("{e:#}"))),
    };
    if let Some(msg) = message {
        eprintln!("error: {msg}");
    }
    ExitCode::from(code)
}
