//! "Import from a URL": fetch one YAML document from the web with the limits an admin UI needs
//! — http/https only, 10 s in all, 1 MiB, at most 5 redirects (each hop re-checked), and no
//! private, loopback or link-local address unless the operator allows it (the dashboard must
//! not become a way into the network it runs in). The address rule is checked before each hop
//! (for a clear error) and again by the resolver the connection uses (so DNS rebinding between
//! the two does not get through).

use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use http::{StatusCode, Uri};

use crate::error::DashError;

pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(10);
pub const IMPORT_LIMIT: u64 = 1 << 20;
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, Copy)]
pub struct ImportPolicy {
    pub allow_private: bool,
    pub timeout: Duration,
    pub limit: u64,
}

impl ImportPolicy {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            timeout: IMPORT_TIMEOUT,
            limit: IMPORT_LIMIT,
        }
    }
}

fn fail(status: StatusCode, code: &'static str, message: String) -> DashError {
    DashError::Import {
        status,
        code,
        message,
    }
}

/// Whether an address is off limits for imports by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

fn check_target(uri: &Uri, policy: &ImportPolicy) -> Result<(), DashError> {
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "bad_url",
            format!("only http and https URLs can be imported, not `{uri}`"),
        ));
    }
    let Some(host) = uri.host() else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "bad_url",
            format!("`{uri}` has no host"),
        ));
    };
    if policy.allow_private {
        return Ok(());
    }
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            fail(
                StatusCode::BAD_GATEWAY,
                "fetch_failed",
                format!("cannot resolve {host}: {e}"),
            )
        })?
        .map(|a| a.ip())
        .collect();
    if let Some(ip) = addrs.iter().find(|ip| is_private(**ip)) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "private_address",
            format!(
                "{host} resolves to {ip}, a private, loopback or link-local address; \
                 start vllm-sr with --allow-private-import to allow it"
            ),
        ));
    }
    Ok(())
}

fn resolve_location(base: &Uri, location: &str) -> Result<Uri, DashError> {
    let bad = || {
        fail(
            StatusCode::BAD_GATEWAY,
            "bad_redirect",
            format!("{base} redirects to an unusable location `{location}`"),
        )
    };
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().map_err(|_| bad());
    }
    if location.starts_with('/') && !location.starts_with("//") {
        let scheme = base.scheme_str().ok_or_else(bad)?;
        let auth = base.authority().ok_or_else(bad)?;
        return format!("{scheme}://{auth}{location}")
            .parse()
            .map_err(|_| bad());
    }
    Err(bad())
}

/// The address rule again where the connection is made: the client resolves the host itself,
/// so a name whose DNS answer changes after [`check_target`] (rebinding) is still refused.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
    inner: ureq::unversioned::resolver::DefaultResolver,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to {ip}, a private, loopback or link-local address; start vllm-sr with --allow-private-import to allow it"
)]
struct PrivateAddress {
    host: String,
    ip: IpAddr,
}

impl ureq::unversioned::resolver::Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if !self.allow_private
            && let Some(a) = addrs.iter().find(|a| is_private(a.ip()))
        {
            return Err(ureq::Error::Other(Box::new(PrivateAddress {
                host: uri.host().unwrap_or_default().to_string(),
                ip: a.ip(),
            })));
        }
        Ok(addrs)
    }
}

/// Fetches `url` and returns its body, checked to be a YAML mapping. Blocking.
pub fn fetch_yaml(url: &str, policy: &ImportPolicy) -> Result<String, DashError> {
    let mut uri: Uri = url.trim().parse().map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            "bad_url",
            format!("`{url}` is not a URL: {e}"),
        )
    })?;
    let started = Instant::now();
    let config = ureq::Agent::config_builder()
        .tls_config(vsr_models::pypi::system_tls())
        .timeout_global(Some(policy.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        GuardedResolver {
            allow_private: policy.allow_private,
            inner: Default::default(),
        },
    );
    for _ in 0..=MAX_REDIRECTS {
        check_target(&uri, policy)?;
        let left = policy.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(timeout(policy));
        }
        let mut resp = agent
            .get(uri.to_string())
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| transport(e, &uri, policy))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            uri = resolve_location(&uri, &location)?;
            continue;
        }
        if !status.is_success() {
            return Err(fail(
                StatusCode::BAD_GATEWAY,
                "upstream_status",
                format!("{uri} answered {status}"),
            ));
        }
        if resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > policy.limit)
        {
            return Err(too_large(policy));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(policy.limit)
            .read_to_string()
            .map_err(|e| transport(e, &uri, policy))?;
        return check_yaml(&text, &uri.to_string());
    }
    Err(fail(
        StatusCode::BAD_GATEWAY,
        "too_many_redirects",
        format!("more than {MAX_REDIRECTS} redirects from {url}"),
    ))
}

fn timeout(policy: &ImportPolicy) -> DashError {
    fail(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        format!("the import took longer than {} s", policy.timeout.as_secs()),
    )
}

fn too_large(policy: &ImportPolicy) -> DashError {
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the document is larger than {} KiB", policy.limit / 1024),
    )
}

fn transport(e: ureq::Error, uri: &Uri, policy: &ImportPolicy) -> DashError {
    match e {
        ureq::Error::BodyExceedsLimit(_) => too_large(policy),
        ureq::Error::Timeout(_) => timeout(policy),
        ureq::Error::Other(e) if e.is::<PrivateAddress>() => {
            fail(StatusCode::FORBIDDEN, "private_address", e.to_string())
        }
        e => fail(
            StatusCode::BAD_GATEWAY,
            "fetch_failed",
            format!("cannot fetch {uri}: {e}"),
        ),
    }
}

/// A non-empty YAML mapping (a config), else 422 saying what it is instead.
pub fn check_yaml(text: &str, origin: &str) -> Result<String, DashError> {
    let not_yaml = |why: String| fail(StatusCode::UNPROCESSABLE_ENTITY, "not_yaml", why);
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::Mapping(m)) if !m.is_empty() => Ok(text.to_string()),
        Ok(serde_yaml::Value::Null) | Ok(serde_yaml::Value::Mapping(_)) => {
            Err(not_yaml(format!("{origin} is empty")))
        }
        Ok(_) => Err(not_yaml(format!(
            "{origin} is YAML but not a config (a mapping at the top is expected)"
        ))),
        Err(e) => Err(not_yaml(format!("{origin} is not YAML: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn bad_urls_and_private_hosts_are_refused_before_any_request() {
        let p = ImportPolicy::new(false);
        let code = |url: &str| match fetch_yaml(url, &p) {
            Err(DashError::Import { code, .. }) => code,
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(code("ftp://example.com/x.yaml"), "bad_url");
        assert_eq!(code("not a url"), "bad_url");
        assert_eq!(code("http://127.0.0.1:9/config.yaml"), "private_address");
        assert_eq!(code("http://[::1]:9/config.yaml"), "private_address");
        assert_eq!(code("http://169.254.169.254/latest"), "private_address");
    }

    #[test]
    fn the_connection_itself_refuses_private_addresses() {
        // A local listener that would answer: the resolver refuses before any byte is sent.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/config.yaml", listener.local_addr().unwrap());
        let agent = ureq::Agent::with_parts(
            ureq::Agent::config_builder().build(),
            ureq::unversioned::transport::DefaultConnector::new(),
            GuardedResolver {
                allow_private: false,
                inner: Default::default(),
            },
        );
        let err = agent.get(&url).call().unwrap_err();
        let mapped = transport(err, &url.parse().unwrap(), &ImportPolicy::new(false));
        match mapped {
            DashError::Import { code, .. } => assert_eq!(code, "private_address"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_yaml_mappings_pass() {
        assert!(check_yaml("version: v0.3\n", "x").is_ok());
        for bad in ["", "- a\n- b\n", "key: [unclosed", "{}"] {
            assert!(check_yaml(bad, "x").is_err(), "{bad:?}");
        }
    }
}
