//! Virtual-time runs, reports, shrink, the CLI and the TUI: one test binary (a binary per file cost a link each).

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod cli;
mod determinism;
mod docs;
mod docs_links;
mod gateway_ddi;
mod gateways;
mod html_report;
mod invariants;
mod k8s_shards;
mod reports;
mod shrink;
mod tui;
mod tui_tmux;
