//! The machine's trust store for our HTTPS clients: the CA bundle a host's curl and pip use
//! (`$SSL_CERT_FILE`, else the distribution's bundle), and PEM certificate files named in
//! config. Callers fall back to Mozilla's roots (`webpki-roots`) when no bundle is found.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A certificate file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("{path}: no PEM certificate in the file")]
    NoCertificate { path: String },
}

/// Where distributions keep their CA bundle, after `$SSL_CERT_FILE`.
const BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// The system's CA certificates, read once per process; empty when no bundle is found (the
/// caller then uses Mozilla's roots). A sandbox or corporate TLS proxy's CA in that bundle is
/// trusted as it is by curl and pip.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(BUNDLES.map(PathBuf::from))
            .find_map(|p| read_certs(&p).ok())
            .unwrap_or_default()
    })
}

/// Every certificate in the PEM file `path` (other PEM sections are skipped); an error when
/// the file cannot be read or holds no certificate.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| TlsError::Read {
        path: shown.clone(),
        cause: e.to_string(),
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: shown });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("vsr-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = read_certs(&f).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = read_certs(&dir.join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read") && e.contains("missing.pem"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
