//! `fleetsim conform`: checks the flags, runs the catalogue
//! ([`fleetsim::conform`]), prints the table and writes the report card.
//! Exit 0 only when every case of the selection passed (a SKIP is not a
//! pass), 1 otherwise, 2 on bad input, 3 when the run could not be made.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{flag_checks, ConformArgs, ConformManage, Exit};
use fleetsim::conform::device::{self, DeviceOptions};
use fleetsim::conform::{self, ConformError, Options, Profile};
use fleetsim::management::{ManagerConfig, Secret, ServerApi};
use fleetsim::report::conform as card;

/// Gateway token configured with `--manage hawkbit` when none is given.
const DEFAULT_GATEWAY_TOKEN: &str = "fleetsim-conform";

/// Runs `fleetsim conform`.
pub(crate) fn run(a: ConformArgs) -> Exit {
    if a.device {
        return run_device(&a);
    }
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if a.list {
        return list(&opts);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let report = match rt.block_on(conform::run(&opts)) {
        Ok(r) => r,
        Err(e @ (ConformError::UnknownCase(..) | ConformError::Http(_))) => {
            return Exit::BadInput(e.to_string())
        }
        Err(ConformError::Manager(e)) => {
            return Exit::BadInput(format!("--manage: {e}"));
        }
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reports/conform-{}", opts.profile.as_str())));
    finish(&report, &out, a.markdown.as_deref())
}

/// Prints the table, writes the card (and the Markdown card); the exit code.
fn finish(report: &card::ConformReport, out: &Path, markdown: Option<&Path>) -> Exit {
    print!("{}", card::table(report));
    if let Err(e) = card::write(report, out) {
        return Exit::Infrastructure(e.into());
    }
    println!("report card: {}", out.join("index.html").display());
    if let Some(md) = markdown {
        if let Err(e) = std::fs::write(md, card::markdown(report)) {
            return Exit::BadInput(format!("--markdown {}: {e}", md.display()));
        }
    }
    if report.passed() {
        Exit::Pass
    } else {
        Exit::Violations
    }
}

/// `conform --device`: the reference server plays the device script to the
/// devices that connect; the card once they finished or at `--deadline`.
fn run_device(a: &ConformArgs) -> Exit {
    if a.target.is_some() || a.list {
        return Exit::BadInput(
            "--device runs the reference server itself: it takes no --target or --list".into(),
        );
    }
    if a.profile != Profile::DdiV1.as_str() {
        return Exit::BadInput(format!(
            "--profile {} with --device: the device script exists for ddi-v1 only",
            a.profile
        ));
    }
    let d = DeviceOptions::default();
    let opts = DeviceOptions {
        listen: a.listen.unwrap_or(d.listen),
        devices: a.devices.map_or(d.devices, |n| n as usize),
        deadline: a
            .deadline
            .map_or(d.deadline, |s| Duration::from_millis(s.as_millis())),
        sleep: a.sleep.unwrap_or(d.sleep),
        situation_timeout: a.situation_timeout.unwrap_or(d.situation_timeout),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let report = rt.block_on(async {
        let run = device::start(opts).await?;
        println!("listening on {}", run.base_url);
        let _ = std::io::stdout().flush();
        Ok::<_, fleetsim::http_server::ServeError>(run.finish().await)
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports/conform-ddi-v1-device"));
    finish(&report, &out, a.markdown.as_deref())
}

/// The run's options from the flags.
fn options(a: &ConformArgs) -> Result<Options, Exit> {
    let profile = Profile::parse(&a.profile).ok_or_else(|| {
        let known: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        Exit::BadInput(format!(
            "--profile {}: expected one of {}",
            a.profile,
            known.join(", ")
        ))
    })?;
    let target = a.target.clone().unwrap_or_default();
    if !a.list {
        flag_checks::check_url("--target", &target)?;
    }
    flag_checks::check_tenant("--tenant", &a.tenant)?;
    if let Some(url) = &a.mqtt {
        fleetsim::mqtt::parse_broker_url(url)
            .map_err(|e| Exit::BadInput(format!("--mqtt {url}: {e}")))?;
    } else if profile == Profile::OtauMqtt && !a.list {
        return Err(Exit::BadInput(
            "--profile otau-mqtt needs --mqtt mqtt://HOST:PORT (the MQTT endpoint; --target is its HTTP side for downloads)".into(),
        ));
    }
    let ca_pem = match &a.ca_cert {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some((path.display().to_string(), bytes)),
            Err(e) => return Err(Exit::BadInput(format!("--ca-cert {}: {e}", path.display()))),
        },
        None => None,
    };
    let api = match a.manage {
        ConformManage::Hawkbit | ConformManage::Fleetsim => Some(ServerApi::Hawkbit),
        ConformManage::Goosebit => Some(ServerApi::Goosebit),
        ConformManage::None => None,
    };
    let manager = match api {
        Some(api) => {
            let url = a.mgmt_url.clone().unwrap_or_else(|| target.clone());
            flag_checks::check_url("--mgmt-url", &url)?;
            let (user, password) = a.mgmt.resolve()?;
            Some(ManagerConfig {
                api,
                url,
                user,
                password: Secret::new(password),
                ca_pem: ca_pem.clone(),
            })
        }
        None => None,
    };
    let gateway_token = match (&a.gateway_token, a.manage) {
        (Some(t), _) => Some(Secret::new(t.clone())),
        (None, ConformManage::Hawkbit | ConformManage::Fleetsim) => {
            Some(Secret::new(DEFAULT_GATEWAY_TOKEN))
        }
        (None, _) => None,
    };
    let otau_admin = (a.manage == ConformManage::Fleetsim)
        .then(|| manager.clone())
        .flatten();
    let tag = run_tag();
    Ok(Options {
        target: target.trim_end_matches('/').to_string(),
        tenant: a.tenant.clone(),
        profile,
        only: a.only.clone(),
        manager,
        otau_admin,
        mqtt: a.mqtt.clone(),
        // serve has OTAU devices 0..10000 without a scenario; a run takes a
        // few dozen, from a place that changes from run to run.
        otau_first_device: tag.bytes().fold(0u64, |h, b| h * 31 + u64::from(b)) % 9000,
        gateway_token,
        run_tag: tag,
        ca_pem,
    })
}

/// A short tag unique per run (base-36 seconds since 2026), so controller
/// ids do not meet the devices an earlier run left on the server.
fn run_tag() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(1_767_225_600);
    let mut n = secs;
    let mut out = Vec::new();
    loop {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    format!("cf{}", String::from_utf8_lossy(&out))
}

/// `--list`: the profile's cases.
fn list(opts: &Options) -> Exit {
    match conform::select(opts) {
        Ok(cases) => {
            for c in cases {
                println!("{:<15} {}\n{:<15} ({})", c.id, c.title, "", c.clause);
            }
            Exit::Pass
        }
        Err(e) => Exit::BadInput(e.to_string()),
    }
}
