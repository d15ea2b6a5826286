//! Flags checked before anything runs: the bounds on what a scenario may
//! ask of this machine (`--max-devices`, `--max-artifact-size`), and the
//! flags that name URLs and addresses, so that a malformed one is bad input
//! (exit 2) naming the flag rather than an unreachable server (exit 3).

use super::*;

use fleetsim::scenario::Capacity;

/// Bounds on a scenario's fleet and artifacts, shared by the commands that
/// load a scenario.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LimitArgs {
    /// Most devices a run may have, `--devices` included (default:
    /// 10000000, fewer when the available memory holds fewer at about
    /// 4 KiB each).
    #[arg(long, value_name = "N")]
    pub max_devices: Option<u64>,
    /// Largest artifact a scenario may declare (default: 4GiB), e.g. 16GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_flag)]
    pub max_artifact_size: Option<u64>,
}

impl LimitArgs {
    /// The bounds for this machine.
    pub fn capacity(&self) -> Capacity {
        Capacity::for_this_machine(self.max_devices, self.max_artifact_size)
    }
}

/// Reads the scenario at `path` and checks it against `limits`.
pub fn load_within(path: &Path, limits: &LimitArgs) -> Result<Scenario, Exit> {
    scenario::load_within(path, &limits.capacity()).map_err(|e| Exit::BadInput(e.to_string()))
}

/// `value` of `flag` when it is an `http://` or `https://` URL with a host.
pub fn check_url(flag: &str, value: &str) -> Result<(), Exit> {
    if fleetsim::realtime::is_http_url(value) {
        return Ok(());
    }
    Err(Exit::BadInput(format!(
        "{flag} {value}: expected an http:// or https:// URL such as http://127.0.0.1:8080"
    )))
}

/// `value` of `flag` when it reads as `HOST:PORT` (not resolved here).
pub fn check_host_port(flag: &str, value: &str) -> Result<(), Exit> {
    let ok = value.rsplit_once(':').is_some_and(|(host, port)| {
        // An IPv6 address is written in brackets: `[::1]:1883`.
        let (host, bracketed) = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => (inner, true),
            None => (host, false),
        };
        !host.is_empty()
            && !host.contains(['/', ' ', '[', ']'])
            && (bracketed || !host.contains(':'))
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        return Ok(());
    }
    Err(Exit::BadInput(format!(
        "{flag} {value}: expected HOST:PORT such as 127.0.0.1:1883"
    )))
}

/// `tenant` (named `what` in the message) when it can stand in a URL path
/// as it is: DDI URLs are `{target}/{tenant}/controller/v1/…`.
pub fn check_tenant(what: &str, tenant: &str) -> Result<(), Exit> {
    let ok = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c));
    if ok {
        return Ok(());
    }
    Err(Exit::BadInput(format!(
        "{what} `{tenant}`: expected a tenant of letters, digits, `-`, `_`, `.` or `~` (it is part of every DDI URL)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_addresses() {
        for good in [
            "http://127.0.0.1:8080",
            "https://h.example/base",
            "http://[::1]:80",
        ] {
            assert!(check_url("--target", good).is_ok(), "{good}");
        }
        for bad in [
            "http://[::1",
            "ftp://h",
            "127.0.0.1:8080",
            "http://",
            "http:///x",
            "",
        ] {
            assert!(check_url("--target", bad).is_err(), "{bad}");
        }
        for good in ["127.0.0.1:1883", "broker:1883", "[::1]:1883"] {
            assert!(check_host_port("--mqtt", good).is_ok(), "{good}");
        }
        assert!(check_tenant("--tenant", "DEFAULT").is_ok());
        for bad in ["", "a b", "a/b", "t?x"] {
            assert!(check_tenant("--tenant", bad).is_err(), "{bad}");
        }
        for bad in [
            "foo",
            ":1883",
            "h:0",
            "h:99999",
            "[::1:1883",
            "::1:1883",
            "http://h:1",
        ] {
            assert!(check_host_port("--mqtt", bad).is_err(), "{bad}");
        }
    }
}
