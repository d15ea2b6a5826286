//! What a machine can run: bounds on a scenario's device count and artifact
//! sizes, so that `check` refuses what `run` could not survive (a fleet of
//! 4 294 967 295 devices ran out of memory; a 1000 GiB artifact took minutes
//! before anything happened). The bounds have defaults and flags to raise
//! them (`--max-devices`, `--max-artifact-size`), for bigger machines.

use super::units::{format_size, Size};
use super::{PathSeg, Scenario};

/// Memory a device takes in a virtual run: `fleetsim run
/// scenarios/quickstart.yaml --devices 100000` peaks at 316 MiB resident,
/// about 3.2 KiB per device; rounded up for heavier devices.
pub const BYTES_PER_DEVICE: u64 = 4 << 10;

/// Devices a run may have by default, whatever the machine's memory: ten
/// million devices take about 40 GiB and hours of simulation.
pub const DEFAULT_MAX_DEVICES: u64 = 10_000_000;

/// Largest artifact by default. An artifact's hashes are computed over its
/// whole content when a device is first offered it, at some hundred MB/s;
/// 4 GiB is a large firmware image and takes seconds.
pub const DEFAULT_MAX_ARTIFACT_SIZE: u64 = 4 << 30;

/// The bounds a scenario is checked against, and where they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Most devices in all.
    pub max_devices: u64,
    /// Why `max_devices`, for the message: ends with how to raise it.
    devices_because: String,
    /// Largest artifact, in bytes.
    pub max_artifact_size: u64,
    /// True when `max_artifact_size` was given by a flag.
    artifact_flagged: bool,
}

impl Capacity {
    /// The bounds for this machine: the flags' values when given; else
    /// [`DEFAULT_MAX_DEVICES`], lowered to what the available memory holds
    /// ([`BYTES_PER_DEVICE`] each), and [`DEFAULT_MAX_ARTIFACT_SIZE`].
    pub fn for_this_machine(max_devices: Option<u64>, max_artifact_size: Option<u64>) -> Capacity {
        Capacity::with_memory(max_devices, max_artifact_size, available_memory())
    }

    /// [`Capacity::for_this_machine`] with `memory` bytes available (`None`: unknown).
    pub fn with_memory(
        max_devices: Option<u64>,
        max_artifact_size: Option<u64>,
        memory: Option<u64>,
    ) -> Capacity {
        let raise = "raise the limit with --max-devices N";
        let by_memory = memory.map(|m| m / BYTES_PER_DEVICE);
        let (max_devices, devices_because) = match (max_devices, by_memory) {
            (Some(n), _) => (n, "the limit --max-devices sets".to_string()),
            (None, Some(fit)) if fit < DEFAULT_MAX_DEVICES => (
                fit,
                format!(
                    "a run needs about {} per device and this machine has {} available; {raise}",
                    format_size(BYTES_PER_DEVICE),
                    format_size(memory.unwrap_or(0))
                ),
            ),
            (None, _) => (DEFAULT_MAX_DEVICES, format!("the default limit; {raise}")),
        };
        Capacity {
            max_devices,
            devices_because,
            max_artifact_size: max_artifact_size.unwrap_or(DEFAULT_MAX_ARTIFACT_SIZE),
            artifact_flagged: max_artifact_size.is_some(),
        }
    }

    /// An error when `total` devices are more than the bound.
    pub fn check_devices(&self, total: u64) -> Result<(), String> {
        if total <= self.max_devices {
            return Ok(());
        }
        Err(format!(
            "expected at most {} devices in all, found {total} ({})",
            self.max_devices, self.devices_because
        ))
    }

    /// An error when `size` is larger than the bound.
    pub fn check_artifact(&self, size: u64) -> Result<(), String> {
        if size <= self.max_artifact_size {
            return Ok(());
        }
        let because = if self.artifact_flagged {
            "the limit --max-artifact-size sets"
        } else {
            "the default limit; raise it with --max-artifact-size SIZE"
        };
        Err(format!(
            "expected an artifact of at most {}, found {} ({because})",
            format_size(self.max_artifact_size),
            format_size(size)
        ))
    }

    /// Checks `s`: the path of the first node over a bound (the group count
    /// that takes the total over, an artifact's size) and the message.
    pub fn check(&self, s: &Scenario) -> Result<(), (Vec<PathSeg>, String)> {
        use PathSeg::{Index, Key};
        let mut total = 0u64;
        for (i, g) in s.fleet.iter().enumerate() {
            total = total.saturating_add(u64::from(g.count));
            if total > self.max_devices {
                let path = vec![Key("fleet".into()), Index(i), Key("count".into())];
                return Err((path, self.check_devices(total).err().unwrap_or_default()));
            }
        }
        for (i, c) in s.campaigns.iter().enumerate() {
            for (j, a) in c.artifacts.iter().enumerate() {
                let Size(size) = a.size;
                if let Err(message) = self.check_artifact(size) {
                    let path = vec![
                        Key("campaigns".into()),
                        Index(i),
                        Key("artifacts".into()),
                        Index(j),
                        Key("size".into()),
                    ];
                    return Err((path, message));
                }
            }
        }
        Ok(())
    }
}

/// `MemAvailable` of `/proc/meminfo` in bytes, where there is one.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_come_from_flags_memory_or_defaults() {
        let gib = 1u64 << 30;
        let c = Capacity::with_memory(None, None, Some(gib));
        assert_eq!(c.max_devices, gib / BYTES_PER_DEVICE);
        let e = c.check_devices(u64::from(u32::MAX)).unwrap_err();
        assert!(
            e.contains("1 GiB available") && e.contains("--max-devices"),
            "{e}"
        );
        let c = Capacity::with_memory(None, None, None);
        assert_eq!(c.max_devices, DEFAULT_MAX_DEVICES);
        assert!(c.check_devices(DEFAULT_MAX_DEVICES).is_ok());
        let c = Capacity::with_memory(Some(5), Some(10), Some(gib));
        assert!(c
            .check_devices(6)
            .unwrap_err()
            .contains("--max-devices sets"));
        assert!(c
            .check_artifact(11)
            .unwrap_err()
            .contains("--max-artifact-size sets"));
        let e = Capacity::with_memory(None, None, None)
            .check_artifact(1000 * gib)
            .unwrap_err();
        assert!(e.contains("at most 4 GiB, found 1000 GiB"), "{e}");
        assert_eq!(
            parse_mem_available("MemTotal: 9 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
    }
}
