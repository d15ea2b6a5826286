//! `index.html` of a conformance run: the score, then one row per case
//! (ID, result, what it checks, the clause, the reason) with its evidence
//! folded under it. Self-contained, in the run report's style
//! ([`crate::report`]'s stylesheet), no scripts.

use std::fmt::Write as _;

use super::super::html::{escape, CSS};
use super::{evidence_text, ConformReport};

/// Extra rules for the case table.
const CONFORM_CSS: &str = "
.skip{background:#9aa0a6}
td.PASS{color:#188038;font-weight:bold}td.FAIL{color:#d93025;font-weight:bold}td.SKIP{color:#5f6368;font-weight:bold}
details pre{white-space:pre-wrap;font-size:12px;background:#f8f9fa;padding:6px;max-height:400px;overflow:auto}
";

/// Renders `r` as one self-contained HTML page.
pub fn render(r: &ConformReport) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let title = format!("fleetsim conform {}: {}", r.profile, escape(&r.target));
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}{CONFORM_CSS}</style>\n</head>\n<body>\n"
    );
    let (class, word) = match (r.passed(), r.counts.fail) {
        (true, _) => ("pass", "CONFORMS"),
        (false, 0) => ("skip", "INCOMPLETE"),
        (false, _) => ("fail", "DEVIATES"),
    };
    let _ = write!(
        o,
        "<header><h1>{title}<span class=\"verdict {class}\">{word}</span></h1>\n\
         <div class=\"meta\">{} · management adapter <code>{}</code> · {} · {} ms</div></header>\n<main>\n",
        escape(&r.fleetsim),
        escape(&r.manage),
        escape(&r.score()),
        r.duration_ms
    );
    o.push_str(
        "<section><h2>Cases</h2><table>\n<tr><th>case</th><th>result</th><th>checks</th>\
         <th>clause</th><th class=\"n\">ms</th></tr>\n",
    );
    for c in &r.cases {
        let _ = write!(
            o,
            "<tr id=\"{id}\"><td><code>{id}</code></td><td class=\"{res}\">{res}</td><td>{}",
            escape(&c.title),
            id = escape(&super::row_id(c)),
            res = c.outcome.as_str()
        );
        if let Some(reason) = &c.reason {
            let _ = write!(o, "<br><em>{}</em>", escape(reason));
        }
        if !c.evidence.is_empty() {
            let _ = write!(
                o,
                "<details><summary>evidence ({} items)</summary><pre>{}</pre></details>",
                c.evidence.len(),
                escape(&evidence_text(c))
            );
        }
        let _ = writeln!(
            o,
            "</td><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&c.clause),
            c.duration_ms
        );
    }
    o.push_str("</table></section>\n</main>\n");
    let _ = writeln!(
        o,
        "<footer>A card passes only when every case is PASS; a SKIP is not a pass.</footer>\n</body>\n</html>"
    );
    o
}
