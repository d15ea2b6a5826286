//! Checks of a parsed scenario that its types cannot carry: relations
//! between fields (a window no longer than its period, a campaign before the
//! end of the run, a group name that exists). Each failure names the path of
//! the offending node, so [`super::load_str`] can point at its line.

use super::locate::PathSeg;
use super::model::{CampaignType, DeviceKind, ExpectedViolations, Scenario, ServerSpec};
use super::units;
use super::{Campaign, FleetGroup};

/// What went wrong and where: the path of the offending node and what was
/// expected there.
type Checked = Result<(), (Vec<PathSeg>, String)>;

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

/// The `server:` settings types cannot check.
fn validate_server(server: &ServerSpec) -> Checked {
    let at = |k: &str| vec![PathSeg::Key("server".into()), PathSeg::Key(k.into())];
    if server.polling.0 < fleetsim_core::time::Span::secs(1) {
        return Err((
            at("polling"),
            "expected a polling interval of at least 1s".into(),
        ));
    }
    if server
        .gateway_token
        .as_ref()
        .is_some_and(|k| k.trim().is_empty())
    {
        // An empty key would lock every device out (no token matches it).
        return Err((
            at("gateway_token"),
            "expected a non-empty key (leave gateway_token out to turn GatewayToken auth off)"
                .into(),
        ));
    }
    if !is_tenant_name(&server.tenant) {
        return Err((at("tenant"), TENANT_EXPECTED.into()));
    }
    Ok(())
}

/// What a tenant name must be, as a located error says it.
const TENANT_EXPECTED: &str =
    "expected a tenant name: 1 to 40 ASCII letters, digits, `-`, `_` or `.` (it is a URL path segment)";

/// True for a tenant name fleetsim accepts: a URL path segment that needs no
/// escaping, at most 40 characters (hawkBit's tenant column).
pub fn is_tenant_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Most fleet-state samples a run takes (`sample_every`; by default 200):
/// each is a timeline point in memory and in the report, and a sample
/// every millisecond of a 30-day run was billions of them.
pub const MAX_SAMPLES: u64 = 100_000;

/// Longest scenario name: it names the report directory (`reports/<name>`),
/// and file systems refuse names over 255 bytes; 100 also keeps the
/// directory listings and report titles readable.
pub const MAX_NAME_LEN: usize = 100;

/// True when `name` is a directory name that stays inside `reports/`:
/// ASCII letters, digits, `-`, `_` and `.`, not `.`/`..` or hidden (a
/// leading `.`), not empty and at most [`MAX_NAME_LEN`] long.
pub fn is_report_dir_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Checks what types cannot: relations between fields. Returns the path of
/// the offending node and what was expected there.
pub fn validate(s: &Scenario) -> Result<(), (Vec<PathSeg>, String)> {
    validate_top(s)?;
    validate_server(&s.server)?;
    for (i, g) in s.fleet.iter().enumerate() {
        validate_group(i, g)?;
        validate_gateway_ddi(s, i, g)?;
    }
    for (i, c) in s.campaigns.iter().enumerate() {
        validate_campaign(s, i, c)?;
    }
    validate_faults(s)?;
    validate_load(s)?;
    validate_expect(s)
}

/// The name, the duration and the sampling interval.
fn validate_top(s: &Scenario) -> Checked {
    if !is_report_dir_name(&s.name) {
        return Err((
            vec![key("name")],
            format!("expected a name of at most {MAX_NAME_LEN} letters, digits, `-`, `_` or `.`, not starting with `.` (it names the report directory under reports/)"),
        ));
    }
    if s.duration.0.as_millis() == 0 {
        return Err((
            vec![key("duration")],
            "expected a duration longer than 0s".into(),
        ));
    }
    if let Some(every) = s.sample_every {
        let samples = s.duration.0.as_millis() / every.0.as_millis().max(1);
        if every.0.as_millis() == 0 || samples > MAX_SAMPLES {
            return Err((
                vec![key("sample_every")],
                format!("expected a sampling interval longer than 0s and at least 1/{MAX_SAMPLES} of the duration"),
            ));
        }
    }
    if s.fleet.is_empty() {
        return Err((
            vec![key("fleet")],
            "expected at least one fleet group".into(),
        ));
    }
    Ok(())
}

/// One fleet group: its count, its link, its OTAU settings.
fn validate_group(i: usize, g: &FleetGroup) -> Checked {
    use PathSeg::Index;
    let at = |k: &str| vec![key("fleet"), Index(i), key(k)];
    if g.count == 0 {
        return Err((at("count"), "expected a device count of at least 1".into()));
    }
    validate_link(i, g)?;
    validate_ddi_only(i, g)?;
    validate_gateway(i, g)?;
    if g.tenant.as_deref().is_some_and(|t| !is_tenant_name(t)) {
        let at = vec![key("fleet"), PathSeg::Index(i), key("tenant")];
        return Err((at, TENANT_EXPECTED.into()));
    }
    let otau = |k: &str| vec![key("fleet"), Index(i), key("otau"), key(k)];
    let long_poll = g.otau.long_poll.0.as_millis();
    if long_poll == 0 || long_poll > fleetsim_core::protocol::otau::wire::MAX_REQUEST_TIMEOUT_MS {
        return Err((
            otau("long_poll"),
            "expected a long-poll timeout above 0s and at most 300s (otau.md §4.1)".into(),
        ));
    }
    if let Some(name) = &g.otau.skip_status {
        if fleetsim_core::protocol::otau::wire::Status::parse(name).is_none() {
            return Err((
                otau("skip_status"),
                format!(
                    "expected an otau_in status ({}), found `{name}`",
                    fleetsim_core::protocol::otau::wire::Status::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if let Some(pid) = g.otau.product.as_deref() {
        if !fleetsim_core::server::otau::is_product_id(pid) {
            return Err((
                otau("product"),
                format!(
                    "expected a product id of 1 to 64 lowercase letters and digits, found `{pid}`"
                ),
            ));
        }
    }
    if g.otau.test_failure.0 > 0.0 && !g.otau.test_phase {
        return Err((
            otau("test_failure"),
            "a test phase that fails needs `test_phase: true`".into(),
        ));
    }
    if let Some(m) = &g.misbehave {
        if m.poll_every.0.as_millis() == 0 {
            return Err((
                vec![key("fleet"), Index(i), key("misbehave"), key("poll_every")],
                "expected a poll interval longer than 0s".into(),
            ));
        }
    }
    Ok(())
}

/// Settings only DDI devices have (`encoding`, `consent`, `auth`) are
/// refused on groups of another protocol rather than silently ignored.
fn validate_ddi_only(i: usize, g: &FleetGroup) -> Checked {
    if g.protocol == super::Protocol::Ddi {
        return Ok(());
    }
    let set = [
        ("encoding", !g.encoding.is_json()),
        ("consent", !g.consent.is_ignore()),
        ("auth", g.auth != super::DeviceAuth::Gateway),
        ("tenant", g.tenant.is_some()),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((name, _)) => Err((
            vec![key("fleet"), PathSeg::Index(i), key(name)],
            format!(
                "expected `{name}` only on DDI groups (this group speaks {})",
                g.protocol.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// A `gateway:` block: only on `protocol: ditto` groups, a valid Ditto
/// namespace, a bounded number of edge devices, a buffer of at least one
/// change and no zero intervals.
fn validate_gateway(i: usize, g: &FleetGroup) -> Checked {
    let Some(spec) = &g.gateway else {
        return Ok(());
    };
    let at = |k: &str| vec![key("fleet"), PathSeg::Index(i), key("gateway"), key(k)];
    if g.protocol != super::Protocol::Ditto {
        return Err((
            vec![key("fleet"), PathSeg::Index(i), key("gateway")],
            format!(
                "expected `gateway` only on `protocol: ditto` groups (this group speaks {})",
                g.protocol.as_str()
            ),
        ));
    }
    if let Err(e) = fleetsim_core::ditto::id::check_namespace(&spec.namespace) {
        return Err((at("namespace"), format!("expected a Ditto namespace: {e}")));
    }
    // Serials are `<id_prefix><number>`: the prefix must make valid thing IDs.
    let gateway = format!("{}:{}{}", spec.namespace, g.prefix(), u32::MAX);
    if let Err(e) = fleetsim_core::ditto::id::check_thing_id(&gateway) {
        let at = vec![key("fleet"), PathSeg::Index(i), key("id_prefix")];
        return Err((
            at,
            format!("expected a prefix that makes valid Ditto thing IDs: {e}"),
        ));
    }
    if spec.edge_devices > super::gateway::MAX_EDGE_DEVICES {
        let max = super::gateway::MAX_EDGE_DEVICES;
        return Err((
            at("edge_devices"),
            format!("expected at most {max} edge devices"),
        ));
    }
    if spec.buffer == 0 {
        return Err((
            at("buffer"),
            "expected a buffer of at least 1 change".into(),
        ));
    }
    let intervals = [
        ("change_every", spec.change_every),
        ("churn_every", spec.churn_every),
        ("commands_every", spec.commands_every),
        ("twin_writes_every", spec.twin_writes_every),
    ];
    match intervals
        .iter()
        .find(|(_, d)| d.is_some_and(|d| d.0.as_millis() == 0))
    {
        Some((name, _)) => Err((at(name), "expected an interval longer than 0s".into())),
        None => Ok(()),
    }
}

/// `gateway.ddi: all`: the edge devices' controllers authenticate with the
/// gateway token (ddi.md §2), so the scenario must have one.
fn validate_gateway_ddi(s: &Scenario, i: usize, g: &FleetGroup) -> Checked {
    let edge = g.gateway.as_ref().is_some_and(|spec| spec.ddi.edge());
    if edge && s.server.gateway_token.is_none() {
        let at = vec![key("fleet"), PathSeg::Index(i), key("gateway"), key("ddi")];
        return Err((
            at,
            "expected `server.gateway_token` with `ddi: all` (edge devices' controllers \
             authenticate through their gateway with a GatewayToken)"
                .into(),
        ));
    }
    Ok(())
}

/// One fleet group's network link: online windows, latency, bandwidth.
fn validate_link(i: usize, g: &FleetGroup) -> Checked {
    use PathSeg::Index;
    let c = &g.connectivity;
    let conn = |k: &str| vec![key("fleet"), Index(i), key("connectivity"), key(k)];
    match (c.online_every, c.online_for) {
        (Some(every), Some(window)) => {
            if window.0.as_millis() == 0 || window > every {
                return Err((
                    conn("online_for"),
                    "expected an online window longer than 0s and no longer than `online_every`"
                        .into(),
                ));
            }
        }
        (Some(_), None) => {
            return Err((
                conn("online_every"),
                "expected `online_for` beside `online_every`".into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                conn("online_for"),
                "expected `online_every` beside `online_for`".into(),
            ))
        }
        (None, None) if g.kind == DeviceKind::Constrained => {
            return Err((
                vec![key("fleet"), Index(i), key("kind")],
                "expected `connectivity: { online_every, online_for }` for a constrained device"
                    .into(),
            ))
        }
        (None, None) => {}
    }
    if c.latency.p99 < c.latency.p50 {
        return Err((
            vec![
                key("fleet"),
                Index(i),
                key("connectivity"),
                key("latency"),
                key("p99"),
            ],
            "expected p99 latency at least as large as p50".into(),
        ));
    }
    if c.bandwidth.0 == 0 {
        return Err((
            conn("bandwidth"),
            "expected a bandwidth above 0 bytes per second".into(),
        ));
    }
    Ok(())
}

/// One campaign: its start, artifacts, targets and type.
fn validate_campaign(s: &Scenario, i: usize, c: &Campaign) -> Checked {
    use PathSeg::Index;
    let at = |k: &str| vec![key("campaigns"), Index(i), key(k)];
    if c.at >= s.duration {
        return Err((
            at("at"),
            format!(
                "expected a campaign start before the end of the run ({})",
                units::format_duration(s.duration.0)
            ),
        ));
    }
    if c.artifacts.is_empty() {
        return Err((at("artifacts"), "expected at least one artifact".into()));
    }
    if c.weight.is_some_and(|w| w > 1000) {
        return Err((at("weight"), "expected a weight between 0 and 1000".into()));
    }
    if c.url_validity.is_some_and(|v| v.0.as_millis() < 1000) {
        return Err((
            at("url_validity"),
            "expected a URL validity of at least 1s".into(),
        ));
    }
    if c.leaked_downloads_per_day
        .is_some_and(|r| !(r.is_finite() && r >= 0.0))
    {
        return Err((
            at("leaked_downloads_per_day"),
            "expected downloads per day of 0 or more".into(),
        ));
    }
    if let Some(every) = c.targets.every {
        if every == 0 || c.targets.offset >= every {
            return Err((
                vec![key("campaigns"), Index(i), key("targets"), key("offset")],
                format!("expected `every` above 0 and `offset` below it, found every {every}, offset {}", c.targets.offset),
            ));
        }
    }
    if let Some(name) = &c.targets.group {
        if !s.fleet.iter().any(|g| g.name.as_ref() == Some(name)) {
            return Err((
                vec![key("campaigns"), Index(i), key("targets"), key("group")],
                format!("expected the `name` of a fleet group, found `{name}`"),
            ));
        }
    }
    match (c.kind, c.force_after) {
        (CampaignType::Timeforced, None) => {
            return Err((
                at("type"),
                "expected `force_after` with `type: timeforced`".into(),
            ))
        }
        (CampaignType::Timeforced, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err((
                at("force_after"),
                "expected `force_after` only with `type: timeforced`".into(),
            ))
        }
    }
    check_schedule(c).map_err(|e| (at("maintenance_window"), e))?;
    for (j, a) in c.artifacts.iter().enumerate() {
        if a.name.is_empty() || a.name == "." || a.name == ".." || a.name.contains(['/', '?']) {
            return Err((
                vec![
                    key("campaigns"),
                    Index(i),
                    key("artifacts"),
                    Index(j),
                    key("name"),
                ],
                "expected a file name without `/` or `?`, other than `.` and `..`".into(),
            ));
        }
    }
    Ok(())
}

/// A recurring maintenance window parses as hawkBit would accept it.
fn check_schedule(c: &Campaign) -> Result<(), String> {
    let Some(super::model::WindowSpec::Recurring(w)) = &c.maintenance_window else {
        return Ok(());
    };
    fleetsim_core::server::schedule::Schedule::parse(&w.schedule, &w.duration, &w.timezone)
        .map(|_| ())
        .map_err(|e| format!("expected a maintenance schedule hawkBit accepts: {e}"))
}

/// Server faults start before the end of the run.
fn validate_faults(s: &Scenario) -> Checked {
    use PathSeg::Index;
    for (i, f) in s.faults.server.iter().enumerate() {
        if f.at >= s.duration {
            return Err((
                vec![key("faults"), key("server"), Index(i), key("at")],
                "expected a fault start before the end of the run".into(),
            ));
        }
    }
    Ok(())
}

/// The real-time `load:` settings.
fn validate_load(s: &Scenario) -> Checked {
    let load = &s.load;
    let at_load = |k: &str| vec![key("load"), key(k)];
    if !(load.time_scale.is_finite() && load.time_scale > 0.0) {
        return Err((
            at_load("time_scale"),
            "expected a time scale above 0 (1 = real time)".into(),
        ));
    }
    if load.start_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err((
            at_load("start_rate"),
            "expected devices per second above 0".into(),
        ));
    }
    if load.ramp_to.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err((
            at_load("ramp_to"),
            "expected devices per second above 0".into(),
        ));
    }
    match (load.start_rate, load.ramp_to, load.ramp_over) {
        (None, Some(_), _) => {
            return Err((
                at_load("ramp_to"),
                "expected `start_rate` beside `ramp_to`".into(),
            ))
        }
        (_, Some(_), None) => {
            return Err((
                at_load("ramp_to"),
                "expected `ramp_over` beside `ramp_to`".into(),
            ))
        }
        (_, None, Some(_)) => {
            return Err((
                at_load("ramp_over"),
                "expected `ramp_to` beside `ramp_over`".into(),
            ))
        }
        _ => {}
    }
    Ok(())
}

/// Expected violations name invariants that exist.
fn validate_expect(s: &Scenario) -> Checked {
    use PathSeg::Index;
    if let ExpectedViolations::Ids(ids) = &s.expect.violations {
        for (i, id) in ids.iter().enumerate() {
            if fleetsim_core::oracle::InvariantId::parse(id).is_none() {
                return Err((
                    vec![key("expect"), key("violations"), Index(i)],
                    format!(
                        "expected an invariant ID ({}), found `{id}`",
                        fleetsim_core::oracle::InvariantId::ALL
                            .iter()
                            .map(|i| i.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}
