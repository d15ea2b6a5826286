//! A scan of a scenario's nesting depth before serde_yaml parses it.
//!
//! libyaml (under serde_yaml) reads the whole document before serde_yaml's
//! own recursion limit (128 levels) applies, and it takes time quadratic in
//! the depth of nested flow collections: `fleet: [[[…]]]` 150 000 levels
//! deep (300 KB) took 39 s to reject. This scan runs in one linear pass and
//! stops at the first node nested deeper than [`MAX_DEPTH`], with its line
//! and column.
//!
//! It follows just enough of YAML to count open collections: flow brackets
//! outside quotes and comments, block levels by indentation and `- ` / `? `
//! entries, and it skips block scalars (`|`, `>`). Where it guesses (a
//! continuation line of a plain scalar counts as a level until the next
//! line) it guesses one level too many, which the margin between
//! [`MAX_DEPTH`] and real scenarios absorbs.

/// Deepest nesting of lists and maps a scenario may have. The schema
/// itself nests 5 levels (`fleet[0].connectivity.latency.p50`); the bound
/// leaves room for YAML written oddly and stays below serde_yaml's 128.
pub const MAX_DEPTH: usize = 64;

/// 1-based `(line, column)` of the first node nested deeper than
/// [`MAX_DEPTH`], if there is one.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut scan = Scan::default();
    for (i, line) in text.lines().enumerate() {
        if let Err(column) = scan.line(line) {
            return Some((i + 1, column));
        }
    }
    None
}

#[derive(Default)]
struct Scan {
    /// 0-based columns of the open block nodes, innermost last.
    block: Vec<usize>,
    /// Open flow collections (`[`, `{`).
    flow: usize,
    /// The quote of a quoted scalar that goes on past the end of a line.
    quote: Option<char>,
    /// Inside a block scalar whose lines are indented deeper than this.
    literal_above: Option<usize>,
}

impl Scan {
    /// Scans one line; `Err(column)` (1-based) at a node too deep.
    fn line(&mut self, text: &str) -> Result<(), usize> {
        let indent = text.len() - text.trim_start_matches(' ').len();
        let rest = &text[indent..];
        if let Some(parent) = self.literal_above {
            if rest.is_empty() || indent > parent {
                return Ok(());
            }
            self.literal_above = None;
        }
        let in_block = self.quote.is_none() && self.flow == 0;
        if in_block {
            if rest.is_empty() || rest.starts_with('#') {
                return Ok(());
            }
            if indent == 0 && (rest.starts_with("---") || rest.starts_with("...")) {
                self.block.clear();
            } else {
                self.open_block(indent)?;
            }
        }
        self.chars(text, indent)
    }

    /// A block node starts at 0-based `column`.
    fn open_block(&mut self, column: usize) -> Result<(), usize> {
        while self.block.last().is_some_and(|&c| c > column) {
            self.block.pop();
        }
        if self.block.last() != Some(&column) {
            self.block.push(column);
        }
        self.check(column)
    }

    fn check(&self, column: usize) -> Result<(), usize> {
        if self.block.len() + self.flow > MAX_DEPTH {
            Err(column + 1)
        } else {
            Ok(())
        }
    }

    /// Scans the characters of a line from byte `from` (its indentation).
    fn chars(&mut self, text: &str, from: usize) -> Result<(), usize> {
        // True where a node may start: quotes, brackets and block
        // indicators mean something there and are plain text elsewhere.
        let mut node_start = true;
        let mut after_space = true;
        let mut nested_entry = false;
        let mut skip_word = false;
        let mut chars = text[from..].chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            let column = from + i;
            let next = chars.peek().map(|&(_, n)| n);
            if let Some(q) = self.quote {
                match (q, c) {
                    ('"', '\\') => {
                        chars.next();
                    }
                    ('\'', '\'') if next == Some('\'') => {
                        chars.next();
                    }
                    _ if c == q => self.quote = None,
                    _ => {}
                }
                node_start = false;
                continue;
            }
            if c == ' ' || c == '\t' {
                after_space = true;
                skip_word = false;
                continue;
            }
            if skip_word {
                continue;
            }
            let was_after_space = std::mem::replace(&mut after_space, false);
            if nested_entry && self.flow == 0 {
                // The node after `- ` is nested in the entry.
                nested_entry = false;
                self.open_block(column)?;
            }
            let spaced = next.is_none_or(|n| n == ' ' || n == '\t');
            match c {
                '#' if was_after_space => return Ok(()),
                '"' | '\'' if node_start => {
                    self.quote = Some(c);
                    node_start = false;
                }
                '[' | '{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    self.check(column)?;
                    node_start = true;
                }
                ']' | '}' if self.flow > 0 => {
                    self.flow -= 1;
                    node_start = false;
                }
                ',' if self.flow > 0 => node_start = true,
                '-' | '?' if node_start && spaced && self.flow == 0 => nested_entry = true,
                ':' if spaced || self.flow > 0 => node_start = true,
                '|' | '>' if node_start && self.flow == 0 => {
                    self.literal_above = Some(from);
                    return Ok(());
                }
                '&' | '!' if node_start => skip_word = true,
                _ => node_start = false,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_flow_and_block_levels() {
        let flow = |d: usize| format!("a: {}{}\n", "[".repeat(d), "]".repeat(d));
        assert_eq!(too_deep(&flow(MAX_DEPTH - 1)), None);
        // The root map is one level, so bracket MAX_DEPTH is one too many.
        assert_eq!(too_deep(&flow(MAX_DEPTH)), Some((1, 4 + MAX_DEPTH - 1)));
        let block: String = (0..MAX_DEPTH + 1)
            .map(|i| format!("{}- \n", " ".repeat(2 * i)))
            .collect();
        assert_eq!(too_deep(&block), Some((MAX_DEPTH + 1, 2 * MAX_DEPTH + 1)));
        let compact = format!("{}x\n", "- ".repeat(MAX_DEPTH + 1));
        assert_eq!(too_deep(&compact), Some((1, 2 * MAX_DEPTH + 1)));
    }

    #[test]
    fn brackets_in_quotes_comments_and_text_do_not_count() {
        let many = "[".repeat(2 * MAX_DEPTH);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: 'it''s {many}'\n"),
            format!("a: \"multi\n  line {many}\"\n"),
            format!("a: 1 # {many}\n"),
            format!("a: x{many}\n"),
            format!("a: don't {many}\n"),
            format!("a: |\n  {many}\n  {many}\nb: 1\n"),
            format!("- >-\n    {many}\n- x\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
        // After a block scalar, counting resumes.
        let after = format!("a: |\n  x\nb: {}\n", "[".repeat(MAX_DEPTH));
        assert_eq!(too_deep(&after), Some((3, 4 + MAX_DEPTH - 1)));
    }
}
