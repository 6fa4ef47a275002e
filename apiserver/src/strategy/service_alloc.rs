//! Cluster IP and node port allocation for Services, the job of upstream's
//! `ipallocator`/`portallocator` behind the service REST storage.
//!
//! The server owns one `ServiceAllocator` (built from
//! `--service-cluster-ip-range` and `--service-node-port-range`), fills it
//! from the stored services at start (`load`), and calls it on every
//! service write:
//! - create: `allocate_create` after `prepare_for_create`, before
//!   `validate`; `revert` the returned `Reservation` if validation or the
//!   store write fails;
//! - update/patch: through an [`UpdateLedger`] (one per request):
//!   `attempt` (`allocate_update`) after `prepare_for_update`, before
//!   `validate_update`, on every try of the guaranteed update; `finish`
//!   then releases what the old object held and the new one dropped, or
//!   gives back what a failed write took;
//! - delete (once the object is gone): `release_service`.
//!
//! Dynamic allocation is sequential and starts above a static band at the
//! bottom of each range (upstream's KEP-3070/3668 split), so well-known
//! static addresses (10.96.0.10 for DNS) stay free; the first address of
//! the range is kept for the `kubernetes` service.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::common::{go_string_slice, i64_at, str_at};
use super::service::{family_of, is_headless, needs_cluster_ip, needs_health_check, svc_type};
use crate::error::{ApiError, Cause};
use crate::validation::invalid;

/// What one call reserved (to revert on failure) or must release (after a
/// successful update).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub ips: Vec<IpAddr>,
    pub ports: Vec<u16>,
}

impl Reservation {
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.ports.is_empty()
    }
}

#[derive(Debug)]
struct State {
    used_ips: BTreeSet<u128>,
    used_ports: BTreeSet<u16>,
}

/// The cluster IP and node port allocator of one API server.
#[derive(Debug)]
pub struct ServiceAllocator {
    cidr: String,
    v6: bool,
    /// Network address as a number.
    network: u128,
    /// Usable offsets are 1..=last (network address excluded, and the
    /// broadcast address for IPv4).
    last: u128,
    /// First offset of the dynamic band.
    dynamic_ip: u128,
    ports: (u16, u16),
    dynamic_port: u16,
    state: Mutex<State>,
}

fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl ServiceAllocator {
    /// `cidr` as `--service-cluster-ip-range` (one family), `ports` as
    /// `--service-node-port-range`.
    pub fn new(cidr: &str, ports: (u16, u16)) -> Result<Self, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {cidr}"))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid CIDR address: {cidr}"))?;
        let prefix: u32 = prefix
            .parse()
            .map_err(|_| format!("invalid CIDR address: {cidr}"))?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(format!("invalid CIDR address: {cidr}"));
        }
        let host_bits = bits - prefix;
        if (ip.is_ipv4() && host_bits < 2) || (ip.is_ipv6() && host_bits < 1) {
            return Err(format!("the service cluster IP range {cidr} is too small"));
        }
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        let network = ip_to_u128(ip)
            & mask
            & if ip.is_ipv4() {
                u32::MAX as u128
            } else {
                u128::MAX
            };
        // Cap IPv6 ranges like upstream's bitmap allocator does.
        let size = if host_bits >= 20 {
            1u128 << 20
        } else {
            1u128 << host_bits
        };
        let last = if ip.is_ipv4() { size - 2 } else { size - 1 };
        let usable = last;
        let band = (usable / 16).clamp(16, 256).min(usable.saturating_sub(1));
        if ports.0 == 0 || ports.1 < ports.0 {
            return Err(format!("invalid node port range {}-{}", ports.0, ports.1));
        }
        let port_size = (ports.1 - ports.0) as u32 + 1;
        let port_band = (port_size / 32)
            .clamp(16, 128)
            .min(port_size.saturating_sub(1)) as u16;
        Ok(ServiceAllocator {
            cidr: format!("{}/{prefix}", Self::addr_of(ip.is_ipv6(), network)),
            v6: ip.is_ipv6(),
            network,
            last,
            dynamic_ip: 1 + band,
            ports,
            dynamic_port: ports.0 + port_band,
            state: Mutex::new(State {
                used_ips: BTreeSet::new(),
                used_ports: BTreeSet::new(),
            }),
        })
    }

    fn addr_of(v6: bool, n: u128) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(n))
        } else {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// "IPv4" or "IPv6".
    pub fn family(&self) -> &'static str {
        if self.v6 { "IPv6" } else { "IPv4" }
    }

    /// The range as given to the server, normalised (e.g. 10.96.0.0/12).
    pub fn cidr(&self) -> &str {
        &self.cidr
    }

    /// The first address of the range: the `kubernetes` service's.
    pub fn kubernetes_service_ip(&self) -> IpAddr {
        Self::addr_of(self.v6, self.network + 1)
    }

    /// The offset of `ip` in the range, if it is a usable address of it.
    fn offset(&self, ip: IpAddr) -> Option<u128> {
        if ip.is_ipv6() != self.v6 {
            return None;
        }
        let n = ip_to_u128(ip);
        let off = n.checked_sub(self.network)?;
        (1..=self.last).contains(&off).then_some(off)
    }

    /// Marks the addresses and ports of stored services as used (start-up,
    /// or a resync); values outside the ranges are ignored.
    pub fn load<'a>(&self, services: impl IntoIterator<Item = &'a Value>) {
        let mut st = self.state();
        for svc in services {
            for ip in cluster_ips(svc) {
                if let Some(off) = ip.parse().ok().and_then(|ip| self.offset(ip)) {
                    st.used_ips.insert(off);
                }
            }
            for p in node_ports(svc) {
                if self.port_in_range(p) {
                    st.used_ports.insert(p as u16);
                }
            }
        }
    }

    /// Whether `ip` is currently allocated.
    pub fn ip_in_use(&self, ip: IpAddr) -> bool {
        self.offset(ip)
            .is_some_and(|off| self.state().used_ips.contains(&off))
    }

    pub fn port_in_use(&self, port: u16) -> bool {
        self.state().used_ports.contains(&port)
    }

    fn port_in_range(&self, p: i64) -> bool {
        (self.ports.0 as i64..=self.ports.1 as i64).contains(&p)
    }

    /// Reserves a specific address: upstream's `Allocate` errors.
    fn take_ip(&self, st: &mut State, ip: IpAddr, dry_run: bool) -> Result<(), String> {
        let off = self.offset(ip).ok_or_else(|| {
            format!(
                "provided IP is not in the valid range. The range of valid IPs is {}",
                self.cidr
            )
        })?;
        if st.used_ips.contains(&off) {
            return Err("provided IP is already allocated".to_string());
        }
        if !dry_run {
            st.used_ips.insert(off);
        }
        Ok(())
    }

    /// The next free dynamic address (never the first one).
    fn next_ip(&self, st: &mut State, dry_run: bool) -> Option<IpAddr> {
        let upper = self.dynamic_ip..=self.last;
        let lower = 2..self.dynamic_ip;
        let off = upper.chain(lower).find(|off| !st.used_ips.contains(off))?;
        if !dry_run {
            st.used_ips.insert(off);
        }
        Some(Self::addr_of(self.v6, self.network + off))
    }

    fn take_port(&self, st: &mut State, port: i64, dry_run: bool) -> Result<(), String> {
        if !self.port_in_range(port) {
            return Err(format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                self.ports.0, self.ports.1
            ));
        }
        if st.used_ports.contains(&(port as u16)) {
            return Err("provided port is already allocated".to_string());
        }
        if !dry_run {
            st.used_ports.insert(port as u16);
        }
        Ok(())
    }

    fn next_port(&self, st: &mut State, dry_run: bool) -> Option<u16> {
        let p = (self.dynamic_port..=self.ports.1)
            .chain(self.ports.0..self.dynamic_port)
            .find(|p| !st.used_ports.contains(p))?;
        if !dry_run {
            st.used_ports.insert(p);
        }
        Some(p)
    }

    fn undo(&self, st: &mut State, r: &Reservation) {
        for ip in &r.ips {
            if let Some(off) = self.offset(*ip) {
                st.used_ips.remove(&off);
            }
        }
        for p in &r.ports {
            st.used_ports.remove(p);
        }
    }

    /// Returns what `r` reserved (a failed write, or a dry run's nothing).
    pub fn revert(&self, r: &Reservation) {
        let mut st = self.state();
        self.undo(&mut st, r);
    }

    /// Frees what a successful update gave up.
    pub fn release(&self, r: &Reservation) {
        self.revert(r);
    }

    /// Frees everything a deleted service held.
    pub fn release_service(&self, svc: &Value) {
        let mut st = self.state();
        if needs_cluster_ip(svc) && !is_headless(svc) {
            for ip in cluster_ips(svc) {
                if let Some(off) = ip.parse().ok().and_then(|ip| self.offset(ip)) {
                    st.used_ips.remove(&off);
                }
            }
        }
        for p in node_ports(svc) {
            if self.port_in_range(p) {
                st.used_ports.remove(&(p as u16));
            }
        }
    }

    /// Fills `clusterIP(s)`, `nodePort`s and `healthCheckNodePort` of a
    /// service being created, reserving explicit values. 422 with
    /// upstream's causes for unusable explicit values, 500 when a range is
    /// full. With `dry_run` nothing stays reserved.
    pub fn allocate_create(&self, svc: &mut Value, dry_run: bool) -> Result<Reservation, ApiError> {
        let mut st = self.state();
        let mut r = Reservation::default();
        let result = self
            .alloc_ips(&mut st, svc, dry_run, &mut r)
            .and_then(|()| self.alloc_node_ports(&mut st, svc, None, dry_run, &mut r))
            .and_then(|()| self.alloc_health_check(&mut st, svc, None, dry_run, &mut r));
        match result {
            Ok(()) => Ok(if dry_run { Reservation::default() } else { r }),
            Err(e) => {
                self.undo(&mut st, &r);
                Err(e)
            }
        }
    }

    /// Allocation for an update (after `prepare_for_update`): returns what
    /// was newly reserved and what to release once the write succeeded.
    pub fn allocate_update(
        &self,
        new: &mut Value,
        old: &Value,
        dry_run: bool,
    ) -> Result<(Reservation, Reservation), ApiError> {
        let mut st = self.state();
        let mut r = Reservation::default();
        let mut release = Reservation::default();
        let mut result = Ok(());
        // ClusterIPs: only type transitions to or from ExternalName.
        if !needs_cluster_ip(old) && needs_cluster_ip(new) {
            result = self.alloc_ips(&mut st, new, dry_run, &mut r);
        } else if needs_cluster_ip(old) && !needs_cluster_ip(new) && !is_headless(old) {
            release.ips.extend(
                cluster_ips(old)
                    .iter()
                    .filter_map(|ip| ip.parse::<IpAddr>().ok()),
            );
        }
        let result = result
            .and_then(|()| self.alloc_node_ports(&mut st, new, Some(old), dry_run, &mut r))
            .and_then(|()| self.alloc_health_check(&mut st, new, Some(old), dry_run, &mut r));
        if let Err(e) = result {
            self.undo(&mut st, &r);
            return Err(e);
        }
        let kept: Vec<i64> = node_ports(new);
        for p in node_ports(old) {
            if !kept.contains(&p) && self.port_in_range(p) {
                release.ports.push(p as u16);
            }
        }
        if dry_run {
            return Ok((Reservation::default(), Reservation::default()));
        }
        Ok((r, release))
    }

    fn alloc_ips(
        &self,
        st: &mut State,
        svc: &mut Value,
        dry_run: bool,
        r: &mut Reservation,
    ) -> Result<(), ApiError> {
        if !needs_cluster_ip(svc) || is_headless(svc) {
            return Ok(());
        }
        let name = crate::meta::name(svc).to_string();
        let spec = svc.get("spec").cloned().unwrap_or(Value::Null);
        let policy = str_at(&spec, "/ipFamilyPolicy");
        if policy == "RequireDualStack" {
            return Err(invalid_service(
                &name,
                vec![invalid(
                    "spec.ipFamilyPolicy",
                    &json!(policy),
                    "this cluster is not configured for dual-stack services",
                )],
            ));
        }
        let mut families: Vec<String> = spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| f.as_str().unwrap_or_default().to_string())
            .collect();
        if policy == "PreferDualStack" {
            families.retain(|f| f == self.family());
        }
        for (i, f) in families.iter().enumerate() {
            if f != self.family() && (f == "IPv4" || f == "IPv6") {
                return Err(invalid_service(
                    &name,
                    vec![invalid(
                        &format!("spec.ipFamilies[{i}]"),
                        &json!(f),
                        "not configured on this cluster",
                    )],
                ));
            }
        }
        let ips = cluster_ips(svc);
        if ips.iter().any(|ip| family_of(ip).is_none()) {
            // Validation reports malformed addresses.
            return Ok(());
        }
        match ips.first() {
            None => {
                let ip = self.next_ip(st, dry_run).ok_or_else(|| {
                    ApiError::internal("failed to allocate a serviceIP: range is full")
                })?;
                r.ips.push(ip);
                let spec = super::common::object_at(svc, "spec");
                spec["clusterIP"] = json!(ip.to_string());
                spec["clusterIPs"] = json!([ip.to_string()]);
                if families.is_empty() {
                    spec["ipFamilies"] = json!([self.family()]);
                }
            }
            Some(first) => {
                for ip in &ips {
                    let parsed: IpAddr = match ip.parse() {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                    if ip != first && family_of(ip) != Some(self.family()) {
                        continue;
                    }
                    self.take_ip(st, parsed, dry_run).map_err(|e| {
                        invalid_service(
                            &name,
                            vec![super::common::invalid_go(
                                "spec.clusterIPs",
                                go_string_slice(svc.pointer("/spec/clusterIPs")),
                                &format!("failed to allocate IP {ip}: {e}"),
                            )],
                        )
                    })?;
                    r.ips.push(parsed);
                }
            }
        }
        Ok(())
    }

    fn alloc_node_ports(
        &self,
        st: &mut State,
        svc: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
        r: &mut Reservation,
    ) -> Result<(), ApiError> {
        let t = svc_type(svc).to_string();
        let should_allocate = t == "NodePort"
            || (t == "LoadBalancer"
                && svc
                    .pointer("/spec/allocateLoadBalancerNodePorts")
                    .and_then(Value::as_bool)
                    != Some(false));
        if t != "NodePort" && t != "LoadBalancer" {
            return Ok(());
        }
        let name = crate::meta::name(svc).to_string();
        let old_ports: Vec<i64> = old
            .filter(|o| matches!(svc_type(o), "NodePort" | "LoadBalancer"))
            .map(node_ports)
            .unwrap_or_default();
        let mut by_port: BTreeMap<i64, i64> = BTreeMap::new();
        let mut taken_here: Vec<i64> = Vec::new();
        let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for (i, p) in ports.iter_mut().enumerate().filter(|(_, p)| p.is_object()) {
            let np = i64_at(p, "/nodePort").unwrap_or(0);
            let port = i64_at(p, "/port").unwrap_or(0);
            if np != 0 {
                if !old_ports.contains(&np) && !taken_here.contains(&np) {
                    self.take_port(st, np, dry_run).map_err(|e| {
                        invalid_service(
                            &name,
                            vec![invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                &json!(np),
                                &e,
                            )],
                        )
                    })?;
                    r.ports.push(np as u16);
                }
                taken_here.push(np);
                by_port.insert(port, np);
            } else if should_allocate {
                let np = match by_port.get(&port) {
                    Some(shared) => *shared,
                    None => {
                        let np = self.next_port(st, dry_run).ok_or_else(|| {
                            ApiError::internal("failed to allocate a nodePort: range is full")
                        })?;
                        r.ports.push(np);
                        np as i64
                    }
                };
                p["nodePort"] = json!(np);
                taken_here.push(np);
                by_port.insert(port, np);
            }
        }
        Ok(())
    }

    fn alloc_health_check(
        &self,
        st: &mut State,
        svc: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
        r: &mut Reservation,
    ) -> Result<(), ApiError> {
        if !needs_health_check(svc) || old.is_some_and(needs_health_check) {
            return Ok(());
        }
        match i64_at(svc, "/spec/healthCheckNodePort").unwrap_or(0) {
            0 => {
                let p = self.next_port(st, dry_run).ok_or_else(|| {
                    ApiError::internal("failed to allocate a HealthCheck NodePort 0: range is full")
                })?;
                r.ports.push(p);
                super::common::object_at(svc, "spec")["healthCheckNodePort"] = json!(p);
            }
            hc => {
                self.take_port(st, hc, dry_run).map_err(|e| {
                    ApiError::internal(format!(
                        "failed to allocate requested HealthCheck NodePort {hc}: {e}"
                    ))
                })?;
                r.ports.push(hc as u16);
            }
        }
        Ok(())
    }
}

fn invalid_service(name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("", "Service", name, causes)
}

/// The real cluster IPs of a service ("None" excluded).
fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut ips: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if ips.is_empty() {
        let ip = str_at(svc, "/spec/clusterIP");
        if !ip.is_empty() {
            ips.push(ip.to_string());
        }
    }
    ips.retain(|ip| ip != "None" && !ip.is_empty());
    ips
}

/// Node ports and the health check node port of a service.
fn node_ports(svc: &Value) -> Vec<i64> {
    let mut ports: Vec<i64> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| i64_at(p, "/nodePort"))
        .filter(|p| *p != 0)
        .collect();
    if needs_health_check(svc)
        && let Some(hc) = i64_at(svc, "/spec/healthCheckNodePort").filter(|p| *p != 0)
    {
        ports.push(hc);
    }
    ports
}

/// Allocations of one update request. A guaranteed update may try several
/// times (on conflicts): each try first gives back what the previous one
/// took, so only the last try's reservation stays.
pub struct UpdateLedger<'a> {
    alloc: Option<&'a ServiceAllocator>,
    dry_run: bool,
    taken: Reservation,
    to_release: Reservation,
}

impl<'a> UpdateLedger<'a> {
    /// `alloc` is `None` for every kind but Services (then nothing happens).
    pub fn new(alloc: Option<&'a ServiceAllocator>, dry_run: bool) -> Self {
        UpdateLedger {
            alloc,
            dry_run,
            taken: Reservation::default(),
            to_release: Reservation::default(),
        }
    }

    /// Allocates for one try of the update of `old` into `new`.
    pub fn attempt(&mut self, new: &mut Value, old: &Value) -> Result<(), ApiError> {
        let Some(alloc) = self.alloc else {
            return Ok(());
        };
        alloc.revert(&std::mem::take(&mut self.taken));
        self.to_release = Reservation::default();
        let (taken, to_release) = alloc.allocate_update(new, old, self.dry_run)?;
        self.taken = taken;
        self.to_release = to_release;
        Ok(())
    }

    /// After the write: on success the old object's dropped addresses are
    /// free again; on failure what the last try took is given back.
    pub fn finish(self, written: bool) {
        let Some(alloc) = self.alloc else {
            return;
        };
        if written {
            alloc.release(&self.to_release);
        } else {
            alloc.revert(&self.taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_bands() -> Result<(), String> {
        let a = ServiceAllocator::new("10.96.0.0/12", (30000, 32767))?;
        assert_eq!(a.kubernetes_service_ip().to_string(), "10.96.0.1");
        assert_eq!(a.dynamic_ip, 257);
        assert_eq!(a.dynamic_port, 30086);
        let small = ServiceAllocator::new("10.0.0.0/29", (30000, 30001))?;
        // 6 usable addresses, first kept for `kubernetes`.
        let mut st = small.state();
        let got: Vec<_> = std::iter::from_fn(|| small.next_ip(&mut st, false)).collect();
        assert_eq!(got.len(), 5);
        assert!(!got.contains(&"10.0.0.1".parse().map_err(|_| "ip")?));
        Ok(())
    }
}
