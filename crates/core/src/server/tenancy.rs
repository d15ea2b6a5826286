//! Several tenants behind one origin, as a multi-tenant hawkBit hosts them.
//!
//! In hawkBit every target, distribution set, action and tenant setting
//! belongs to exactly one tenant; nothing is shared. A DDI request names its
//! tenant in the path (`/{tenant}/controller/v1/...`, ddi.md §0) and is
//! authenticated against that tenant's settings, so a path naming a tenant
//! the server does not host answers 401 (ddi.md §2). A Management API
//! request names no tenant: the Basic-auth user does, because hawkBit binds
//! each static user to one tenant (`hawkbit.security.user.<name>.tenant`).
//!
//! [`Tenants`] is that: one whole [`Server`] per tenant, in a fixed order
//! (the first is the default tenant), and a router in front of them. The
//! calls a campaign makes (assign, cancel, look up an action) go to the
//! tenant that holds the target. Controller ids are unique across a
//! scenario's fleet, so a target is found in at most one tenant; a target
//! created twice under one id through two tenants' Management APIs is
//! found in the first of them.
//!
//! Distribution sets added through [`Tenants::add_distribution`] are added
//! to every tenant in the same order, so a scenario's campaign has the same
//! [`DistributionId`] in each of them.

use crate::artifact::Catalog;
use crate::message::{Request, Response};
use crate::time::Time;

use super::{
    constrained, ddi, mgmt, otau, ActionId, ActionStatus, ActionType, DistributionId,
    DistributionSpec, FaultWindow, IndexGroup, MaintenanceSchedule, MgmtCredentials, Server,
    ServerEvent, StatusRecord,
};

/// The tenants of one embedded server, each a whole [`Server`].
#[derive(Debug)]
pub struct Tenants {
    /// Never empty; the first is the default tenant.
    servers: Vec<Server>,
}

impl Tenants {
    /// A server with one tenant, `default`.
    pub fn new(default: Server) -> Tenants {
        Tenants {
            servers: vec![default],
        }
    }

    /// Adds a tenant; false (and nothing added) if one of its name exists.
    pub fn add(&mut self, server: Server) -> bool {
        if self.get(&server.config.tenant).is_some() {
            return false;
        }
        self.servers.push(server);
        true
    }

    /// The default tenant (the scenario's `server.tenant`).
    pub fn default_tenant(&self) -> &Server {
        &self.servers[0]
    }

    /// The tenant named `name`.
    pub fn get(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.config.tenant == name)
    }

    /// The tenant named `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.config.tenant == name)
    }

    /// Every tenant, the default first.
    pub fn iter(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter()
    }

    /// Gives the default tenant's Management API `credentials`; every other
    /// tenant's user is named as the tenant, with the same password (as a
    /// hawkBit operator binds one static user to each tenant).
    pub fn set_mgmt_credentials(&mut self, credentials: &MgmtCredentials) {
        for (i, server) in self.servers.iter_mut().enumerate() {
            let user = match i {
                0 => credentials.user.clone(),
                _ => server.config.tenant.clone(),
            };
            let password = credentials.password.clone();
            server.set_mgmt_credentials(MgmtCredentials { user, password });
        }
    }

    /// The Management API credentials of every tenant, the default first.
    pub fn mgmt_users(&self) -> Vec<MgmtCredentials> {
        self.servers
            .iter()
            .map(|s| s.mgmt.credentials.clone())
            .collect()
    }

    /// Answers one request in the tenant it addresses: DDI by the path's
    /// tenant, the Management API by the Basic-auth user. A request no
    /// tenant claims goes to the default tenant, which refuses it (401).
    pub fn handle(&mut self, now: Time, req: &Request) -> Response {
        // One tenant takes every request: no need to read the path here.
        let i = match self.servers.len() {
            1 => 0,
            _ => self.tenant_of(req).unwrap_or(0),
        };
        self.servers[i].handle(now, req)
    }

    /// Index of the tenant `req` addresses, if one does.
    fn tenant_of(&self, req: &Request) -> Option<usize> {
        if mgmt::is_mgmt_path(req.path()) {
            return self
                .servers
                .iter()
                .position(|s| s.mgmt.credentials.accept(req));
        }
        let (tenant, _) = ddi::tenant_and_controller(req)?;
        self.servers.iter().position(|s| s.config.tenant == tenant)
    }

    /// Moves every tenant's events into `out`, tenant by tenant.
    pub fn drain_events(&mut self, out: &mut Vec<ServerEvent>) {
        for server in &mut self.servers {
            server.drain_events(out);
        }
    }

    /// Adds `spec` to every tenant; its id, the same in each.
    pub fn add_distribution(&mut self, spec: DistributionSpec) -> DistributionId {
        let ids: Vec<DistributionId> = self
            .servers
            .iter_mut()
            .map(|s| s.add_distribution(spec.clone()))
            .collect();
        debug_assert!(ids.windows(2).all(|w| w[0] == w[1]));
        ids[0]
    }

    /// Creates (or updates) a target in tenant `tenant`; false if there is no such tenant.
    pub fn register_target(
        &mut self,
        tenant: &str,
        controller_id: &str,
        index: u64,
        security_token: Option<String>,
    ) -> bool {
        let Some(server) = self.get_mut(tenant) else {
            return false;
        };
        server.register_target(controller_id, index, security_token);
        true
    }

    /// The tenant holding target `controller_id`.
    pub fn of_target(&self, controller_id: &str) -> Option<&Server> {
        self.servers
            .iter()
            .find(|s| s.targets.get(controller_id).is_some())
    }

    fn of_target_mut(&mut self, controller_id: &str) -> Option<&mut Server> {
        self.servers
            .iter_mut()
            .find(|s| s.targets.get(controller_id).is_some())
    }

    /// [`Server::assign`] in the target's tenant.
    pub fn assign(
        &mut self,
        now: Time,
        dist: DistributionId,
        controller_id: &str,
        kind: ActionType,
        weight: Option<u32>,
        window: Option<MaintenanceSchedule>,
    ) -> Option<ActionId> {
        self.of_target_mut(controller_id)?
            .assign(now, dist, controller_id, kind, weight, window)
    }

    /// [`Server::cancel`] in the target's tenant.
    pub fn cancel(
        &mut self,
        now: Time,
        controller_id: &str,
        action: ActionId,
        force: bool,
    ) -> bool {
        self.of_target_mut(controller_id)
            .is_some_and(|s| s.cancel(now, controller_id, action, force))
    }

    /// [`Server::action_status`] in the target's tenant.
    pub fn action_status(&self, controller_id: &str, action: ActionId) -> Option<ActionStatus> {
        self.of_target(controller_id)?
            .action_status(controller_id, action)
    }

    /// [`Server::action_active`] in the target's tenant.
    pub fn action_active(&self, controller_id: &str, action: ActionId) -> Option<bool> {
        self.of_target(controller_id)?
            .action_active(controller_id, action)
    }

    /// [`Server::action_history`] in the target's tenant.
    pub fn action_history(
        &self,
        controller_id: &str,
        action: ActionId,
    ) -> Option<Vec<StatusRecord>> {
        self.of_target(controller_id)?
            .action_history(controller_id, action)
    }

    /// [`Server::attributes`] in the target's tenant.
    pub fn attributes(&self, controller_id: &str) -> Option<Vec<(String, String)>> {
        self.of_target(controller_id)?.attributes(controller_id)
    }

    /// [`Server::shrink_targets`] for every tenant.
    pub fn shrink_targets(&mut self) {
        for server in &mut self.servers {
            server.shrink_targets();
        }
    }

    /// Targets of every tenant.
    pub fn target_count(&self) -> usize {
        self.servers.iter().map(Server::target_count).sum()
    }

    /// [`Server::take_mgmt_created`] of every tenant, tenant by tenant.
    pub fn take_mgmt_created(&mut self) -> Vec<String> {
        self.servers
            .iter_mut()
            .flat_map(Server::take_mgmt_created)
            .collect()
    }

    /// [`Server::set_index_plan`] for every tenant.
    pub fn set_index_plan(&mut self, plan: Vec<IndexGroup>) {
        for server in &mut self.servers {
            server.set_index_plan(plan.clone());
        }
    }

    /// Fault windows for every tenant (a scenario's faults break the whole server).
    pub fn set_faults(&mut self, faults: Vec<FaultWindow>) {
        for server in &mut self.servers {
            server.set_faults(faults.clone());
        }
    }

    /// The content catalog (the same in every tenant: see the module doc).
    pub fn catalog(&self) -> &Catalog {
        self.default_tenant().catalog()
    }

    /// [`Server::otau_faults_at`] (the faults are the same in every tenant).
    pub fn otau_faults_at(&self, now: Time) -> (Option<u16>, otau::OtauFaults) {
        self.default_tenant().otau_faults_at(now)
    }

    /// [`Server::sidekick_faults_at`] (the faults are the same in every tenant).
    pub fn sidekick_faults_at(&self, now: Time) -> (Option<u16>, constrained::GatewayFaults) {
        self.default_tenant().sidekick_faults_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;
    use crate::server::test_support::dist_spec;
    use crate::server::ServerConfig;

    fn tenant(name: &str) -> Server {
        Server::new(ServerConfig {
            tenant: name.to_string(),
            gateway_token: Some("key".into()),
            ..ServerConfig::default()
        })
    }

    fn poll(tenant: &str, cid: &str) -> Request {
        let mut req = Request::new(Method::Get, format!("/{tenant}/controller/v1/{cid}"));
        req.headers.insert("authorization", "GatewayToken key");
        req
    }

    /// `Authorization: Basic` of `user:admin`.
    fn basic(user: &str) -> &'static str {
        match user {
            "ACME" => "Basic QUNNRTphZG1pbg==",
            "admin" => "Basic YWRtaW46YWRtaW4=",
            _ => "Basic bm9ib2R5OmFkbWlu", // nobody:admin
        }
    }

    fn tenants() -> Tenants {
        let mut t = Tenants::new(tenant("DEFAULT"));
        assert!(t.add(tenant("ACME")));
        assert!(!t.add(tenant("ACME")), "a tenant name is taken once");
        t.set_mgmt_credentials(&MgmtCredentials::default());
        t
    }

    #[test]
    fn ddi_requests_reach_the_tenant_their_path_names() {
        let mut t = tenants();
        assert_eq!(t.handle(Time::ZERO, &poll("ACME", "a-1")).status, 200);
        assert_eq!(t.handle(Time::ZERO, &poll("DEFAULT", "d-1")).status, 200);
        assert!(t.get("ACME").and_then(|s| s.targets.get("a-1")).is_some());
        assert!(t
            .get("DEFAULT")
            .and_then(|s| s.targets.get("a-1"))
            .is_none());
        assert_eq!(
            t.of_target("d-1").map(|s| s.config().tenant.as_str()),
            Some("DEFAULT")
        );
        // A tenant the server does not host: 401, as hawkBit's per-tenant auth answers.
        assert_eq!(t.handle(Time::ZERO, &poll("OTHER", "x")).status, 401);
        assert_eq!(t.target_count(), 2);
    }

    #[test]
    fn a_target_token_opens_only_its_own_tenant() {
        let mut acme = tenant("ACME");
        acme.config.target_token_auth = true;
        let mut t = Tenants::new(tenant("DEFAULT"));
        t.add(acme);
        t.get_mut("DEFAULT")
            .expect("default")
            .config
            .target_token_auth = true;
        assert!(t.register_target("ACME", "a-1", 1, Some("secret".into())));
        let with_token = |tenant: &str| {
            let mut req = Request::new(Method::Get, format!("/{tenant}/controller/v1/a-1"));
            req.headers.insert("authorization", "TargetToken secret");
            req
        };
        assert_eq!(t.handle(Time::ZERO, &with_token("ACME")).status, 200);
        // The same controller id and token in another tenant: not its target.
        assert_eq!(t.handle(Time::ZERO, &with_token("DEFAULT")).status, 401);
        assert_eq!(t.target_count(), 1);
    }

    #[test]
    fn management_users_are_bound_to_one_tenant_each() {
        let mut t = tenants();
        t.handle(Time::ZERO, &poll("ACME", "a-1"));
        t.handle(Time::ZERO, &poll("DEFAULT", "d-1"));
        let list = |t: &mut Tenants, user: &str| {
            let mut req = Request::new(Method::Get, "/rest/v1/targets".to_string());
            req.headers.insert("authorization", basic(user));
            let resp = t.handle(Time::ZERO, &req);
            (
                resp.status,
                String::from_utf8_lossy(resp.body.as_bytes()).to_string(),
            )
        };
        let (status, body) = list(&mut t, "ACME");
        assert_eq!(status, 200);
        assert!(body.contains("a-1") && !body.contains("d-1"), "{body}");
        let (status, body) = list(&mut t, "admin");
        assert_eq!(status, 200);
        assert!(body.contains("d-1") && !body.contains("a-1"), "{body}");
        assert_eq!(list(&mut t, "nobody").0, 401);
    }

    #[test]
    fn campaigns_assign_in_the_tenant_holding_the_target() {
        let mut t = tenants();
        let dist = t.add_distribution(dist_spec("1.0", crate::message::ContentId(1)));
        assert!(t.register_target("ACME", "a-1", 7, None));
        assert!(!t.register_target("NOPE", "n-1", 8, None));
        let action = t.assign(Time::ZERO, dist, "a-1", ActionType::Forced, None, None);
        let action = action.expect("assigned in ACME");
        assert_eq!(t.action_status("a-1", action), Some(ActionStatus::Running));
        let mut events = Vec::new();
        t.drain_events(&mut events);
        assert_eq!(events.len(), 1);
        assert!(t.cancel(Time(1), "a-1", action, false));
        assert_eq!(
            t.action_status("a-1", action),
            Some(ActionStatus::Canceling)
        );
        assert!(t
            .assign(Time::ZERO, dist, "d-9", ActionType::Soft, None, None)
            .is_none());
    }
}
