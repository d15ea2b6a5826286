//! Target tokens a scenario's devices authenticate with (ddi.md §2): the
//! `auth: { target_token_file: PATH }` files, read when the scenario is
//! loaded so a missing file, a malformed line or a device without a token
//! is a located scenario error rather than a run full of 401s, and the
//! tokens derived from the seed for `auth: target_token`.

use std::collections::BTreeMap;
use std::path::Path;

use rand::RngCore;

use super::fleet::DeviceAuth;
use super::locate::PathSeg;
use super::Scenario;
use crate::rng::{stream, Purpose};

/// Biggest token file read (a million devices with 64-character tokens).
const MAX_TOKEN_FILE: u64 = 128 * 1024 * 1024;

/// The token device `number` of a `auth: target_token` group uses in a run
/// seeded with `seed`: 32 lowercase hex digits, as long as hawkBit's own.
pub fn generated_token(seed: u64, number: u64) -> String {
    let mut rng = stream(seed, number, Purpose::Token);
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

/// Reads every group's token file, resolved against `dir`, into the
/// scenario; the error names the `target_token_file` node.
pub fn read_token_files(s: &mut Scenario, dir: &Path) -> Result<(), (Vec<PathSeg>, String)> {
    let mut first = 0u64;
    for (i, g) in s.fleet.iter_mut().enumerate() {
        let prefix = g.prefix();
        let count = u64::from(g.count);
        if let DeviceAuth::TargetTokenFile(file) = &mut g.auth {
            let at = vec![
                PathSeg::Key("fleet".into()),
                PathSeg::Index(i),
                PathSeg::Key("auth".into()),
                PathSeg::Key("target_token_file".into()),
            ];
            let tokens = read_tokens(&dir.join(&file.path)).map_err(|e| (at.clone(), e))?;
            if let Some(n) =
                (first..first + count).find(|n| !tokens.contains_key(&format!("{prefix}{n:05}")))
            {
                let message = format!(
                    "expected a token for every device of the group; `{}` has none for {prefix}{n:05}",
                    file.path
                );
                return Err((at, message));
            }
            file.tokens = tokens;
        }
        first += count;
    }
    Ok(())
}

/// `CONTROLLER_ID TOKEN` lines of the file at `path`.
fn read_tokens(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let shown = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| format!("expected a readable token file at {shown} ({e})"))?
        .len();
    if len > MAX_TOKEN_FILE {
        return Err(format!(
            "expected a token file of at most {MAX_TOKEN_FILE} bytes; {shown} has {len}"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("expected a readable UTF-8 token file at {shown} ({e})"))?;
    parse_tokens(&text).map_err(|(line, what)| format!("{shown}:{line}: {what}"))
}

/// The tokens of a token file's `text`; an error gives the 1-based line.
pub fn parse_tokens(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut tokens = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(id), Some(token), None) = (words.next(), words.next(), words.next()) else {
            return Err((i + 1, "expected `CONTROLLER_ID TOKEN`".into()));
        };
        if tokens.insert(id.to_string(), token.to_string()).is_some() {
            return Err((
                i + 1,
                format!("expected one token per device; {id} has two"),
            ));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines_parse_and_bad_ones_are_located() {
        let ok = parse_tokens("# fleet A\nd-00000 tok0\n\n  d-00001   tok1  \n").unwrap();
        assert_eq!(ok.get("d-00001").map(String::as_str), Some("tok1"));
        assert_eq!(ok.len(), 2);
        assert_eq!(parse_tokens("a b\nonly-one\n").unwrap_err().0, 2);
        assert_eq!(parse_tokens("a b c\n").unwrap_err().0, 1);
        assert!(parse_tokens("a b\na c\n").unwrap_err().1.contains("two"));
    }

    #[test]
    fn generated_tokens_are_per_device_and_reproducible() {
        let t = generated_token(7, 3);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(t, generated_token(7, 3));
        assert_ne!(t, generated_token(7, 4));
        assert_ne!(t, generated_token(8, 3));
    }
}
