//! What a real-time run does before its fleet starts: one root poll per
//! tenant (the preflight: a wrong address, refused credentials or a non-DDI
//! target end the run at once, exit 3), and with `--manage` the server's
//! preparation through its management API, once per tenant the fleet spans.

use super::*;

/// One connected management API per tenant the fleet spans, the run's own first.
pub(super) type Managers = Vec<(String, crate::management::Manager)>;

/// Connects to the management API and prepares the server for the fleet,
/// when the run creates the scenario's campaigns itself: once per tenant the
/// fleet spans, each with that tenant's devices. The run's own tenant logs
/// in as `--mgmt-user`; another tenant `T` as the user `T` with the same
/// password (the user `fleetsim serve` binds to `T`; on hawkBit,
/// `hawkbit.security.user.T.tenant=T`).
pub(super) async fn prepare_manager(
    scenario: &Scenario,
    opts: &RealOptions,
    setup: &Setup,
    reach: &Reach,
) -> Result<Option<(Managers, crate::management::ServerApi)>, RuntimeError> {
    let Some(cfg) = opts
        .manager
        .as_ref()
        .filter(|_| !scenario.campaigns.external)
    else {
        return Ok(None);
    };
    let tenants = fleet_tenants(setup, &reach.tenant);
    if tenants.len() > 1 && cfg.api != crate::management::ServerApi::Hawkbit {
        return Err(RuntimeError::Unsupported(format!(
            "--manage {}: the fleet spans tenants {} and {} has no tenants; use one tenant",
            cfg.api.as_str(),
            tenants.join(", "),
            cfg.api.as_str()
        )));
    }
    let mut managers = Vec::new();
    for (i, tenant) in tenants.into_iter().enumerate() {
        let mut cfg = cfg.clone();
        if i > 0 {
            cfg.user = tenant.clone();
        }
        let in_tenant = |g: &fleetsim_fleet::setup::Group| g.tenant_or(&reach.tenant) == tenant;
        let devices = || {
            setup
                .groups
                .iter()
                .filter(|g| in_tenant(g))
                .flat_map(|g| (g.first..g.first + g.count).map(move |n| (g, n)))
        };
        let fleet = crate::management::FleetInfo {
            tenant: tenant.clone(),
            controller_ids: devices().map(|(_, n)| setup.controller_id(n)).collect(),
            polling: scenario.server.polling.0,
            gateway_token: reach.token.clone().map(crate::management::Secret::new),
            target_tokens: devices()
                .map(|(g, n)| g.target_token(n).map(crate::management::Secret::new))
                .collect(),
        };
        let mut m = crate::management::Manager::connect(&cfg).await?;
        m.prepare(&fleet).await?;
        managers.push((tenant, m));
    }
    Ok(Some((managers, cfg.api)))
}

/// The tenants the fleet's groups name, the run's `default` first.
fn fleet_tenants(setup: &Setup, default: &str) -> Vec<String> {
    let mut tenants = vec![default.to_string()];
    for g in &setup.groups {
        let t = g.tenant_or(default);
        if !tenants.iter().any(|known| known == t) {
            tenants.push(t.to_string());
        }
    }
    tenants
}

/// One root poll before the fleet starts, so that a wrong address, TLS
/// trouble, refused credentials or a non-DDI server are reported at once
/// (for a fleet without DDI devices: only that the target answers). A fleet
/// spanning several tenants polls once in each, with the first device of
/// each: every tenant's credentials are checked.
pub(super) async fn preflight(
    http: &Http,
    base: &str,
    tenant: &str,
    setup: &Setup,
    authorization: Option<&str>,
) -> Result<(), RuntimeError> {
    let ddi = setup
        .groups
        .iter()
        .filter(|g| g.count > 0 && g.protocol == Protocol::Ddi);
    let mut seen: Vec<&str> = Vec::new();
    for g in ddi {
        let in_tenant = g.tenant_or(tenant);
        if !seen.contains(&in_tenant) {
            seen.push(in_tenant);
            let auth = g.authorization(g.first, authorization);
            preflight_one(http, base, in_tenant, setup, Some((g.first, auth))).await?;
        }
    }
    if seen.is_empty() {
        preflight_one(http, base, tenant, setup, None).await?;
    }
    Ok(())
}

/// The root poll of [`preflight`] by device `number` with its
/// `Authorization` (`None`: a fleet without DDI devices, device 0).
async fn preflight_one(
    http: &Http,
    base: &str,
    tenant: &str,
    setup: &Setup,
    device: Option<(u64, Option<&str>)>,
) -> Result<(), RuntimeError> {
    let (number, authorization) = device.unwrap_or((0, None));
    let id = setup.controller_id(number);
    let url = format!("{base}/{tenant}/controller/v1/{id}");
    let mut req = Request::new(Method::Get, url.clone());
    req.headers
        .insert("accept", "application/hal+json, application/json");
    if let Some(a) = authorization {
        req.headers.insert("authorization", a.to_string());
    }
    let shown = format!("{base}/{tenant}/controller/v1/…");
    // A fleet of OTAU or CPG devices only talks to its own kind of server,
    // which need not know DDI: any HTTP answer shows the target is there.
    let ddi = device.is_some();
    match http.execute(0, req, Injected::default()).await {
        Delivery::Complete(_) if !ddi => Ok(()),
        Delivery::Broken(e, _) => Err(RuntimeError::Unreachable {
            url: shown,
            what: match e {
                NetError::Unreachable => http.unreachable_why(&url).await,
                NetError::Timeout => "no answer within the request timeout".into(),
                other => other.to_string(),
            },
        }),
        Delivery::Complete(r) if r.status == 401 || r.status == 403 => Err(RuntimeError::NotDdi {
            url: shown,
            what: format!("{} to a root poll: credentials refused (check --gateway-token or the scenario's server.gateway_token)", r.status),
        }),
        Delivery::Complete(r) if r.status == 200 => root_document(&r).map_err(|what| RuntimeError::NotDdi { url: shown, what }),
        // 5xx, 429 and the like are the run's business: the oracle and the
        // devices' backoff deal with them.
        Delivery::Complete(r) if r.status >= 429 => Ok(()),
        Delivery::Complete(r) => Err(RuntimeError::NotDdi { url: shown, what: format!("root poll answered {}", r.status) }),
    }
}

/// Whether a 200 root answer shows a DDI server: a `ControllerBase`, or
/// JSON that is cut off or malformed — a server that speaks DDI and breaks
/// its documents, which is the oracle's business (DDI-JSON), not a wrong
/// target. Well-formed JSON of another shape, or a body not declared as
/// JSON, is another server.
fn root_document(r: &fleetsim_core::message::Response) -> Result<(), String> {
    let Err(e) = serde_json::from_slice::<fleetsim_core::protocol::ddi::wire::ControllerBase>(
        r.body.as_bytes(),
    ) else {
        return Ok(());
    };
    let declared_json = r
        .headers
        .get("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    if declared_json && (e.is_eof() || e.is_syntax()) {
        tracing::warn!("the root answer is broken JSON ({e}); going ahead, the oracle judges it");
        return Ok(());
    }
    Err(format!("root answer is not a DDI document ({e})"))
}
