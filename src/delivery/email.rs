//! A version by e-mail: the report in the first configured language as
//! the HTML body (its text as the plain alternative), every other file
//! attached; over SMTP with STARTTLS when offered (or required), or TLS
//! from the start (`smtps://`), authenticated when a user is configured.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::{DeliveryError, Parcel, read_secret};
use crate::config::{EmailDestination, StartTls};

/// Sends `parcel` to `dest`; the server's reply when it accepted.
/// Blocking (call it off the runtime's workers).
pub fn send(dest: &EmailDestination, parcel: &Parcel) -> Result<String, DeliveryError> {
    let message = compose(dest, parcel)?;
    let transport = transport(dest)?;
    let reply = transport
        .send(&message)
        .map_err(|e| DeliveryError::Transport(format!("SMTP: {e}")))?;
    let words: Vec<&str> = reply.message().collect();
    Ok(format!("{} {}", reply.code(), words.join(" ")))
}

/// The subject: the month, and for a revision its version.
pub fn subject(parcel: &Parcel) -> String {
    let vi = parcel.lang == "vi";
    match (parcel.revises, vi) {
        (None, false) => format!("Cyber incident report — {}", parcel.month_words),
        (None, true) => format!(
            "Báo cáo sự cố an toàn thông tin mạng — {}",
            parcel.month_words
        ),
        (Some(_), false) => format!(
            "Cyber incident report — {} (revised, version {})",
            parcel.month_words, parcel.version
        ),
        (Some(_), true) => format!(
            "Báo cáo sự cố an toàn thông tin mạng — {} (điều chỉnh, phiên bản {})",
            parcel.month_words, parcel.version
        ),
    }
}

fn compose(dest: &EmailDestination, parcel: &Parcel) -> Result<Message, DeliveryError> {
    let mailbox = |field: &str, a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| DeliveryError::Refused(format!("{field} {a:?}: {e}")))
    };
    let mut builder = Message::builder()
        .from(mailbox("from", &dest.from)?)
        .subject(subject(parcel));
    for to in &dest.to {
        builder = builder.to(mailbox("to", to)?);
    }
    let body_name = |ext: &str| format!("report.{}.{ext}", parcel.lang);
    let find = |name: &str| {
        parcel
            .files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
    };
    let (html, text) = (find(&body_name("html")), find(&body_name("txt")));
    let body = match (html, text) {
        (Some(h), Some(t)) => MultiPart::alternative_plain_html(t, h),
        (Some(h), None) => MultiPart::mixed().singlepart(SinglePart::html(h)),
        (None, Some(t)) => MultiPart::mixed().singlepart(SinglePart::plain(t)),
        (None, None) => MultiPart::mixed().singlepart(SinglePart::plain(format!(
            "{} — version {}: the reports are attached.",
            parcel.month_words, parcel.version
        ))),
    };
    let mut all = MultiPart::mixed().multipart(body);
    let in_body = [body_name("html"), body_name("txt")];
    for (name, bytes) in &parcel.files {
        if in_body.contains(name) {
            continue;
        }
        all = all.singlepart(Attachment::new(name.clone()).body(bytes.clone(), content_type(name)));
    }
    all = all.singlepart(
        Attachment::new("manifest.json".to_owned())
            .body(parcel.manifest.clone(), content_type("manifest.json")),
    );
    builder
        .multipart(all)
        .map_err(|e| DeliveryError::Refused(format!("cannot build the message: {e}")))
}

fn content_type(name: &str) -> ContentType {
    let t = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    // Each of these is a valid MIME type.
    ContentType::parse(t).unwrap_or(ContentType::TEXT_PLAIN)
}

/// The transport `dest` says: its host and port, TLS and credentials.
fn transport(dest: &EmailDestination) -> Result<SmtpTransport, DeliveryError> {
    // The URL is not quoted: its user part may carry a secret.
    let bad = || {
        DeliveryError::Refused(
            "smtp_url is not smtp://HOST[:PORT] or smtps://HOST[:PORT]".to_owned(),
        )
    };
    let (scheme, rest) = dest.smtp_url.split_once("://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h.trim_matches(['[', ']']), Some(p)),
            Err(_) => return Err(bad()),
        },
        _ => (authority.trim_matches(['[', ']']), None),
    };
    let mut params = TlsParameters::builder(host.to_owned());
    if let Some(ca) = &dest.ca_file {
        let pem = read_secret("the CA file", ca)?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| DeliveryError::Refused(format!("CA file {}: {e}", ca.display())))?;
        params = params
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .map_err(|e| DeliveryError::Transport(format!("TLS settings: {e}")))?;
    let (tls, default_port) = match (scheme, dest.starttls) {
        ("smtps", _) => (Tls::Wrapper(params), 465),
        (_, StartTls::Required) => (Tls::Required(params), 587),
        (_, StartTls::Opportunistic) => (Tls::Opportunistic(params), 25),
    };
    let mut b = SmtpTransport::builder_dangerous(host)
        .port(port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(dest.timeout_secs)));
    if !dest.username.is_empty() {
        let password = match &dest.password_file {
            Some(p) => read_secret("the password file", p)?,
            None => std::env::var(&dest.password_env)
                .map_err(|_| {
                    DeliveryError::Refused(format!(
                        "the environment variable {} (password_env) is not set",
                        dest.password_env
                    ))
                })?
                .into_bytes(),
        };
        let password = String::from_utf8(password)
            .map_err(|_| DeliveryError::Refused("the password is not UTF-8".to_owned()))?;
        b = b.credentials(Credentials::new(dest.username.clone(), password));
    }
    Ok(b.build())
}
