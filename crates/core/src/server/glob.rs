//! Wildcard matching shared by the Management API's FIQL (`*`) and the twin
//! hub's RQL `like` (`*` and `?`): iterative with one backtrack point, so
//! linear-ish and without recursion on hostile patterns.

/// Whether `text` matches `pattern`: `*` any run of bytes, `any_one` (if
/// given) exactly one byte, every other byte itself.
pub(crate) fn glob(pattern: &[u8], text: &[u8], any_one: Option<u8>) -> bool {
    let (p, t) = (pattern, text);
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == t[ti] || Some(p[pi]) == any_one) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn stars_and_single_wildcards() {
        assert!(glob(b"gw-*", b"gw-00003", None));
        assert!(glob(b"*:gw-0000?:*", b"ns:gw-00003:cam", Some(b'?')));
        assert!(
            !glob(b"gw-?", b"gw-1", None),
            "`?` is literal without any_one"
        );
        assert!(glob(b"a*b*c", b"axxbyyc", None));
        assert!(!glob(b"a*b", b"axxc", Some(b'?')));
        assert!(glob(b"**", b"", None));
    }
}
