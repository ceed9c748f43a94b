//! HTTPS to a backend: a local HTTPS sim with its own test CA. Trusted through `tls_ca_file`
//! the request goes through; with the system trust store only, it fails with a 502 that says
//! the certificate is the problem. The provider key from config reaches the backend.

use std::sync::atomic::Ordering;

use vsr_server::sim::SimTls;

use crate::harness::*;

/// A CA and a server certificate for localhost / 127.0.0.1 it signed, as PEM files in `dir`;
/// returns (ca, cert, key) paths.
fn test_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vllm-sr test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn yaml(port: u16, ca: Option<&std::path::Path>) -> String {
    let ca = ca
        .map(|p| format!(", tls_ca_file: \"{}\"", p.display()))
        .unwrap_or_default();
    format!(
        r#"version: v0.3
routing: {{}}
listeners: [{{name: http, address: 127.0.0.1, port: 9, timeout: 30s}}]
providers:
  defaults: {{default_model: a}}
  models:
    - name: a
      backend_refs:
        - {{name: secure, endpoint: "https://127.0.0.1:{port}", api_key: sk-test-key{ca}}}
      reliability: {{retry_count: 0}}
"#
    )
}

#[tokio::test]
async fn https_backend_with_its_own_ca_and_a_clear_error_when_untrusted() {
    let dir = temp_dir();
    let (ca, cert, key) = test_pki(&dir.0);
    let s = sim(&["a"], |o| o.tls = Some(SimTls { cert, key })).await;
    let port = s.addr.port();

    let r = router_with(&yaml(port, Some(&ca)), |_| {}).await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &chat("a", "hi")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(
        rep.json()["sim_headers"]["authorization"],
        "Bearer sk-test-key"
    );
    // Keep-alive: a second request reuses the TLS connection (same answer path).
    assert_eq!(post(&client(), &url, &chat("a", "again")).await.status, 200);
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 2);

    let untrusted = router_with(&yaml(port, None), |_| {}).await;
    let rep = post(
        &client(),
        &format!("{}/v1/chat/completions", untrusted.base),
        &chat("a", "hi"),
    )
    .await;
    assert_eq!(rep.status, 502, "{}", rep.text());
    let msg = rep.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("secure") && msg.contains("certificate") && msg.contains("tls_ca_file"),
        "{msg}"
    );
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_bad_ca_file_refuses_the_config_with_its_path() {
    let dir = temp_dir();
    let bad = dir.0.join("bad.pem");
    std::fs::write(&bad, "nothing here").unwrap();
    let e = vsr_server::ProxySettings::from_yaml(&yaml(443, Some(&bad)), "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("backend_refs[0].tls_ca_file") && e.contains("no PEM certificate"),
        "{e}"
    );
}
