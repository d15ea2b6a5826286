//! The flags `run` and `tui` share: the scenario with `--seed`, `--devices`,
//! `--duration` and `--time-scale` applied, and for `--target` the options
//! of a real-time run (credentials, CA, management API, MQTT broker).

use super::*;

/// The exit for a real-time run that could not be carried out: the user's
/// input (2) or the infrastructure (3).
pub fn runtime_exit(e: fleetsim::realtime::RuntimeError) -> Exit {
    use fleetsim::realtime::RuntimeError as E;
    match e {
        E::BadTarget(_) | E::Setup(_) | E::Unsupported(_) | E::MqttMissing(_) => {
            Exit::BadInput(e.to_string())
        }
        e => Exit::Infrastructure(e.into()),
    }
}

/// The scenario with `--seed/--devices/--duration/--time-scale` applied,
/// and the options of a real-time run when `--target` is given (whether a
/// progress line reads its snapshots is the caller's choice).
pub fn prepare(
    a: &mut RunArgs,
) -> Result<(Scenario, Option<fleetsim::realtime::RealOptions>), Exit> {
    let mut s = load_within(&a.scenario, &a.limits)?;
    apply_overrides(&mut s, a)?;
    let Some(url) = a.target.take() else {
        return Ok((s, None));
    };
    flag_checks::check_url("--target", &url)?;
    if let Some(mgmt_url) = &a.mgmt_url {
        flag_checks::check_url("--mgmt-url", mgmt_url)?;
    }
    if let Some(broker) = &a.mqtt {
        let url = fleetsim::mqtt::parse_broker_url(broker)
            .map_err(|e| Exit::BadInput(format!("--mqtt {broker}: {e}")))?;
        flag_checks::check_host_port("--mqtt", url.host_port)?;
    }
    match &a.tenant {
        Some(tenant) => flag_checks::check_tenant("--tenant", tenant)?,
        None => flag_checks::check_tenant(
            &format!("{}: server.tenant", a.scenario.display()),
            &s.server.tenant,
        )?,
    }
    if a.shard.is_some() || a.trace_device.is_some() || a.threads.is_some() {
        return Err(Exit::BadInput(
            "--shard, --threads and --trace-device apply to virtual runs, not to --target".into(),
        ));
    }
    let ca_pem = match &a.ca_cert {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some((path.display().to_string(), bytes)),
            Err(e) => return Err(Exit::BadInput(format!("--ca-cert {}: {e}", path.display()))),
        },
        None => None,
    };
    let gateway_token = match &a.gateway_token_file {
        Some(p) => Some(read_secret_file("--gateway-token-file", p)?),
        None => a.gateway_token.take(),
    };
    let manager = match a.manage {
        Some(api) => {
            let (user, password) = a.mgmt.resolve()?;
            if s.campaigns.external {
                return Err(Exit::BadInput(format!(
                    "--manage: {} says `campaigns: external`, so there are no campaigns to create; drop --manage or list the campaigns",
                    a.scenario.display()
                )));
            }
            Some(fleetsim::management::ManagerConfig {
                api: match api {
                    ManageApi::Hawkbit => fleetsim::management::ServerApi::Hawkbit,
                    ManageApi::Goosebit => fleetsim::management::ServerApi::Goosebit,
                },
                url: a.mgmt_url.take().unwrap_or_else(|| url.clone()),
                user,
                password: fleetsim::management::Secret::new(password),
                ca_pem: ca_pem.clone(),
            })
        }
        None => None,
    };
    let target = fleetsim::realtime::Target {
        base_url: url,
        tenant: a.tenant.take(),
        gateway_token,
        ca_pem,
    };
    let server_events = server_events_login(a)?;
    let twin = twin_options(a)?;
    let opts = fleetsim::realtime::RealOptions {
        target,
        manager,
        mqtt: a.mqtt.take(),
        live: None,
        server_events,
        twin,
    };
    Ok((s, Some(opts)))
}

/// `--twin`, `--twin-api` and the twin's login (`--twin-user` and
/// `--twin-password[-file]`, each defaulting to the Management API login:
/// serve guards its twin with it).
fn twin_options(a: &RunArgs) -> Result<fleetsim::realtime::TwinOptions, Exit> {
    if let Some(url) = &a.twin.twin {
        flag_checks::check_url("--twin", url)?;
    }
    let (mgmt_user, mgmt_password) = a.mgmt.resolve()?;
    let password = match (&a.twin.twin_password_file, &a.twin.twin_password) {
        (Some(p), _) => read_secret_file("--twin-password-file", p)?,
        (None, Some(password)) => password.clone(),
        (None, None) => mgmt_password,
    };
    let user = a.twin.twin_user.clone().unwrap_or(mgmt_user);
    Ok(fleetsim::realtime::TwinOptions {
        url: a.twin.twin.clone(),
        api: match a.twin.twin_api {
            TwinApiArg::Ws => fleetsim::realtime::TwinApi::Ws,
            TwinApiArg::Http => fleetsim::realtime::TwinApi::Http,
        },
        auth: Some(fleetsim_io::ditto::session::BasicAuth { user, password }),
    })
}

/// The login `--server-events` reads serve's event stream with.
fn server_events_login(
    a: &RunArgs,
) -> Result<Option<fleetsim::http_server::MgmtCredentials>, Exit> {
    if !a.server_events {
        return Ok(None);
    }
    let (user, password) = a.mgmt.resolve()?;
    Ok(Some(fleetsim::http_server::MgmtCredentials {
        user,
        password,
    }))
}

/// Applies `--seed`, `--devices`, `--duration` and `--time-scale` to `s`;
/// the result is checked as the scenario file was (the device bound, and
/// `validate`, since `replay` reads the scenario as run back).
fn apply_overrides(s: &mut Scenario, a: &RunArgs) -> Result<(), Exit> {
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    if let Some(n) = a.devices {
        if n == 0 {
            return Err(Exit::BadInput(
                "--devices: expected a device count of at least 1".into(),
            ));
        }
        if let Err(e) = a.limits.capacity().check_devices(u64::from(n)) {
            return Err(Exit::BadInput(format!("--devices {n}: {e}")));
        }
        s.scale_fleet(n);
    }
    if let Some(d) = a.duration {
        if d.as_millis() == 0 {
            return Err(Exit::BadInput(
                "--duration: expected a duration longer than 0s".into(),
            ));
        }
        s.duration = scenario::Duration(d);
        // The scenario as run must be one `load` accepts: `replay` reads it back.
        if let Err((path, e)) = scenario::validate(s) {
            return Err(Exit::BadInput(format!(
                "--duration {}: {}: {e}",
                scenario::units::format_duration(d),
                scenario::format_path(&path)
            )));
        }
    }
    if let Some(k) = a.time_scale {
        if !(k.is_finite() && k > 0.0) {
            return Err(Exit::BadInput(format!(
                "--time-scale: expected a number above 0, found {k}"
            )));
        }
        s.load.time_scale = k;
    }
    Ok(())
}
