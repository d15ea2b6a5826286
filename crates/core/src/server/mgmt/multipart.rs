//! A `multipart/form-data` parser (RFC 7578 / RFC 2046 §5.1) over the whole
//! request body, for artifact uploads. The server core gets bodies as bytes,
//! so this is a careful scan of a slice: every index is checked, every loop
//! is bounded, and anything malformed is an [`Error`], never a panic.

/// Most parts a form may have; most header bytes per part.
const MAX_PARTS: usize = 32;
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// RFC 2046: a boundary is 1 to 70 characters.
const MAX_BOUNDARY: usize = 70;

/// One part of a form.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Part<'a> {
    /// `name` of its `Content-Disposition: form-data`.
    pub(super) name: String,
    /// `filename`, when given.
    pub(super) filename: Option<String>,
    /// The part's bytes.
    pub(super) data: &'a [u8],
}

/// Why a body is not a valid form.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Error(pub(super) String);

fn err<T>(m: impl Into<String>) -> Result<T, Error> {
    Err(Error(m.into()))
}

/// The boundary of a `multipart/form-data` content type.
pub(super) fn boundary(content_type: &str) -> Result<String, Error> {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return err(format!("expected multipart/form-data, found {media:?}"));
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            if v.is_empty() || v.len() > MAX_BOUNDARY {
                return err("boundary must be 1 to 70 characters");
            }
            return Ok(v.to_string());
        }
    }
    err("multipart/form-data without a boundary")
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Parses `body` with `boundary` into its parts.
pub(super) fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, Error> {
    let dash = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    // The first delimiter may follow a preamble; it is matched at the start or after CRLF.
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        match find(body, delim.as_bytes(), 0) {
            Some(i) => i + delim.len(),
            None => return err("no multipart boundary in the body"),
        }
    };
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(parts); // close delimiter; the epilogue is ignored
        }
        // Transport padding (spaces, tabs) may follow a delimiter.
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if body.get(pos..pos + 2) != Some(b"\r\n") {
            return err("boundary not followed by CRLF");
        }
        pos += 2;
        if parts.len() == MAX_PARTS {
            return err(format!("more than {MAX_PARTS} parts"));
        }
        // Every part of a form has headers (at least Content-Disposition).
        let Some(head_end) = find(body, b"\r\n\r\n", pos) else {
            return err("part headers not terminated by an empty line");
        };
        let headers = &body[pos..head_end];
        if headers.len() > MAX_HEADER_BYTES {
            return err("part headers too long");
        }
        let data_start = head_end + 4;
        let Some(data_end) = find(body, delim.as_bytes(), data_start) else {
            return err("part not terminated by a boundary");
        };
        let (name, filename) = disposition(headers)?;
        parts.push(Part {
            name,
            filename,
            data: &body[data_start..data_end],
        });
        pos = data_end + delim.len();
    }
}

/// `name` and `filename` of the part's `Content-Disposition: form-data`.
fn disposition(headers: &[u8]) -> Result<(String, Option<String>), Error> {
    let Ok(text) = std::str::from_utf8(headers) else {
        return err("part headers are not UTF-8");
    };
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return err(format!("malformed part header {line:?}"));
        };
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut items = split_params(value);
        let kind = items.first().map(|s| s.trim().to_ascii_lowercase());
        if kind.as_deref() != Some("form-data") {
            return err("Content-Disposition of a part must be form-data");
        }
        let mut field = None;
        let mut filename = None;
        for item in items.drain(1..) {
            let Some((k, v)) = item.split_once('=') else {
                continue;
            };
            let v = unquote(v.trim());
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => field = Some(v),
                "filename" => filename = Some(v),
                _ => {}
            }
        }
        return match field {
            Some(f) => Ok((f, filename)),
            None => err("form-data part without a name"),
        };
    }
    err("part without Content-Disposition")
}

/// Splits `a; b="x;y"; c` at semicolons outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped || c != '\\' {
                    out.push(c);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            out
        }
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, data) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut cd = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = file {
                cd.push_str(&format!("; filename=\"{f}\""));
            }
            b.extend_from_slice(cd.as_bytes());
            b.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    #[test]
    fn parses_files_and_fields_with_binary_data() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let body = form(
            "XyZ",
            &[("file", Some("fw;1.bin"), &data), ("md5sum", None, b"abc")],
        );
        let parts = parse(&body, "XyZ").expect("valid form");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "file");
        assert_eq!(parts[0].filename.as_deref(), Some("fw;1.bin"));
        assert_eq!(parts[0].data, &data[..]);
        assert_eq!(parts[1].data, b"abc");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Ok("XyZ")
        );
        // A preamble before the first boundary is skipped.
        let mut pre = b"preamble\r\n".to_vec();
        pre.extend_from_slice(&body);
        assert_eq!(parse(&pre, "XyZ").map(|p| p.len()), Ok(2));
    }

    #[test]
    fn malformed_forms_are_errors_not_panics() {
        let good = form("b", &[("file", Some("f"), b"1234")]);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut], "b"); // must not panic
        }
        assert!(parse(&good[..good.len() - 12], "b").is_err());
        assert!(parse(b"garbage", "b").is_err());
        assert!(parse(b"--b\r\nX-Other: y\r\n\r\ndata\r\n--b--", "b").is_err());
        assert!(parse(
            b"--b\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nd\r\n--b--",
            "b"
        )
        .is_err());
        assert!(parse(b"--bjunk", "b").is_err());
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))).is_err());
    }
}
