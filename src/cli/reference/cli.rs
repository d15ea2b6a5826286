//! The CLI reference: every visible subcommand of [`Cli`], its usage line
//! and a table of its arguments, read from clap's `Command` (so help texts,
//! defaults, environment variables and allowed values are the parser's own).
//! Environment variables are named, never their values.

use std::fmt::Write;

use clap::{Arg, Command, CommandFactory};

use super::{cell, header};
use crate::cli::Cli;

/// The page's markdown.
pub(super) fn page() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = header(
        "CLI reference",
        "the command line's clap definitions (`src/cli/args.rs`)",
        "cli",
    );
    if let Some(about) = root.get_about() {
        let _ = writeln!(out, "`fleetsim`: {about}.\n");
    }
    out.push_str(
        "Exit codes: 0 the run met its expectations, 1 violations or unmet \
         expectations, 2 bad input (scenario, flags, files), 3 infrastructure failure.\n\n",
    );
    out.push_str("Commands:\n\n");
    for sub in visible(&root) {
        let _ = writeln!(
            out,
            "- [`fleetsim {}`](#fleetsim-{}): {}",
            sub.get_name(),
            sub.get_name(),
            cell(&sub.get_about().map(|a| a.to_string()).unwrap_or_default())
        );
    }
    out.push('\n');
    for sub in visible(&root) {
        command(&mut out, sub, "fleetsim");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn visible(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

/// One subcommand's section (its own subcommands nested below it).
fn command(out: &mut String, cmd: &Command, parent: &str) {
    let path = format!("{parent} {}", cmd.get_name());
    let _ = writeln!(out, "## `{path}`\n");
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        let _ = writeln!(out, "{}\n", cell(&about.to_string()));
    }
    if cmd.has_subcommands() {
        for sub in visible(cmd) {
            command(out, sub, &path);
        }
        return;
    }
    let usage = cmd.clone().render_usage().to_string();
    let _ = writeln!(out, "```text\n{}\n```\n", usage.trim_end());
    let args: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if args.is_empty() {
        return;
    }
    out.push_str("| argument | default | environment | what |\n|---|---|---|---|\n");
    for arg in args {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            spelling(arg),
            default(arg),
            arg.get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default(),
            what(arg)
        );
    }
    out.push('\n');
}

/// `<SCENARIO>`, `--seed <SEED>`, `-q, --quiet`.
fn spelling(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    if arg.is_positional() {
        let dots = if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
            "..."
        } else {
            ""
        };
        return format!("`{value}{dots}`");
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("--{long}"));
    }
    let takes_value = arg.get_action().takes_values();
    let names = names.join(", ");
    if takes_value {
        format!("`{names} {value}`")
    } else {
        format!("`{names}`")
    }
}

fn default(arg: &Arg) -> String {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if values.is_empty() || !arg.get_action().takes_values() {
        String::new()
    } else {
        format!("`{}`", values.join(" "))
    }
}

/// The help text, with the allowed values when clap knows them.
fn what(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("`{}` ({help})", v.get_name()),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    if !values.is_empty() && arg.get_action().takes_values() {
        if !text.trim_end().ends_with('.') {
            text.push('.');
        }
        text.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    cell(&text)
}
