//! The guide's links hold: every relative link of README.md and of
//! docs/guide/ names a file that exists and, with `#anchor`, a heading of
//! that file (slugs as mdBook and GitHub make them); every `{{#include}}`
//! names a file (and anchor) that exists; SUMMARY.md lists every chapter
//! and every chapter it lists exists. `scripts/docs` builds the book itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GUIDE: &str = "docs/guide";

/// The markdown files checked: README.md and the guide, sorted.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("guide dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = vec![PathBuf::from("README.md")];
    walk(Path::new(GUIDE), &mut out);
    out.sort();
    out
}

/// `text` without fenced code blocks and inline code spans (links inside
/// them are examples, not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of `[text](target)` links in `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            let target = &rest[..end];
            if !target.contains(char::is_whitespace) {
                out.push(target.to_string());
            }
        }
    }
    out
}

/// The anchors of a markdown file's headings, as mdBook makes them
/// (`normalize_id`: lowercase alphanumerics, `-` and `_`; whitespace → `-`;
/// a repeated heading gets `-1`, `-2`, …). GitHub makes the same ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let title = heading.trim_start_matches('#').trim();
        let slug: String = title
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_lowercase().next().unwrap_or(c))
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let mut unique = slug.clone();
        let mut n = 1;
        while out.contains(&unique) {
            unique = format!("{slug}-{n}");
            n += 1;
        }
        out.insert(unique);
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `target` (a relative link of `page`) as a problem, or `None` when it holds.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let dir = page.parent().unwrap_or(Path::new("."));
    let path = if file.is_empty() {
        page.to_path_buf()
    } else {
        dir.join(file)
    };
    if !path.exists() {
        return Some(format!("{}: no file {target}", page.display()));
    }
    let markdown = path.extension().is_some_and(|e| e == "md");
    if !anchor.is_empty() && markdown && !anchors(&read(&path)).contains(anchor) {
        return Some(format!("{}: no heading for {target}", page.display()));
    }
    None
}

#[test]
fn docs_links_name_files_and_headings_that_exist() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = read(&page);
        for target in links(&prose(&text)) {
            checked += 1;
            problems.extend(broken(&page, &target));
        }
        for line in text.lines() {
            let Some(inc) = line.trim().strip_prefix("{{#include ") else {
                continue;
            };
            let inc = inc.trim_end_matches("}}").trim();
            let (file, anchor) = inc.split_once(':').unwrap_or((inc, ""));
            let path = page.parent().unwrap_or(Path::new(".")).join(file);
            let ok = path.exists()
                && (anchor.is_empty() || read(&path).contains(&format!("ANCHOR: {anchor}")));
            if !ok {
                problems.push(format!("{}: broken include {inc}", page.display()));
            }
        }
    }
    assert!(checked > 100, "found the guide's links ({checked})");
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn docs_links_summary_lists_every_chapter() {
    let summary = read(&Path::new(GUIDE).join("SUMMARY.md"));
    let listed: BTreeSet<PathBuf> = links(&summary)
        .iter()
        .map(|l| Path::new(GUIDE).join(l))
        .collect();
    for chapter in &listed {
        assert!(chapter.exists(), "SUMMARY.md lists {}", chapter.display());
    }
    for page in pages().into_iter().filter(|p| p.starts_with(GUIDE)) {
        if page.ends_with("SUMMARY.md") {
            continue;
        }
        assert!(
            listed.contains(&page),
            "{} is not in docs/guide/SUMMARY.md",
            page.display()
        );
    }
}
