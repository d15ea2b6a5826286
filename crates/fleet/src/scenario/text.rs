//! Reading a scenario file into text: bounded in size, UTF-8 with a
//! position for the first bad byte, a leading byte-order mark skipped.

use std::io::Read;
use std::path::Path;

use super::ScenarioError;

/// Largest scenario file read. Scenario files are hand-written
/// configurations of a few kilobytes; the bound keeps a wrong path (a disk
/// image, `/dev/zero`) from being read into memory whole.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &str = "\u{feff}";

/// Reads the scenario at `path` (`file` names it in errors): at most
/// [`MAX_FILE_SIZE`] bytes of UTF-8.
pub fn read(file: &str, path: &Path) -> Result<String, ScenarioError> {
    let error = |message: String| ScenarioError {
        file: file.to_string(),
        line: 0,
        column: 0,
        message,
    };
    let cannot = |e: std::io::Error| error(format!("cannot read scenario file: {e}"));
    let too_large = || {
        error(format!(
            "expected a scenario file of at most {} MiB (scenario files are small configurations)",
            MAX_FILE_SIZE >> 20
        ))
    };
    let bytes = read_at_most(path, MAX_FILE_SIZE).map_err(cannot)?;
    decode(file, bytes.ok_or_else(too_large)?)
}

/// The bytes of the file at `path`, `None` when it holds more than `max`.
/// The length the file reports is checked before anything is read; it may
/// lie (a growing file, a device such as `/dev/zero`), so at most one byte
/// past the bound is read. Also used for `report.json` (`replay`, `merge`).
pub fn read_at_most(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() > max {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// `bytes` as text, or an error at the line and column of the first byte
/// that is not UTF-8.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let valid = valid.strip_prefix(BOM).unwrap_or(valid);
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            message: match bytes.get(at) {
                Some(b) => format!("expected UTF-8 text, found the byte 0x{b:02x}"),
                None => "expected UTF-8 text".to_string(),
            },
        }
    })
}

/// `text` without a leading byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}
