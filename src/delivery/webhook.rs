//! A version by webhook: the manifest POSTed as JSON, signed with
//! HMAC-SHA256 of the body (`X-Incident-Monitor-Signature:
//! sha256=<hex>`) and keyed for idempotency (`Idempotency-Key:
//! <YYYY-MM>-v<N>`); HTTPS with the system's roots or a configured CA.
//! A 2xx answer is acceptance; anything else (a redirect too) is not.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;

use super::{DeliveryError, Parcel, read_secret};
use crate::config::WebhookDestination;

/// The most of an answer's body read (its first 200 bytes are quoted).
const ANSWER_MAX: usize = 64 * 1024;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Incident-Monitor-Signature";

/// `sha256=<hex HMAC-SHA256 of body under key>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs the parcel's manifest to `dest`; the answer's status line when
/// it accepted.
pub async fn send(dest: &WebhookDestination, parcel: &Parcel) -> Result<String, DeliveryError> {
    let limit = Duration::from_secs(dest.timeout_secs);
    match tokio::time::timeout(limit, post(dest, parcel)).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::Transport(format!(
            "no answer within {} s (timeout_secs)",
            dest.timeout_secs
        ))),
    }
}

async fn post(dest: &WebhookDestination, parcel: &Parcel) -> Result<String, DeliveryError> {
    let uri: hyper::Uri = dest
        .url
        .parse()
        // The URL is not quoted: its path or query may carry a token.
        .map_err(|e| DeliveryError::Refused(format!("url: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(DeliveryError::Refused("url: not http(s)".to_owned()));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| DeliveryError::Refused("url: no host".to_owned()))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut req = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            hyper::header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("incident-monitor/", env!("CARGO_PKG_VERSION")),
        )
        .header("Idempotency-Key", parcel.idempotency_key());
    if let Some(path) = &dest.secret_file {
        let key = read_secret("the webhook secret file", path)?;
        req = req.header(SIGNATURE_HEADER, signature(&key, &parcel.manifest));
    }
    let req = req
        .body(Full::new(Bytes::from(parcel.manifest.clone())))
        .map_err(|e| DeliveryError::Refused(format!("cannot build the request: {e}")))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| DeliveryError::Transport(format!("cannot connect to {host}:{port}: {e}")))?;
    let status = if https {
        let tls = connector(dest)?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| DeliveryError::Refused(format!("url host {host:?}: {e}")))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| DeliveryError::Transport(format!("TLS with {host}:{port}: {e}")))?;
        exchange(TokioIo::new(stream), req).await?
    } else {
        exchange(TokioIo::new(tcp), req).await?
    };
    Ok(status)
}

/// One request on a fresh connection; `Ok` for a 2xx answer.
async fn exchange<T>(io: T, req: hyper::Request<Full<Bytes>>) -> Result<String, DeliveryError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| DeliveryError::Transport(format!("HTTP: {e}")))?;
    let driver = tokio::spawn(conn);
    let answer = sender
        .send_request(req)
        .await
        .map_err(|e| DeliveryError::Transport(format!("HTTP: {e}")));
    let result = match answer {
        Ok(resp) => {
            let status = resp.status();
            // A short excerpt of a refusal's body, for the operator: at
            // most ANSWER_MAX bytes are read, whatever the receiver sends.
            let body = Limited::new(resp.into_body(), ANSWER_MAX)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let excerpt: String =
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            let line = format!("HTTP {status}");
            if status.is_success() {
                Ok(line)
            } else {
                Err(DeliveryError::Refused(format!(
                    "{line}: {}",
                    crate::text::escaped(excerpt.trim())
                )))
            }
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

/// TLS to the receiver: its configured CA alone, else the system's roots.
fn connector(dest: &WebhookDestination) -> Result<tokio_rustls::TlsConnector, DeliveryError> {
    let mut roots = rustls::RootCertStore::empty();
    match &dest.ca_file {
        Some(path) => {
            let pem = read_secret("the CA file", path)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    DeliveryError::Refused(format!("CA file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    DeliveryError::Refused(format!("CA file {}: {e}", path.display()))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err(DeliveryError::Refused(
            "no trusted root certificate (ca_file, or the system's)".to_owned(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DeliveryError::Transport(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
