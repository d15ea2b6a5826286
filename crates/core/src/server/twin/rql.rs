//! The RQL subset the twin hub's `START-SEND-…?filter=` understands, on
//! `thingId` only (`eq`, `like` with `*` and `?`, `and`, `or`, `not`): what
//! a gateway needs to subscribe to its own things. Parse errors are plain
//! strings; the hub wraps them in Ditto's `rql.expression.invalid`.

/// The RQL subset on `thingId` (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Filter {
    Eq(String),
    Like(String),
    Or(Vec<Filter>),
    And(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Parses a whole RQL expression.
    pub(crate) fn parse(text: &str) -> Result<Filter, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let filter = p.expr()?;
        p.skip_ws();
        if p.at != p.s.len() {
            return Err(format!("unexpected text at {}", p.at));
        }
        Ok(filter)
    }

    pub(crate) fn matches(&self, thing_id: &str) -> bool {
        match self {
            Filter::Eq(v) => v == thing_id,
            Filter::Like(p) => glob(p.as_bytes(), thing_id.as_bytes()),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(thing_id)),
            Filter::And(fs) => fs.iter().all(|f| f.matches(thing_id)),
            Filter::Not(f) => !f.matches(thing_id),
        }
    }
}

/// RQL `like`: `*` any run of characters, `?` exactly one.
fn glob(p: &[u8], s: &[u8]) -> bool {
    crate::server::glob(p, s, Some(b'?'))
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.skip_ws();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.at))
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"_/".contains(c))
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.at) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(format!("expected a string at {}", self.at)),
        };
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.at) {
                None => return Err("unterminated string".into()),
                Some(b'\\') => {
                    let c = *self.s.get(self.at + 1).ok_or("unterminated string")?;
                    out.push(c);
                    self.at += 2;
                }
                Some(&c) if c == quote => {
                    self.at += 1;
                    break;
                }
                Some(&c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| "a string is not UTF-8".to_string())
    }

    fn expr(&mut self) -> Result<Filter, String> {
        let op = self.word();
        self.eat(b'(')?;
        let filter = match op.as_str() {
            "eq" | "like" => {
                let property = self.word();
                if property != "thingId" {
                    return Err(format!("property '{property}' (only thingId)"));
                }
                self.eat(b',')?;
                let value = self.string()?;
                if op == "eq" {
                    Filter::Eq(value)
                } else {
                    Filter::Like(value)
                }
            }
            "or" | "and" => {
                let mut parts = vec![self.expr()?];
                self.skip_ws();
                while self.s.get(self.at) == Some(&b',') {
                    self.at += 1;
                    parts.push(self.expr()?);
                    self.skip_ws();
                }
                if op == "or" {
                    Filter::Or(parts)
                } else {
                    Filter::And(parts)
                }
            }
            "not" => Filter::Not(Box::new(self.expr()?)),
            other => return Err(format!("operator '{other}'")),
        };
        self.eat(b')')?;
        Ok(filter)
    }
}
