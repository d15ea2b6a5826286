//! The leaked-URL downloader of `cpg` campaigns (`leaked_downloads_per_day`):
//! someone who is not a device holds a download URL leaked from one of the
//! campaign's devices and fetches it at random times; refused as expired
//! (`410`), they push its `expires` forward and try again. The virtual
//! engine (`engine/constrained.rs`) and the real-time driver
//! (`fleetsim_io::realtime`) share this model; what the answers mean is the
//! oracle's (URL-REFUSE) and [`LeakCounts`](crate::constrained_report::LeakCounts)'.

use rand::Rng;

use fleetsim_core::time::Span;

/// `expires` is pushed this far by a downloader who tampers with a leaked URL.
pub const TAMPER_EXTENSION_S: u64 = 365 * 86_400;

/// The wait until a campaign's next leaked download: exponential gaps (a
/// Poisson stream at `per_day`), at least a second. Draws one `f64`.
pub fn next_gap(per_day: f64, rng: &mut impl Rng) -> Span {
    let u: f64 = 1.0 - rng.gen::<f64>();
    Span::days(1).mul_f64(-u.ln() / per_day).max(Span::secs(1))
}

/// The URL a downloader refused as expired tries next: `url` with its
/// `expires` pushed [`TAMPER_EXTENSION_S`] later; `None` for a URL without
/// `expires` (a cache URL).
pub fn tampered(url: &str) -> Option<String> {
    push_expires(url, TAMPER_EXTENSION_S)
}

/// `url` with its `expires` parameter moved `by` seconds later (the
/// signature left as it was): what someone extending a leaked URL sends.
pub fn push_expires(url: &str, by: u64) -> Option<String> {
    let at = url.find("expires=")? + "expires=".len();
    let end = url[at..].find('&').map_or(url.len(), |e| at + e);
    let expires: u64 = url[at..end].parse().ok()?;
    Some(format!("{}{}{}", &url[..at], expires + by, &url[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_expires_and_keeps_the_signature() {
        assert_eq!(
            push_expires("http://h/cdn/v1/a/x/f?expires=100&sig=ab", 5).as_deref(),
            Some("http://h/cdn/v1/a/x/f?expires=105&sig=ab")
        );
        assert_eq!(push_expires("http://h/cache/v1/x/f", 5), None);
        assert_eq!(
            tampered("http://h/f?expires=1").as_deref(),
            Some("http://h/f?expires=31536001")
        );
    }

    #[test]
    fn gaps_average_a_day_over_the_rate() {
        let mut rng = crate::rng::stream(1, 0, crate::rng::Purpose::Device);
        let n = 2000;
        let total: u64 = (0..n).map(|_| next_gap(30.0, &mut rng).as_millis()).sum();
        let mean_s = total as f64 / n as f64 / 1000.0;
        // 86 400 s / 30 = 2 880 s; a 2 000-draw mean is within a few percent.
        assert!((2600.0..3150.0).contains(&mean_s), "{mean_s}");
    }
}
