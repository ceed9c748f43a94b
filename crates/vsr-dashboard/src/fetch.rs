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
    /// The address rule ([`is_private`]; tests name a narrower one to reach a local server).
    pub blocked: fn(IpAddr) -> bool,
}

impl ImportPolicy {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            timeout: IMPORT_TIMEOUT,
            limit: IMPORT_LIMIT,
            blocked: is_private,
        }
    }

    fn refuses(&self, ip: IpAddr) -> bool {
        !self.allow_private && (self.blocked)(ip)
    }
}

fn fail(status: StatusCode, code: &'static str, message: String) -> DashError {
    DashError::Import {
        status,
        code,
        message,
    }
}

/// Whether an address is off limits for imports by default: anything not globally routable
/// (private, loopback, link-local with the cloud metadata service 169.254.169.254,
/// carrier-grade NAT, reserved, documentation and benchmark ranges, multicast) and IPv6
/// unique-local (AWS's metadata `fd00:ec2::254`), link- and site-local, and every IPv6 form
/// that carries an IPv4 address (mapped, compatible, NAT64, 6to4) judged by that address;
/// Teredo is refused whole (its IPv4 is obfuscated).
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
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || (o[0] == 198 && o[1] == 51 && o[2] == 100)
                || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                is_private(IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                )))
            };
            if v6.is_loopback() || v6.is_unspecified() {
                return true;
            }
            // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible).
            if let Some(v4) = v6.to_ipv4() {
                return is_private(IpAddr::V4(v4));
            }
            v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
                || (s[0] == 0x0064 && s[1] == 0xff9b && embedded(s[6], s[7]))
                || (s[0] == 0x2002 && embedded(s[1], s[2]))
        }
    }
}

/// The IPv4 address of a host written the way `inet_aton` reads it (`2130706433`,
/// `0177.0.0.1`, `0x7f.1`, `127.1`): such spellings are judged as the address they name,
/// whatever the resolver makes of them.
pub fn legacy_ipv4(host: &str) -> Option<std::net::Ipv4Addr> {
    fn part(p: &str) -> Option<u64> {
        if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().ok()
        } else {
            None
        }
    }
    let parts: Vec<u64> = host.split('.').map(part).collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.len() > 3 || head.iter().any(|&p| p > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut v: u64 = 0;
    for (i, p) in head.iter().enumerate() {
        v |= p << (24 - 8 * i as u32);
    }
    Some(std::net::Ipv4Addr::from((v | last) as u32))
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
    let host_name = host.trim_start_matches('[').trim_end_matches(']');
    if let Some(ip) = legacy_ipv4(host_name)
        && policy.refuses(IpAddr::V4(ip))
    {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "private_address",
            format!(
                "{host_name} is {ip}, a private, loopback or link-local address; \
                 start vllm-sr with --allow-private-import to allow it"
            ),
        ));
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
    if let Some(ip) = addrs.iter().find(|ip| policy.refuses(**ip)) {
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
struct GuardedResolver<R = ureq::unversioned::resolver::DefaultResolver> {
    policy: ImportPolicy,
    inner: R,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to {ip}, a private, loopback or link-local address; start vllm-sr with --allow-private-import to allow it"
)]
struct PrivateAddress {
    host: String,
    ip: IpAddr,
}

impl<R: ureq::unversioned::resolver::Resolver> ureq::unversioned::resolver::Resolver
    for GuardedResolver<R>
{
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if let Some(a) = addrs.iter().find(|a| self.policy.refuses(a.ip())) {
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
            policy: *policy,
            inner: ureq::unversioned::resolver::DefaultResolver::default(),
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
                policy: ImportPolicy::new(false),
                inner: ureq::unversioned::resolver::DefaultResolver::default(),
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
    fn metadata_and_embedded_ipv4_forms_are_private() {
        for ip in [
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fec0::1",
            "2001:db8::1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.170",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn decimal_octal_and_hex_spellings_name_their_address() {
        let v4 = |s: &str| legacy_ipv4(s).map(|a| a.to_string());
        assert_eq!(v4("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0177.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0xa9fea9fe").as_deref(), Some("169.254.169.254"));
        assert_eq!(v4("example.com"), None);
        assert_eq!(v4("256.1.1.1"), None);
        assert_eq!(v4("1.2.3.4.5"), None);
        let p = ImportPolicy::new(false);
        for url in [
            "http://2130706433/c.yaml",
            "http://0177.0.0.1:9/c.yaml",
            "http://0x7f.1:9/c.yaml",
            "http://0xa9fea9fe/latest/meta-data",
            "http://[::ffff:127.0.0.1]:9/c.yaml",
            "http://[fd00:ec2::254]/latest",
        ] {
            match fetch_yaml(url, &p) {
                Err(DashError::Import { code, .. }) => assert_eq!(code, "private_address", "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    /// A one-shot HTTP server on 127.0.0.1 answering `reply` to the first request.
    fn serve_once(reply: String) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        (addr, t)
    }

    #[test]
    fn redirects_into_private_addresses_are_refused_at_each_hop() {
        // 127.0.0.1 stands for a public server here; the rest of 127/8 stays private.
        fn only_first_loopback_public(ip: IpAddr) -> bool {
            ip != IpAddr::from([127, 0, 0, 1]) && is_private(ip)
        }
        let policy = ImportPolicy {
            blocked: only_first_loopback_public,
            ..ImportPolicy::new(false)
        };
        for target in [
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http://[fd00:ec2::254]/latest".to_string(),
            "http://127.0.0.2:9/config.yaml".to_string(),
            "http://2130706434/config.yaml".to_string(),
        ] {
            let (addr, t) = serve_once(format!(
                "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ));
            let r = fetch_yaml(&format!("http://{addr}/c.yaml"), &policy);
            t.join().unwrap();
            match r {
                Err(DashError::Import { code, message, .. }) => {
                    assert_eq!(code, "private_address", "{target}: {message}")
                }
                other => panic!("{target}: {other:?}"),
            }
        }
        // The same server answering the document itself is fetched (the rule is not
        // refusing everything).
        let (addr, t) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nversion: v0.3"
                .into(),
        );
        let r = fetch_yaml(&format!("http://{addr}/c.yaml"), &policy);
        t.join().unwrap();
        assert_eq!(r.unwrap(), "version: v0.3");
    }

    /// Answers a public address first and the given one afterwards: a DNS rebinding attack.
    #[derive(Debug)]
    struct Rebinding {
        calls: std::sync::atomic::AtomicUsize,
        then: std::net::SocketAddr,
    }

    impl ureq::unversioned::resolver::Resolver for Rebinding {
        fn resolve(
            &self,
            _uri: &Uri,
            _config: &ureq::config::Config,
            _timeout: ureq::unversioned::transport::NextTimeout,
        ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut v = self.empty();
            v.push(if n == 0 {
                "93.184.216.34:80".parse().unwrap()
            } else {
                self.then
            });
            Ok(v)
        }
    }

    #[test]
    fn dns_rebinding_is_refused_where_the_connection_resolves() {
        use ureq::unversioned::resolver::Resolver;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let guarded = GuardedResolver {
            policy: ImportPolicy::new(false),
            inner: Rebinding {
                calls: Default::default(),
                then: listener.local_addr().unwrap(),
            },
        };
        let uri: Uri = "http://rebind.example/config.yaml".parse().unwrap();
        let config = ureq::config::Config::default();
        // The first answer (the check) is public and passes...
        let first = guarded.resolve(&uri, &config, Default::default());
        assert!(first.is_ok());
        // ...the connection's own lookup sees the rebound private address and stops there.
        let agent = ureq::Agent::with_parts(
            ureq::Agent::config_builder().build(),
            ureq::unversioned::transport::DefaultConnector::new(),
            guarded,
        );
        let err = agent
            .get("http://rebind.example/config.yaml")
            .call()
            .unwrap_err();
        match transport(err, &uri, &ImportPolicy::new(false)) {
            DashError::Import { code, .. } => assert_eq!(code, "private_address"),
            other => panic!("{other:?}"),
        }
        assert!(
            listener.accept().is_err(),
            "no connection reached the private address"
        );
    }

    #[test]
    fn only_yaml_mappings_pass() {
        assert!(check_yaml("version: v0.3\n", "x").is_ok());
        for bad in ["", "- a\n- b\n", "key: [unclosed", "{}"] {
            assert!(check_yaml(bad, "x").is_err(), "{bad:?}");
        }
    }
}
