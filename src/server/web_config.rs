//! The Prometheus exporter-toolkit web configuration (`--web-config FILE`,
//! `[metrics] web_config`): the YAML file node_exporter and Prometheus
//! itself read, so operators reuse what they already run.
//!
//! Read strictly, like the toolkit (an unknown key is an error naming it);
//! what rustls cannot do (TLS 1.0/1.1, Go cipher-suite and curve names,
//! accepting client certificates without verifying them) is refused with a
//! message saying so, never silently ignored: a security setting that does
//! not take effect must not look as if it did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// Why a web configuration cannot be used; every message names the file.
#[derive(Debug, thiserror::Error)]
#[error("web config {path}: {message}")]
pub struct WebConfigError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsServerConfig>,
    http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    rate_limit: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    client_allowed_sans: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    curve_preferences: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    /// HTTP/2 (the toolkit's default with TLS): this endpoint serves
    /// HTTP/1.1, which every scraper speaks; accepted, and said so when
    /// asked for.
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The response headers the toolkit lets a web config set.
const HEADERS: [&str; 5] = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// A checked web configuration: what the endpoint enforces.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// TLS, when the file has a `tls_server_config`.
    pub tls: Option<Arc<ServerConfig>>,
    /// Whether clients are asked for a certificate (verified against
    /// `client_ca_file`).
    pub client_certs: bool,
    /// User name → bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Headers added to every response (valid names and values).
    pub headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    /// The files whose change means a reload (the config, certificates).
    pub watched: Vec<PathBuf>,
}

impl WebConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let fail = |message: String| WebConfigError {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(&text, base)
            .map(|mut c| {
                c.watched.insert(0, path.to_owned());
                c
            })
            .map_err(fail)
    }

    /// Parses the YAML text; relative file names are relative to `base`
    /// (the config file's directory, as in the toolkit).
    pub fn parse(text: &str, base: &Path) -> Result<WebConfig, String> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| values_hidden(&e.to_string()))?
        };
        if file.rate_limit.is_some() {
            return Err(
                "rate_limit is not supported: the endpoint bounds connections and report renders itself ([metrics] max_connections, max_report_renders)"
                    .into(),
            );
        }
        let mut watched = Vec::new();
        let client_certs = file
            .tls_server_config
            .as_ref()
            .and_then(|t| t.client_auth_type.as_deref())
            .is_some_and(|a| a != "NoClientCert");
        let tls = match file.tls_server_config {
            Some(t) => Some(Arc::new(tls_config(t, base, &mut watched)?)),
            None => None,
        };
        for (user, hash) in &file.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(format!(
                    "basic_auth_users: {user:?} is not a user name (not empty, no ':')"
                ));
            }
            // The error would quote the hash: not shown.
            hash.parse::<bcrypt::HashParts>().map_err(|_| {
                format!(
                    "basic_auth_users: the hash of {user:?} is not a bcrypt hash: make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                )
            })?;
        }
        let http = file.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            tracing::info!("web config: http2 is asked for; this endpoint serves HTTP/1.1");
        }
        let mut headers = Vec::new();
        for (name, value) in http.headers {
            let Some(known) = HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&name)) else {
                return Err(format!(
                    "http_server_config.headers: {name:?} cannot be set (one of {})",
                    HEADERS.join(", ")
                ));
            };
            if value.is_empty() {
                continue;
            }
            let ok = match *known {
                "X-Frame-Options" => {
                    ["deny", "sameorigin"].contains(&value.to_ascii_lowercase().as_str())
                }
                "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
                _ => true,
            };
            let v = axum::http::HeaderValue::from_str(&value)
                .ok()
                .filter(|_| ok)
                .ok_or_else(|| {
                    format!("http_server_config.headers: {value:?} is not a valid {known} value")
                })?;
            let name = axum::http::HeaderName::from_bytes(known.as_bytes())
                .map_err(|e| format!("http_server_config.headers: {known}: {e}"))?;
            headers.push((name, v));
        }
        Ok(WebConfig {
            tls,
            client_certs,
            users: file.basic_auth_users,
            headers,
            watched,
        })
    }

    /// When the watched files were last changed (a missing file: `None`).
    pub fn stamp(watched: &[PathBuf]) -> Vec<Option<SystemTime>> {
        watched
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// A YAML error with the values it quotes hidden (a key pasted in the
/// wrong place, a hash, a password): serde quotes values in double quotes
/// and names fields in backticks, which stay.
fn values_hidden(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"<value hidden>");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// Inline PEM or a file, not both; a file is remembered for reloads.
fn pem(
    what: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
    watched: &mut Vec<PathBuf>,
) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: {what} and {what}_file are both set: give one"
        )),
        (Some(text), None) => Ok(Some(text.into_bytes())),
        (None, Some(f)) => {
            let p = base.join(f);
            // A key pasted where its file name belongs must not be shown:
            // the key's file is not named.
            let bytes = std::fs::read(&p).map_err(|e| {
                if what == "key" {
                    format!("tls_server_config: cannot read the file named by key_file: {e}")
                } else {
                    format!("cannot read {}: {e}", p.display())
                }
            })?;
            watched.push(p);
            Ok(Some(bytes))
        }
        (None, None) => Ok(None),
    }
}

fn version(
    v: Option<&str>,
    default: &'static rustls::SupportedProtocolVersion,
) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match v {
        None => Ok(default),
        Some("TLS13") => Ok(&rustls::version::TLS13),
        Some("TLS12") => Ok(&rustls::version::TLS12),
        Some(v @ ("TLS10" | "TLS11")) => Err(format!(
            "tls_server_config: {v} is not supported (rustls speaks TLS12 and TLS13)"
        )),
        Some(v) => Err(format!(
            "tls_server_config: unknown TLS version {v:?} (TLS12 or TLS13)"
        )),
    }
}

fn tls_config(
    t: TlsServerConfig,
    base: &Path,
    watched: &mut Vec<PathBuf>,
) -> Result<ServerConfig, String> {
    if !t.cipher_suites.is_empty() || !t.curve_preferences.is_empty() {
        return Err(
            "tls_server_config: cipher_suites and curve_preferences name Go's suites and curves; rustls offers only modern ones and chooses itself: remove them"
                .into(),
        );
    }
    if !t.client_allowed_sans.is_empty() {
        return Err(
            "tls_server_config: client_allowed_sans is not supported: issue client certificates from a CA of their own (client_ca_file) instead"
                .into(),
        );
    }
    let cert = pem("cert", t.cert, t.cert_file, base, watched)?
        .ok_or("tls_server_config: cert_file (or cert) is required")?;
    let key = pem("key", t.key, t.key_file, base, watched)?
        .ok_or("tls_server_config: key_file (or key) is required")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_server_config: the certificate is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("tls_server_config: no certificate in the cert PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("tls_server_config: no usable private key in the key PEM: {e}"))?;
    let min = version(t.min_version.as_deref(), &rustls::version::TLS12)?;
    let max = version(t.max_version.as_deref(), &rustls::version::TLS13)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = pem("client_ca", t.client_ca, t.client_ca_file, base, watched)?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let verifier = match auth {
        // A CA that nothing uses would leave the endpoint open to any
        // client while its operator believes it checks them: refused, as
        // the exporter toolkit refuses it.
        "NoClientCert" if ca.is_some() => {
            return Err(
                "tls_server_config: client_ca_file (or client_ca) is set but client_auth_type is not: \
                 set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove the CA"
                    .into(),
            );
        }
        "NoClientCert" => None,
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = ca.ok_or_else(|| {
                format!("tls_server_config: client_auth_type {auth} needs client_ca_file")
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&ca) {
                let c =
                    c.map_err(|e| format!("tls_server_config: the client CA is not PEM: {e}"))?;
                roots
                    .add(c)
                    .map_err(|e| format!("tls_server_config: the client CA: {e}"))?;
            }
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if auth == "VerifyClientCertIfGiven" {
                b.allow_unauthenticated()
            } else {
                b
            };
            Some(
                b.build()
                    .map_err(|e| format!("tls_server_config: the client CA: {e}"))?,
            )
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "tls_server_config: client_auth_type {auth} accepts certificates nobody verified; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file"
            ));
        }
        other => {
            return Err(format!(
                "tls_server_config: unknown client_auth_type {other:?} (NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ));
        }
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        format!("tls_server_config: the certificate and key do not go together: {e}")
    })?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn rank(v: &rustls::SupportedProtocolVersion) -> u8 {
    if v.version == rustls::ProtocolVersion::TLSv1_3 {
        13
    } else {
        12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        WebConfig::parse(text, Path::new("."))
    }

    #[test]
    fn an_empty_file_is_an_open_endpoint() {
        let c = parse("").unwrap();
        assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    }

    #[test]
    fn users_need_bcrypt_hashes_and_names() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = parse(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        assert_eq!(c.users.get("alice"), Some(&hash));
        let e = parse("basic_auth_users:\n  alice: pw\n").unwrap_err();
        assert!(
            e.contains("not a bcrypt hash") && !e.contains(": pw"),
            "{e}"
        );
        let e = parse(&format!("basic_auth_users:\n  'a:b': '{hash}'\n")).unwrap_err();
        assert!(e.contains("not a user name"), "{e}");
    }

    #[test]
    fn only_the_toolkit_headers_with_valid_values() {
        let c = parse(
            "http_server_config:\n  headers:\n    x-frame-options: sameorigin\n    Content-Security-Policy: \"default-src 'none'\"\n    X-XSS-Protection: ''\n",
        )
        .unwrap();
        let names: Vec<&str> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["content-security-policy", "x-frame-options"]);
        for bad in [
            "    X-Frame-Options: allow-from x\n",
            "    X-Content-Type-Options: sniff\n",
            "    Server: me\n",
        ] {
            assert!(
                parse(&format!("http_server_config:\n  headers:\n{bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_what_cannot_take_effect_are_refused() {
        assert!(
            parse("basic_auth_user: {}\n")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse("rate_limit:\n  burst: 5\n")
                .unwrap_err()
                .contains("not supported")
        );
        let e = parse(
            "tls_server_config:\n  cert_file: a\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
        )
        .unwrap_err();
        assert!(e.contains("cipher_suites"), "{e}");
        let e = parse("tls_server_config:\n  cert: x\n  cert_file: a\n").unwrap_err();
        assert!(e.contains("both set"), "{e}");
    }
}
