//! OTAU wire types (otau.md §2–§4): the `config_otau` manifest, the `otau_in`
//! status report, `application/x-www-form-urlencoded` bodies, the content
//! `info=true` line, HTTP dates and `If-Modified-Since` values.
//!
//! Both the device client (`protocol::otau::client`) and the server core
//! (`server::otau`) use these, so a value written by one is read by the other
//! with the same code. Everything here is pure and never panics on input.

use serde_json::Value;
use thiserror::Error;

use crate::time::{civil_from_days, days_from_civil};

/// Seconds between the Unix epoch and [`crate::time::Time::ZERO`]: run time
/// is mapped onto a realistic wall date so `Last-Modified` / `If-Modified-Since`
/// (unix seconds, otau.md §6) compare as on a real server.
pub const EPOCH_BASE_SECS: u64 = 1_700_000_000;

/// Unix seconds of run time `t` (see [`EPOCH_BASE_SECS`]): the clock both
/// the server's timestamps and the oracle's checks of them read.
pub fn unix_secs(t: crate::time::Time) -> u64 {
    EPOCH_BASE_SECS + t.as_millis() / 1000
}

/// Largest `Request-Timeout` Murano accepts (otau.md §4.1: "cannot be more than 300 seconds").
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;

/// `type` of a manifest (otau.md §2, `[SCH]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageType {
    /// `URL_LIST`: payload is an array of content ids / URLs.
    UrlList,
    /// `FILE`: payload is one URL string.
    File,
    /// `JSON`: payload is inline JSON, nothing to download.
    Json,
}

/// A parsed `config_otau` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Distinguishes this OTAU from others; any string.
    pub version: String,
    /// Human-readable name.
    pub name: String,
    /// Optional description (`""` when absent).
    pub description: String,
    /// How the payload is handled.
    pub kind: PackageType,
    /// Files to download (empty for `JSON`).
    pub files: Vec<String>,
}

/// Why a manifest was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not a JSON object.
    #[error("manifest is not a JSON object")]
    NotObject,
    /// A required string field is missing or not a string.
    #[error("manifest field {0:?} missing or not a string")]
    Field(&'static str),
    /// `type` is none of `URL_LIST`, `FILE`, `JSON`.
    #[error("unknown manifest type {0:?}")]
    UnknownType(String),
    /// `payload` does not have the shape its `type` requires.
    #[error("malformed payload for type {0}")]
    Payload(&'static str),
}

impl Manifest {
    /// Parses a manifest JSON string (otau.md §2). Extra keys are ignored.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let value: Value = serde_json::from_str(text).map_err(|_| ManifestError::NotObject)?;
        let obj = value.as_object().ok_or(ManifestError::NotObject)?;
        let field = |k: &'static str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(ManifestError::Field(k))
        };
        let version = field("version")?;
        let name = field("name")?;
        let description = match obj.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ManifestError::Field("description")),
        };
        let kind_text = field("type")?;
        let payload = obj.get("payload");
        let (kind, files) = match kind_text.as_str() {
            "URL_LIST" => {
                let list = payload
                    .and_then(Value::as_array)
                    .ok_or(ManifestError::Payload("URL_LIST"))?;
                let files = list
                    .iter()
                    .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(ManifestError::Payload("URL_LIST"))?;
                (PackageType::UrlList, files)
            }
            "FILE" => {
                let url = payload
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or(ManifestError::Payload("FILE"))?;
                (PackageType::File, vec![url.to_string()])
            }
            "JSON" => {
                payload
                    .filter(|v| v.is_object())
                    .ok_or(ManifestError::Payload("JSON"))?;
                (PackageType::Json, Vec::new())
            }
            _ => return Err(ManifestError::UnknownType(kind_text)),
        };
        Ok(Manifest {
            version,
            name,
            description,
            kind,
            files,
        })
    }

    /// The `version` of a manifest that may be otherwise malformed.
    pub fn version_of(text: &str) -> Option<String> {
        let value: Value = serde_json::from_str(text).ok()?;
        value.get("version")?.as_str().map(str::to_string)
    }

    /// A `URL_LIST` manifest as JSON text, keys in the seed's order.
    pub fn url_list_json(version: &str, name: &str, files: &[&str]) -> String {
        serde_json::json!({
            "version": version, "name": name, "description": "",
            "type": "URL_LIST", "payload": files,
        })
        .to_string()
    }
}

/// `status` of an `otau_in` report (otau.md §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Begin processing new OTAU.
    Init,
    /// Start of testing.
    Test,
    /// Testing progress (repeatable).
    TestStep,
    /// Cannot be processed (terminal).
    TestError,
    /// Tests passed.
    TestSuccess,
    /// Start of download.
    Download,
    /// Download progress (repeatable).
    DownloadStep,
    /// Unable to download (terminal).
    DownloadError,
    /// Download complete.
    DownloadSuccess,
    /// Start of install.
    Install,
    /// Install progress (repeatable).
    InstallStep,
    /// Install failed (terminal).
    InstallError,
    /// Intentionally aborted, any time (terminal).
    InstallAborted,
    /// Installation complete.
    InstallSuccess,
    /// Running version (after success or at boot).
    InstalledVersion,
}

impl Status {
    /// Every status, in table order.
    pub const ALL: [Status; 15] = [
        Status::Init,
        Status::Test,
        Status::TestStep,
        Status::TestError,
        Status::TestSuccess,
        Status::Download,
        Status::DownloadStep,
        Status::DownloadError,
        Status::DownloadSuccess,
        Status::Install,
        Status::InstallStep,
        Status::InstallError,
        Status::InstallAborted,
        Status::InstallSuccess,
        Status::InstalledVersion,
    ];

    /// Name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Init => "INIT",
            Status::Test => "TEST",
            Status::TestStep => "TEST_STEP",
            Status::TestError => "TEST_ERROR",
            Status::TestSuccess => "TEST_SUCCESS",
            Status::Download => "DOWNLOAD",
            Status::DownloadStep => "DOWNLOAD_STEP",
            Status::DownloadError => "DOWNLOAD_ERROR",
            Status::DownloadSuccess => "DOWNLOAD_SUCCESS",
            Status::Install => "INSTALL",
            Status::InstallStep => "INSTALL_STEP",
            Status::InstallError => "INSTALL_ERROR",
            Status::InstallAborted => "INSTALL_ABORTED",
            Status::InstallSuccess => "INSTALL_SUCCESS",
            Status::InstalledVersion => "INSTALLED_VERSION",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Phase rank from the status diagram (otau.md §3.1); errors and
    /// `INSTALL_ABORTED` have no rank of their own.
    pub fn rank(self) -> Option<u8> {
        match self {
            Status::Init => Some(0),
            Status::Test | Status::TestStep => Some(1),
            Status::TestSuccess => Some(2),
            Status::Download | Status::DownloadStep => Some(3),
            Status::DownloadSuccess => Some(4),
            Status::Install | Status::InstallStep => Some(5),
            Status::InstallSuccess => Some(6),
            Status::InstalledVersion => Some(7),
            _ => None,
        }
    }

    /// A `_STEP` status (may repeat).
    pub fn is_step(self) -> bool {
        matches!(
            self,
            Status::TestStep | Status::DownloadStep | Status::InstallStep
        )
    }

    /// A terminal error (otau.md §3.3.5).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Status::TestError
                | Status::DownloadError
                | Status::InstallError
                | Status::InstallAborted
        )
    }
}

/// An `otau_in` value (otau.md §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// Version of the manifest (or the running version for `INSTALLED_VERSION`).
    pub version: String,
    /// The status.
    pub status: Status,
    /// Free text (`""` in the seed).
    pub message: String,
}

/// Why an `otau_in` value is not a status report.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReportError {
    /// Not a JSON object with string `version` and `status`.
    #[error("otau_in is not a status report object")]
    Shape,
    /// `status` is not one of the 15 names.
    #[error("unknown otau_in status {0:?}")]
    UnknownStatus(String),
}

impl StatusReport {
    /// The seed's `json.dumps` form: `{"version": "v", "status": "S", "message": ""}`.
    pub fn to_json(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string());
        format!(
            "{{\"version\": {}, \"status\": {}, \"message\": {}}}",
            q(&self.version),
            q(self.status.as_str()),
            q(&self.message)
        )
    }

    /// Parses an `otau_in` value (shape rule otau.md §3.3.1).
    pub fn parse(text: &str) -> Result<StatusReport, ReportError> {
        let value: Value = serde_json::from_str(text).map_err(|_| ReportError::Shape)?;
        let version = value.get("version").and_then(Value::as_str);
        let status = value.get("status").and_then(Value::as_str);
        let (Some(version), Some(status)) = (version, status) else {
            return Err(ReportError::Shape);
        };
        let message = match value.get("message") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ReportError::Shape),
        };
        Ok(StatusReport {
            version: version.to_string(),
            status: Status::parse(status)
                .ok_or_else(|| ReportError::UnknownStatus(status.into()))?,
            message,
        })
    }
}

/// A form body that could not be decoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("malformed form body")]
pub struct FormError;

/// Encodes pairs as `application/x-www-form-urlencoded` the way Python's
/// `urllib.parse.urlencode` does (space → `+`, otau.md §4 Encoding).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Decodes a form body with form semantics (`+` = space). Empty pairs are
/// skipped; a bad escape or invalid UTF-8 is an error.
pub fn form_decode(body: &str) -> Result<Vec<(String, String)>, FormError> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_component(k)?, decode_component(v)?))
        })
        .collect()
}

/// Decodes one form component.
pub fn decode_component(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(FormError)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FormError)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError)
}

/// The `info=true` answer: `<content-type>,<byte-size>,<updated>,<meta>`
/// (otau.md §4.4). The mock puts `sha256=<hex>` in `meta` [INF: the sources
/// give no hash for content; this is where a device can find one].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentInfoLine {
    /// MIME type set at upload.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Updated timestamp, unix seconds.
    pub updated: u64,
    /// Free metadata (may contain commas).
    pub meta: String,
}

impl ContentInfoLine {
    /// The CSV line.
    pub fn to_line(&self) -> String {
        format!(
            "{},{},{},{}",
            self.content_type, self.size, self.updated, self.meta
        )
    }

    /// Parses the CSV line; `None` with fewer than 4 fields or a bad size.
    pub fn parse(line: &str) -> Option<ContentInfoLine> {
        let mut it = line.trim_end().splitn(4, ',');
        let content_type = it.next()?.to_string();
        let size = it.next()?.trim().parse().ok()?;
        let updated = it.next()?.trim().parse().unwrap_or(0);
        let meta = it.next()?.to_string();
        Some(ContentInfoLine {
            content_type,
            size,
            updated,
            meta,
        })
    }

    /// The `sha256=<hex>` the meta field carries, if any.
    pub fn sha256(&self) -> Option<&str> {
        self.meta
            .split([',', ';', ' '])
            .find_map(|kv| kv.strip_prefix("sha256="))
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds as an HTTP-date (`Fri, 15 Jun 2018 19:04:13 GMT`).
pub fn http_date(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an `If-Modified-Since` value: unix seconds (integer or float) or
/// an HTTP-date (otau.md §6). `None` for anything else.
pub fn parse_ims(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    if let Ok(f) = t.parse::<f64>() {
        return (f.is_finite() && f >= 0.0).then_some(f as u64);
    }
    let parts: Vec<&str> = t.split_whitespace().collect();
    let [_, d, mon, y, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    let m = MONTHS.iter().position(|x| x == mon)? as u32 + 1;
    let d: u32 = d.parse().ok()?;
    let y: i64 = y.parse().ok()?;
    let mut it = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, mi, s) = (it.next()??, it.next()??, it.next()??);
    let days = days_from_civil(y, m, d);
    (days >= 0 && h < 24 && mi < 60 && s < 61)
        .then(|| days as u64 * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_WRITE: &str = "otau_in=%7B%22version%22%3A+%221.0.2%22%2C+%22status%22%3A+%22INIT%22%2C+%22message%22%3A+%22%22%7D";

    #[test]
    fn status_write_round_trips_otau_md_example() {
        let report = StatusReport {
            version: "1.0.2".into(),
            status: Status::Init,
            message: String::new(),
        };
        let json = report.to_json();
        assert_eq!(
            json,
            r#"{"version": "1.0.2", "status": "INIT", "message": ""}"#
        );
        assert_eq!(form_encode(&[("otau_in", &json)]), SEED_WRITE);
        let pairs = form_decode(SEED_WRITE).unwrap();
        assert_eq!(pairs[0].0, "otau_in");
        assert_eq!(StatusReport::parse(&pairs[0].1).unwrap(), report);
    }

    #[test]
    fn manifest_example_parses_and_bad_ones_are_refused() {
        let m = Manifest::parse(r#"{"version": "1.0.2", "name": "Firmware update", "description": "firmware package updated", "type": "URL_LIST", "payload": ["firmware_updatev102.txt"]}"#).unwrap();
        assert_eq!(m.version, "1.0.2");
        assert_eq!(m.kind, PackageType::UrlList);
        assert_eq!(m.files, ["firmware_updatev102.txt"]);
        let text = Manifest::url_list_json("2", "n", &["a", "https://x/b"]);
        assert_eq!(Manifest::parse(&text).unwrap().files, ["a", "https://x/b"]);
        let bad_type = r#"{"version":"1","name":"n","type":"ZIP","payload":[]}"#;
        assert_eq!(
            Manifest::parse(bad_type),
            Err(ManifestError::UnknownType("ZIP".into()))
        );
        assert_eq!(Manifest::version_of(bad_type).as_deref(), Some("1"));
        let bad_payload = r#"{"version":"1","name":"n","type":"URL_LIST","payload":"x"}"#;
        assert!(matches!(
            Manifest::parse(bad_payload),
            Err(ManifestError::Payload(_))
        ));
        assert_eq!(Manifest::parse("[1]"), Err(ManifestError::NotObject));
        assert_eq!(Manifest::parse("{"), Err(ManifestError::NotObject));
    }

    #[test]
    fn form_decoding_is_strict_about_escapes() {
        assert!(form_decode("a=%zz").is_err());
        assert!(form_decode("a=%ff").is_err());
        assert_eq!(
            form_decode("a=b+c&&d").unwrap(),
            [("a".into(), "b c".into()), ("d".into(), String::new())]
        );
    }

    #[test]
    fn info_line_and_dates() {
        let line = ContentInfoLine {
            content_type: "application/octet-stream".into(),
            size: 42,
            updated: 7,
            meta: "sha256=ab,cd".into(),
        };
        let parsed = ContentInfoLine::parse(&line.to_line()).unwrap();
        assert_eq!(parsed, line);
        assert_eq!(parsed.sha256(), Some("ab"));
        assert!(ContentInfoLine::parse("a,b").is_none());
        assert_eq!(http_date(1_529_089_453), "Fri, 15 Jun 2018 19:04:13 GMT");
        assert_eq!(
            parse_ims("Fri, 15 Jun 2018 19:04:13 GMT"),
            Some(1_529_089_453)
        );
        assert_eq!(parse_ims("0"), Some(0));
        assert_eq!(parse_ims("12.7"), Some(12));
        assert_eq!(parse_ims("yesterday"), None);
    }
}
