//! The FIQL/RSQL subset of hawkBit's `q=` parameter and rollout
//! `targetFilterQuery`: comparisons `field==value` and `field!=value`
//! (`*` matches any run of characters), `;` (and) binding tighter than `,`
//! (or), parentheses, and values quoted with `'` or `"`. Field names are
//! case-insensitive and checked against the caller's list (hawkBit answers
//! unknown fields with `rsqlInvalidField`). Matching is case-sensitive.

use crate::message::Response;

use super::wire;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Filter {
    Cmp {
        field: String,
        negate: bool,
        pattern: String,
    },
    All(Vec<Filter>),
    Any(Vec<Filter>),
}

/// Longest filter accepted, and deepest nesting: bounds on the parser's work.
const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 16;

fn syntax(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.RSQLParameterSyntaxException",
        "hawkbit.server.error.rest.param.rsqlParamSyntax",
        message,
    )
}

fn unknown_field(field: &str) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.RSQLParameterUnsupportedFieldException",
        "hawkbit.server.error.rest.param.rsqlInvalidField",
        format!("The given search parameter field {{{field}}} does not exist"),
    )
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    fields: &'a [&'a str],
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, Response> {
        let mut any = vec![self.and(depth)?];
        while self.eat(b',') {
            any.push(self.and(depth)?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Filter::Any(any)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Filter, Response> {
        let mut all = vec![self.term(depth)?];
        while self.eat(b';') {
            all.push(self.term(depth)?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::All(all)
        })
    }

    fn term(&mut self, depth: usize) -> Result<Filter, Response> {
        if depth > MAX_DEPTH {
            return Err(syntax("filter nested too deeply"));
        }
        if self.eat(b'(') {
            let inner = self.or(depth + 1)?;
            if !self.eat(b')') {
                return Err(syntax("missing ')'"));
            }
            return Ok(inner);
        }
        self.skip_ws();
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
        {
            self.pos += 1;
        }
        let field = String::from_utf8_lossy(&self.s[start..self.pos]).to_string();
        if field.is_empty() {
            return Err(syntax(format!("expected a field name at {start}")));
        }
        let Some(known) = self.fields.iter().find(|f| f.eq_ignore_ascii_case(&field)) else {
            return Err(unknown_field(&field));
        };
        self.skip_ws();
        let negate = match self.s.get(self.pos..self.pos + 2) {
            Some(b"==") => false,
            Some(b"!=") => true,
            _ => return Err(syntax(format!("expected == or != after {field}"))),
        };
        self.pos += 2;
        let pattern = self.value()?;
        Ok(Filter::Cmp {
            field: known.to_string(),
            negate,
            pattern,
        })
    }

    fn value(&mut self) -> Result<String, Response> {
        self.skip_ws();
        let quote = match self.s.get(self.pos) {
            Some(q @ (b'\'' | b'"')) => Some(*q),
            _ => None,
        };
        let start = self.pos + usize::from(quote.is_some());
        let mut end = start;
        match quote {
            Some(q) => {
                while self.s.get(end).is_some_and(|c| *c != q) {
                    end += 1;
                }
                if end >= self.s.len() {
                    return Err(syntax("unterminated quoted value"));
                }
                self.pos = end + 1;
            }
            None => {
                while self.s.get(end).is_some_and(|c| {
                    !matches!(c, b';' | b',' | b')' | b'(') && !c.is_ascii_whitespace()
                }) {
                    end += 1;
                }
                self.pos = end;
            }
        }
        let value = String::from_utf8_lossy(&self.s[start..end]).to_string();
        if value.is_empty() && quote.is_none() {
            return Err(syntax("expected a value"));
        }
        Ok(value)
    }
}

/// Parses `text`; `fields` are the names a comparison may use.
pub(super) fn parse(text: &str, fields: &[&str]) -> Result<Filter, Response> {
    if text.len() > MAX_LEN {
        return Err(syntax(format!("filter longer than {MAX_LEN} characters")));
    }
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        fields,
    };
    let filter = p.or(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(syntax(format!("unexpected input at {}", p.pos)));
    }
    Ok(filter)
}

impl Filter {
    /// True when the entity whose field values `get` returns matches.
    pub(super) fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Filter::Cmp {
                field,
                negate,
                pattern,
            } => {
                let hit = get(field).is_some_and(|v| glob(pattern, &v));
                hit != *negate
            }
            Filter::All(all) => all.iter().all(|f| f.matches(get)),
            Filter::Any(any) => any.iter().any(|f| f.matches(get)),
        }
    }
}

/// `*`-wildcard match, iterative with one backtrack point (linear-ish, no recursion).
fn glob(pattern: &str, text: &str) -> bool {
    crate::server::glob(pattern.as_bytes(), text.as_bytes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["id", "controllerId", "name"];

    fn eval(q: &str, id: &str, name: &str) -> bool {
        let f = parse(q, FIELDS).expect("parses");
        let get = |field: &str| match field {
            "id" | "controllerId" => Some(id.to_string()),
            "name" => Some(name.to_string()),
            _ => None,
        };
        f.matches(&get)
    }

    #[test]
    fn comparisons_wildcards_and_precedence() {
        assert!(eval("controllerId==dev-*", "dev-1", "x"));
        assert!(!eval("controllerid==dev-*", "edge-1", "x"));
        assert!(eval("id!=dev-1", "dev-2", "x"));
        assert!(eval("id==a,id==b;name==n", "a", "zzz"));
        assert!(!eval("(id==a,id==b);name==n", "a", "zzz"));
        assert!(eval("name=='my name'", "a", "my name"));
        assert!(eval("id==*-0*1", "dev-0001", "x"));
        assert!(!eval("id==*-0*2", "dev-0001", "x"));
    }

    #[test]
    fn errors_are_hawkbit_400s() {
        for bad in [
            "", "id", "id=x", "id==", "(id==a", "id==a;", "id=='x", "id==a b",
        ] {
            let r = parse(bad, FIELDS).expect_err(bad);
            assert_eq!(r.status, 400, "{bad}");
        }
        let r = parse("color==red", FIELDS).expect_err("unknown field");
        assert!(String::from_utf8_lossy(r.body.as_bytes()).contains("rsqlInvalidField"));
        let deep = format!("{}id==a{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(
            parse(&deep, FIELDS).map(|_| ()).map_err(|r| r.status),
            Err(400)
        );
    }
}
