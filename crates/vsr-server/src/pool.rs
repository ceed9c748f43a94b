//! Per-alias backend pool: weighted endpoint choice (round robin, least request, random),
//! a circuit breaker per endpoint (passive outlier ejection after consecutive failures, then
//! one half-open probe), and active health checks.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::settings::{BackendSettings, LbPolicy, ModelSettings, Reliability};
use crate::upstream::client::{Clients, UpstreamClient};

/// An endpoint's circuit: closed (in use), open (ejected until its time is up), half-open
/// (time is up: one probe request decides; success closes, failure opens it again for longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The `vsr_upstream_circuit_state` gauge value.
    pub fn gauge(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

pub struct Endpoint {
    pub settings: BackendSettings,
    /// The keep-alive client for this endpoint (its trust store).
    pub client: UpstreamClient,
    /// `Authorization` (or the configured header) name and value, pre-rendered.
    pub auth_value: Option<(http::HeaderName, http::HeaderValue)>,
    /// The chat URL and `Host` value, rendered once instead of per request.
    pub chat_uri: Option<http::Uri>,
    pub host_value: Option<http::HeaderValue>,
    /// `extra_headers`, validated once (invalid names or values are left out).
    pub extra_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    in_flight: AtomicU32,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the pool's epoch until which the endpoint is ejected; 0 = closed,
    /// in the past = half-open.
    ejected_until_ms: AtomicU64,
    ejections: AtomicU32,
    /// A half-open probe is in flight (other requests skip the endpoint meanwhile).
    probing: AtomicBool,
    /// Active health-check verdict (true until a check says otherwise).
    healthy: AtomicBool,
    hc_failures: AtomicU32,
}

pub struct Pool {
    pub alias: String,
    /// `x-selected-model` value, rendered once.
    pub alias_value: Option<http::HeaderValue>,
    pub endpoints: Vec<Endpoint>,
    pub reliability: Reliability,
    /// Endpoint indices repeated by weight (reduced by their gcd), for weighted round robin.
    schedule: Vec<usize>,
    cursor: AtomicUsize,
    epoch: Instant,
}

/// Decrements an endpoint's in-flight count when the request is over (including on drop).
pub struct InFlight {
    pool: Arc<Pool>,
    index: usize,
    /// This request is the endpoint's half-open probe.
    probe: bool,
}

impl InFlight {
    pub fn endpoint(&self) -> &Endpoint {
        &self.pool.endpoints[self.index]
    }
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let e = &self.pool.endpoints[self.index];
        e.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.probe {
            // A probe that ended without a verdict (client gone) lets the next request probe.
            e.probing.store(false, Ordering::Relaxed);
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Pool {
    pub fn new(model: &ModelSettings, clients: &Clients) -> Self {
        let endpoints: Vec<Endpoint> = model
            .backends
            .iter()
            .map(|b| Endpoint {
                auth_value: b.api_key.as_ref().and_then(|k| {
                    let k = &k.0;
                    let v = if b.auth_prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{} {k}", b.auth_prefix)
                    };
                    let mut value = http::HeaderValue::from_str(&v).ok()?;
                    // Kept out of any debug output of the request.
                    value.set_sensitive(true);
                    Some((
                        http::HeaderName::from_bytes(b.auth_header.as_bytes()).ok()?,
                        value,
                    ))
                }),
                client: clients.for_backend(b),
                chat_uri: format!("{}://{}{}", b.scheme(), b.authority, b.chat_path)
                    .parse()
                    .ok(),
                host_value: http::HeaderValue::from_str(&b.authority).ok(),
                extra_headers: b
                    .extra_headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((
                            http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                            http::HeaderValue::from_str(v).ok()?,
                        ))
                    })
                    .collect(),
                settings: b.clone(),
                in_flight: AtomicU32::new(0),
                consecutive_failures: AtomicU32::new(0),
                ejected_until_ms: AtomicU64::new(0),
                ejections: AtomicU32::new(0),
                probing: AtomicBool::new(false),
                healthy: AtomicBool::new(true),
                hc_failures: AtomicU32::new(0),
            })
            .collect();
        let g = endpoints
            .iter()
            .map(|e| e.settings.weight)
            .filter(|w| *w > 0)
            .fold(0, gcd)
            .max(1);
        let mut schedule = Vec::new();
        // Interleave by weight so a 3:1 split is a,a,b,a rather than a,a,a,b.
        let weights: Vec<u32> = endpoints
            .iter()
            .map(|e| (e.settings.weight / g).min(1000))
            .collect();
        let max = weights.iter().copied().max().unwrap_or(0);
        for round in 0..max {
            for (i, w) in weights.iter().enumerate() {
                if round < *w {
                    schedule.push(i);
                }
            }
        }
        Self {
            alias: model.name.clone(),
            alias_value: http::HeaderValue::from_str(&model.name).ok(),
            endpoints,
            reliability: model.reliability.clone(),
            schedule,
            cursor: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn circuit_at(&self, i: usize, now: u64) -> CircuitState {
        match self.endpoints[i].ejected_until_ms.load(Ordering::Relaxed) {
            0 => CircuitState::Closed,
            until if until > now => CircuitState::Open,
            _ => CircuitState::HalfOpen,
        }
    }

    /// The endpoint's circuit now.
    pub fn circuit(&self, index: usize) -> CircuitState {
        self.circuit_at(index, self.now_ms())
    }

    fn available(&self, i: usize, now: u64) -> bool {
        let e = &self.endpoints[i];
        e.settings.weight > 0
            && e.healthy.load(Ordering::Relaxed)
            && match self.circuit_at(i, now) {
                CircuitState::Closed => true,
                CircuitState::Open => false,
                CircuitState::HalfOpen => !e.probing.load(Ordering::Relaxed),
            }
    }

    /// Chooses an available endpoint not in `exclude`; `None` when all are open, probing or
    /// unhealthy. A half-open endpoint is taken by one request at a time (its probe).
    pub fn pick(self: &Arc<Self>, exclude: &[usize]) -> Option<InFlight> {
        let mut skip: Vec<usize> = exclude.to_vec();
        for _ in 0..=self.endpoints.len() {
            let index = self.choose(&skip)?;
            let e = &self.endpoints[index];
            let probe = self.circuit(index) == CircuitState::HalfOpen;
            if probe
                && e.probing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
            {
                // Another request took the probe between the check and here.
                skip.push(index);
                continue;
            }
            e.in_flight.fetch_add(1, Ordering::Relaxed);
            return Some(InFlight {
                pool: Arc::clone(self),
                index,
                probe,
            });
        }
        None
    }

    fn choose(&self, exclude: &[usize]) -> Option<usize> {
        let now = self.now_ms();
        let ok = |i: usize| !exclude.contains(&i) && self.available(i, now);
        match self.reliability.lb_policy {
            LbPolicy::RoundRobin => {
                let n = self.schedule.len();
                (0..n).find_map(|_| {
                    let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % n.max(1);
                    let i = *self.schedule.get(slot)?;
                    ok(i).then_some(i)
                })
            }
            LbPolicy::LeastRequest => {
                (0..self.endpoints.len())
                    .filter(|&i| ok(i))
                    .min_by(|&a, &b| {
                        // Fewest in-flight per unit of weight; ties go round the list.
                        let la = self.endpoints[a].in_flight.load(Ordering::Relaxed) as u64
                            * self.endpoints[b].settings.weight as u64;
                        let lb = self.endpoints[b].in_flight.load(Ordering::Relaxed) as u64
                            * self.endpoints[a].settings.weight as u64;
                        la.cmp(&lb)
                    })
            }
            LbPolicy::Random => {
                let cands: Vec<usize> = (0..self.endpoints.len()).filter(|&i| ok(i)).collect();
                let total: u64 = cands
                    .iter()
                    .map(|&i| self.endpoints[i].settings.weight as u64)
                    .sum();
                if total == 0 {
                    None
                } else {
                    let mut r = fastrand::u64(..total);
                    cands.into_iter().find(|&i| {
                        let w = self.endpoints[i].settings.weight as u64;
                        if r < w {
                            true
                        } else {
                            r -= w;
                            false
                        }
                    })
                }
            }
        }
    }

    /// Records an upstream outcome: `None` for a success, else why it failed. Returns true
    /// when this failure opened the endpoint's circuit (logged here, once per opening).
    pub fn report(&self, index: usize, failure: Option<&str>) -> bool {
        let e = &self.endpoints[index];
        let now = self.now_ms();
        let state = self.circuit_at(index, now);
        let Some(reason) = failure else {
            e.consecutive_failures.store(0, Ordering::Relaxed);
            if state == CircuitState::HalfOpen {
                e.ejected_until_ms.store(0, Ordering::Relaxed);
                e.ejections.store(0, Ordering::Relaxed);
                e.probing.store(false, Ordering::Relaxed);
                tracing::info!(model = %self.alias, endpoint = %e.settings.name, "backend probe succeeded; circuit closed");
            }
            return false;
        };
        let threshold = self.reliability.consecutive_5xx;
        if threshold == 0 {
            return false;
        }
        let n = match state {
            // A request that started before the circuit opened says nothing new.
            CircuitState::Open => return false,
            // The probe failed: open again at once.
            CircuitState::HalfOpen => threshold,
            CircuitState::Closed => {
                let n = e.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if n < threshold {
                    return false;
                }
                let open = (0..self.endpoints.len())
                    .filter(|&i| self.circuit_at(i, now) == CircuitState::Open)
                    .count();
                let max =
                    (self.endpoints.len() * self.reliability.max_ejection_percent as usize) / 100;
                if open >= max.max(1) {
                    return false;
                }
                n
            }
        };
        let times = e.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let ms =
            (self.reliability.base_ejection_time.as_millis() as u64 * times.min(10) as u64).max(1);
        e.ejected_until_ms.store(now + ms, Ordering::Relaxed);
        e.consecutive_failures.store(0, Ordering::Relaxed);
        e.probing.store(false, Ordering::Relaxed);
        tracing::warn!(
            model = %self.alias,
            endpoint = %e.settings.name,
            address = %e.settings.authority,
            reason,
            consecutive_failures = n,
            ejected_for_ms = ms,
            "backend ejected"
        );
        true
    }

    pub fn is_ejected(&self, index: usize) -> bool {
        self.circuit(index) == CircuitState::Open
    }

    /// Requests in flight to the endpoint.
    pub fn in_flight(&self, index: usize) -> u32 {
        self.endpoints[index].in_flight.load(Ordering::Relaxed)
    }

    pub fn is_healthy(&self, index: usize) -> bool {
        self.endpoints[index].healthy.load(Ordering::Relaxed)
    }

    fn health_result(&self, index: usize, ok: bool) {
        let e = &self.endpoints[index];
        if ok {
            e.hc_failures.store(0, Ordering::Relaxed);
            if !e.healthy.swap(true, Ordering::Relaxed) {
                tracing::info!(model = %self.alias, endpoint = %e.settings.name, "backend healthy again");
            }
        } else if e.hc_failures.fetch_add(1, Ordering::Relaxed) + 1 >= 3
            && e.healthy.swap(false, Ordering::Relaxed)
        {
            tracing::warn!(
                model = %self.alias,
                endpoint = %e.settings.name,
                address = %e.settings.authority,
                "backend failed 3 health checks; unhealthy"
            );
        }
    }
}

/// Runs active health checks for `pool` until the pool is dropped (a reload replaced it).
pub fn spawn_health_checks(pool: &Arc<Pool>) {
    let Some(path) = pool.reliability.health_check_path.clone() else {
        return;
    };
    let interval = pool
        .reliability
        .health_check_interval
        .max(Duration::from_millis(10));
    let timeout = pool.reliability.health_check_timeout;
    let weak: Weak<Pool> = Arc::downgrade(pool);
    tokio::spawn(async move {
        loop {
            let Some(pool) = weak.upgrade() else { return };
            for i in 0..pool.endpoints.len() {
                let ep = &pool.endpoints[i].settings;
                let uri = format!("{}://{}{path}", ep.scheme(), ep.authority);
                let client = pool.endpoints[i].client.clone();
                let ok = match http::Request::get(uri)
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                {
                    Ok(req) => matches!(
                        tokio::time::timeout(timeout, client.request(req)).await,
                        Ok(Ok(resp)) if resp.status().is_success()
                    ),
                    Err(_) => false,
                };
                pool.health_result(i, ok);
            }
            drop(pool);
            tokio::time::sleep(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ProxySettings;

    fn pool(policy: &str, weights: &[u32], eject: u32) -> Arc<Pool> {
        let mut refs = String::new();
        for (i, w) in weights.iter().enumerate() {
            refs.push_str(&format!(
                "        - {{name: b{i}, endpoint: \"127.0.0.1:{}\", weight: {w}}}\n",
                9000 + i
            ));
        }
        let y = format!(
            "version: v0.3\nrouting: {{}}\nproviders:\n  models:\n    - name: m\n      backend_refs:\n{refs}      reliability: {{lb_policy: {policy}, consecutive_5xx: {eject}, base_ejection_time: 60s}}\n"
        );
        let (mut s, _) = ProxySettings::from_yaml(&y, "t").unwrap();
        let m = s.models.get_mut("m").unwrap();
        // The config reads weight 0 as 1 (upstream); the pool's own zero-weight rule is
        // exercised by setting the weights directly.
        for (b, w) in m.backends.iter_mut().zip(weights) {
            b.weight = *w;
        }
        Arc::new(Pool::new(m, &Clients::new(Duration::from_secs(1)).unwrap()))
    }

    #[test]
    fn weighted_round_robin_follows_weights() {
        let p = pool("round_robin", &[3, 1], 5);
        let picks: Vec<usize> = (0..8).map(|_| p.pick(&[]).unwrap().index()).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(picks[..4], [0, 1, 0, 0]);
    }

    #[test]
    fn least_request_prefers_idle() {
        let p = pool("least_request", &[1, 1], 5);
        let a = p.pick(&[]).unwrap();
        let b = p.pick(&[]).unwrap();
        assert_ne!(a.index(), b.index());
        drop(a);
        let c = p.pick(&[]).unwrap();
        assert_ne!(c.index(), b.index());
    }

    #[test]
    fn random_respects_exclusion_and_zero_weight() {
        let p = pool("random", &[1, 0, 1], 5);
        for _ in 0..50 {
            let g = p.pick(&[0]).unwrap();
            assert_eq!(g.index(), 2);
        }
    }

    #[test]
    fn ejection_after_consecutive_failures_and_cap() {
        let p = pool("round_robin", &[1, 1], 2);
        assert!(!p.report(0, Some("test")));
        assert!(p.report(0, Some("test")));
        assert!(p.is_ejected(0));
        for _ in 0..4 {
            assert_eq!(p.pick(&[]).unwrap().index(), 1);
        }
        // 50% cap: the second endpoint cannot be ejected too.
        assert!(!p.report(1, Some("test")));
        assert!(!p.report(1, Some("test")));
        assert!(!p.is_ejected(1));
        // A success resets the streak.
        let q = pool("round_robin", &[1, 1], 2);
        q.report(0, Some("test"));
        q.report(0, None);
        assert!(!q.report(0, Some("test")));
    }

    #[test]
    fn an_open_circuit_half_opens_for_one_probe_then_closes_or_reopens() {
        let p = pool("round_robin", &[1], 1);
        // A one-endpoint pool opens too (the decision's next model ref takes over).
        let mut short = p.reliability.clone();
        short.base_ejection_time = Duration::from_millis(30);
        let mut m = ModelSettings {
            name: "m".into(),
            provider_model_id: None,
            reasoning_family: None,
            pricing: None,
            backends: p.endpoints.iter().map(|e| e.settings.clone()).collect(),
            reliability: short,
            api_format: None,
        };
        m.backends[0].weight = 1;
        let p = Arc::new(Pool::new(
            &m,
            &Clients::new(Duration::from_secs(1)).unwrap(),
        ));
        assert_eq!(p.circuit(0), CircuitState::Closed);
        assert!(p.report(0, Some("test")));
        assert_eq!(p.circuit(0), CircuitState::Open);
        assert!(p.pick(&[]).is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(p.circuit(0), CircuitState::HalfOpen);
        let probe = p.pick(&[]).expect("one probe");
        assert!(p.pick(&[]).is_none(), "only one probe at a time");
        // The probe fails: open again, for twice as long.
        assert!(p.report(probe.index(), Some("test")));
        drop(probe);
        assert_eq!(p.circuit(0), CircuitState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            p.circuit(0),
            CircuitState::Open,
            "the second opening lasts 60 ms"
        );
        std::thread::sleep(Duration::from_millis(30));
        let probe = p.pick(&[]).expect("probe after the longer wait");
        assert!(!p.report(probe.index(), None));
        drop(probe);
        assert_eq!(p.circuit(0), CircuitState::Closed);
        assert!(p.pick(&[]).is_some() && p.pick(&[]).is_some());
        // A probe dropped without a verdict (client gone) frees the slot.
        assert!(p.report(0, Some("test")));
        std::thread::sleep(Duration::from_millis(40));
        drop(p.pick(&[]).expect("probe"));
        assert!(p.pick(&[]).is_some());
    }

    #[test]
    fn health_checks_mark_unhealthy_after_three() {
        let p = pool("round_robin", &[1, 1], 0);
        p.health_result(0, false);
        p.health_result(0, false);
        assert!(p.is_healthy(0));
        p.health_result(0, false);
        assert!(!p.is_healthy(0));
        assert_eq!(p.pick(&[]).unwrap().index(), 1);
        assert!(p.pick(&[1]).is_none());
        p.health_result(0, true);
        assert!(p.is_healthy(0));
    }
}
