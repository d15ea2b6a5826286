//! `fleetsim doc-commands FILE...`: every `fleetsim` command that the
//! guide shows in its shell blocks (also spelled `cargo run --release --`),
//! parsed with the real command line — so a renamed flag, a removed
//! subcommand or a bad value in the docs fails a test. Nothing is run; the
//! shipped scenarios the commands name are run by CI's own loop (`.ci/run`).

use std::fmt::Write;

use clap::Parser;

use crate::cli::{Cli, Exit};

/// Parses the commands of `files`; prints how many parsed, or each problem.
pub(crate) fn check(files: &[std::path::PathBuf]) -> Exit {
    let mut problems = String::new();
    let mut parsed = 0;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => return Exit::BadInput(format!("{}: {e}", file.display())),
        };
        for (line, args) in commands(&text) {
            match Cli::try_parse_from(&args) {
                Ok(_) => parsed += 1,
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or_default();
                    let _ = writeln!(
                        problems,
                        "{}:{line}: `{}`: {first}",
                        file.display(),
                        args.join(" ")
                    );
                }
            }
        }
    }
    if problems.is_empty() {
        println!("{parsed} commands parse");
        Exit::Pass
    } else {
        Exit::Failed(format!(
            "commands in the docs that do not parse:\n{problems}"
        ))
    }
}

/// `(line number, argv)` of each `fleetsim` command in `text`'s `sh`
/// blocks. Lines continued with `\` are joined; a command ends at an
/// unquoted `#`, `&`, `;`, `|` or `>`; leading `VAR=value` words are
/// dropped; commands with shell substitutions (`$`) are skipped.
fn commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_sh = !in_sh && matches!(info.trim(), "sh" | "bash" | "shell" | "console");
            continue;
        }
        if !in_sh {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        joined.push_str(trimmed.trim_start_matches("$ "));
        if let Some(body) = joined.strip_suffix('\\') {
            pending = Some((start, format!("{body} ")));
            continue;
        }
        if let Some(args) = argv(&joined) {
            out.push((start, args));
        }
    }
    out
}

/// The argv of a `fleetsim` command line, or `None` when it is not one.
fn argv(line: &str) -> Option<Vec<String>> {
    let words = split(line)?;
    let mut words = words
        .into_iter()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'));
    let mut args = vec!["fleetsim".to_string()];
    match words.next()?.as_str() {
        "fleetsim" => {}
        "cargo" => {
            let prefix: Vec<String> = words.by_ref().take(3).collect();
            if prefix != ["run", "--release", "--"] {
                return None;
            }
        }
        _ => return None,
    }
    args.extend(words);
    Some(args)
}

/// Shell words up to the first unquoted `#`, `&`, `;`, `|` or `>`; `None`
/// when the line uses a substitution.
fn split(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut has_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has_word = true;
            }
            (None, '$' | '`') => return None,
            (None, '#' | '&' | ';' | '|' | '>') => break,
            (None, c) if c.is_whitespace() => {
                if has_word || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    has_word = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if has_word || !word.is_empty() {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_from_shell_blocks_only() {
        let text = "fleetsim run x.yaml\n```sh\nfleetsim run a.yaml --seed 3   # note\n\
                    FOO=1 cargo run --release -- serve \\\n    --listen 127.0.0.1:0 &\n\
                    for i in 0 1; do fleetsim run b.yaml --shard $i/2; done\ncurl -s x\n```\n";
        let got = commands(text);
        let argvs: Vec<String> = got.iter().map(|(_, a)| a.join(" ")).collect();
        assert_eq!(
            argvs,
            [
                "fleetsim run a.yaml --seed 3",
                "fleetsim serve --listen 127.0.0.1:0"
            ]
        );
        assert_eq!(got[1].0, 4);
    }
}
