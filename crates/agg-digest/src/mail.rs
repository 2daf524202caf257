//! Building the MIME message and sending it over SMTP with lettre.

use std::time::Duration;

use lettre::message::MultiPart;
use lettre::message::header::{Header, HeaderName, HeaderValue};
pub use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::render::Rendered;

/// How to reach the SMTP server, from a URL:
/// `smtp://host:2525` (plain, for local relays), `smtp+starttls://user:pass@host:587`,
/// `smtps://user:pass@host:465` (implicit TLS).
///
/// A plain `smtp://` URL with a password is refused unless the host is
/// loopback or the URL ends in `?tls=none`: over plain SMTP the password
/// crosses the network in clear text (AUTH PLAIN / LOGIN are base64, not
/// encryption), which should be a choice written down, not a default.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTls,
    Tls,
}

impl SmtpUrl {
    pub fn parse(s: &str) -> anyhow::Result<SmtpUrl> {
        let u = url::Url::parse(s.trim())
            .map_err(|e| anyhow::anyhow!("`{}` is not an SMTP URL: {e}", redact_str(s)))?;
        let (security, default_port) = match u.scheme() {
            "smtp" => (Security::Plain, 25),
            "smtp+starttls" | "submission" => (Security::StartTls, 587),
            "smtps" => (Security::Tls, 465),
            other => anyhow::bail!(
                "unknown SMTP URL scheme `{other}`: use smtp:// (plain), smtp+starttls:// or smtps://"
            ),
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow::anyhow!("the SMTP URL `{}` has no host", redact_str(s)))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let dec = agg_core::secrets::percent_decode;
        let user = (!u.username().is_empty()).then(|| dec(u.username()));
        let password = u.password().map(dec);
        let mut clear_text_ok = false;
        for (k, v) in u.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "none") if security == Security::Plain => clear_text_ok = true,
                _ => anyhow::bail!(
                    "the SMTP URL `{}` has an unknown parameter `{k}={v}` (the only one is \
                     `tls=none`, on smtp:// URLs)",
                    redact_str(s)
                ),
            }
        }
        if security == Security::Plain
            && (user.is_some() || password.is_some())
            && !clear_text_ok
            && !is_loopback(&host)
        {
            anyhow::bail!(
                "`{}` would send the password to `{host}` unencrypted: use \
                 smtp+starttls:// (port 587) or smtps:// (port 465), or add `?tls=none` to \
                 the URL to send it in clear text anyway (plain smtp:// with a password is \
                 accepted as it is only for localhost / 127.0.0.1 / ::1)",
                redact_str(s)
            );
        }
        Ok(SmtpUrl {
            security,
            host,
            port: u.port().unwrap_or(default_port),
            user,
            password,
        })
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        let scheme = match self.security {
            Security::Plain => "smtp",
            Security::StartTls => "smtp+starttls",
            Security::Tls => "smtps",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}:***@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}:{}", self.host, self.port)
    }
}

/// Whether `host` is this machine (a name or a loopback address).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn redact_str(s: &str) -> String {
    agg_core::secrets::redact_url(s)
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(
            s.trim().trim_matches(|c| c == '<' || c == '>').to_string(),
        ))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

/// A Message-ID for a digest: unique, and tied to the pipeline and day.
pub fn message_id(pipeline: &str, day: &str, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim())
        .filter(|d| !d.is_empty())
        .unwrap_or("agg.localhost");
    let slug: String = pipeline
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut raw = [0u8; 8];
    let _ = getrandom::fill(&mut raw);
    let rand: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("<agg.{slug}.{day}.{rand}@{domain}>")
}

/// The full message: multipart/alternative (text, then HTML), with
/// Message-ID, Date and List-Unsubscribe. lettre encodes non-ASCII subjects
/// (RFC 2047) and picks a safe transfer encoding for each part.
pub fn build_message(
    r: &Rendered,
    from: &str,
    to: &[String],
    message_id: &str,
    date: std::time::SystemTime,
) -> anyhow::Result<Message> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| anyhow::anyhow!("`from: {from}` is not an email address: {e}"))?;
    let mut b = Message::builder()
        .from(from)
        .subject(r.subject.clone())
        .message_id(Some(message_id.to_string()))
        .date(date);
    // One-click unsubscribe (RFC 8058) needs a link to post to.
    if let Some(u) = &r.unsubscribe {
        b = b
            .header(ListUnsubscribe(u.clone()))
            .header(ListUnsubscribePost);
    }
    if to.is_empty() {
        anyhow::bail!("the digest has no recipient: set `to:`");
    }
    for t in to {
        let mbs: Mailboxes = t
            .parse()
            .map_err(|e| anyhow::anyhow!("`to: {t}` is not an email address: {e}"))?;
        for m in mbs {
            b = b.to(m);
        }
    }
    b.multipart(MultiPart::alternative_plain_html(
        r.text.clone(),
        r.html.clone(),
    ))
    .map_err(|e| anyhow::anyhow!("cannot build the message: {e}"))
}

/// Sending knobs.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Attempts on transient errors (connection refused, timeouts, 4xx).
    pub attempts: u32,
    /// First wait between attempts; doubles each time.
    pub backoff: Duration,
    /// Bound on one attempt (connect, greeting, every command): a server
    /// that accepts the connection and then says nothing cannot hang a run.
    pub timeout: Duration,
    /// A PEM file of extra trusted roots (a relay with a private CA), on
    /// top of the system's.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            attempts: 3,
            backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
            tls_ca_file: None,
        }
    }
}

fn tls_parameters(url: &SmtpUrl, ca: Option<&std::path::Path>) -> anyhow::Result<TlsParameters> {
    let mut b = TlsParameters::builder(url.host.clone());
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read tls_ca_file {}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            anyhow::anyhow!(
                "tls_ca_file {} is not a PEM certificate: {e}",
                path.display()
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls()
        .map_err(|e| anyhow::anyhow!("TLS setup for {}: {e}", url.host))
}

fn transport(
    url: &SmtpUrl,
    opts: &SendOptions,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let ca = opts.tls_ca_file.as_deref();
    let timeout = opts.timeout;
    let mut b = match url.security {
        Security::Plain => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host).tls(Tls::None)
        }
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .tls(Tls::Required(tls_parameters(url, ca)?)),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .tls(Tls::Wrapper(tls_parameters(url, ca)?)),
    }
    .port(url.port)
    .timeout(Some(timeout));
    if let Some(pw) = &url.password {
        // Known to redaction in every form it takes on the wire, however the
        // URL reached us.
        agg_core::secrets::register(pw);
    }
    if let Some(user) = &url.user {
        b = b.credentials(Credentials::new(
            user.clone(),
            url.password.clone().unwrap_or_default(),
        ));
    }
    Ok(b.build())
}

/// A TLS failure (lettre reports a refused certificate as a connection error).
fn tls_problem(e: &lettre::transport::smtp::Error) -> bool {
    e.is_tls() || e.to_string().to_lowercase().contains("certificate")
}

/// Why sending failed, in words a user can act on.
fn explain(e: &lettre::transport::smtp::Error, url: &SmtpUrl) -> String {
    let code = e.status().map(|c| c.to_string());
    // The server's words may quote what it was sent: a server that echoes
    // `AUTH PLAIN <base64 of \0user\0password>` in its refusal would put the
    // credential in the digest's error, the run history and the output.
    let text = agg_core::secrets::redact(&e.to_string()).into_owned();
    let lower = text.to_lowercase();
    if code
        .as_deref()
        .is_some_and(|c| c == "535" || c == "534" || c == "530")
        || lower.contains("authentication")
    {
        format!(
            "the SMTP server {} refused authentication: {text}",
            url.redacted()
        )
    } else if code.as_deref().is_some_and(|c| c.starts_with("55")) {
        format!(
            "the SMTP server {} rejected the message or a recipient: {text}",
            url.redacted()
        )
    } else if e.is_response() {
        format!(
            "the SMTP server {} answered with an error: {text}",
            url.redacted()
        )
    } else if tls_problem(e) {
        format!(
            "TLS with the SMTP server {} failed (a private CA needs `tls_ca_file`): {text}",
            url.redacted()
        )
    } else if e.is_timeout() {
        format!("the SMTP server {} timed out: {text}", url.redacted())
    } else {
        format!("cannot reach the SMTP server {}: {text}", url.redacted())
    }
}

/// Sends, retrying transient failures with exponential backoff. Permanent
/// refusals (5xx: bad credentials, rejected recipient) are not retried.
pub async fn send(msg: &Message, url: &SmtpUrl, opts: &SendOptions) -> anyhow::Result<()> {
    let t = transport(url, opts)?;
    let mut wait = opts.backoff;
    let attempts = opts.attempts.max(1);
    for attempt in 1..=attempts {
        let result = match tokio::time::timeout(opts.timeout, t.send(msg.clone())).await {
            // A certificate problem does not mend itself in seconds.
            Ok(r) => r.map_err(|e| (explain(&e, url), e.is_permanent() || tls_problem(&e))),
            Err(_) => Err((
                format!(
                    "the SMTP server {} did not answer within {}s",
                    url.redacted(),
                    opts.timeout.as_secs_f64()
                ),
                false,
            )),
        };
        match result {
            Ok(_) => return Ok(()),
            Err((why, permanent)) => {
                if permanent || attempt == attempts {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    anyhow::bail!("{why}{tries}");
                }
                tracing::warn!(attempt, "{why}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2).min(Duration::from_secs(300));
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (u.security, u.port, u.user.is_none()),
            (Security::Plain, 2525, true)
        );
        let u = SmtpUrl::parse("smtp+starttls://me%40x.org:p%40ss@mail.x.org:587").unwrap();
        assert_eq!(u.security, Security::StartTls);
        assert_eq!(u.user.as_deref(), Some("me@x.org"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.redacted(), "smtp+starttls://me@x.org:***@mail.x.org:587");
        let u = SmtpUrl::parse("smtps://a:b@h").unwrap();
        assert_eq!((u.security, u.port), (Security::Tls, 465));
        // Userinfo is not a form: a `+` is a plus, not a space (it was read
        // as a form value once, and a password with `+` never logged in).
        let u = SmtpUrl::parse("smtps://a:x+y%2Bz@h").unwrap();
        assert_eq!(u.password.as_deref(), Some("x+y+z"));
        let e = SmtpUrl::parse("http://a:secret@h").unwrap_err().to_string();
        assert!(e.contains("unknown SMTP URL scheme"), "{e}");
    }

    #[test]
    fn a_clear_text_password_needs_loopback_or_tls_none() {
        for ok in [
            "smtp://u:pw@127.0.0.1:25",
            "smtp://u:pw@[::1]:25",
            "smtp://u:pw@localhost",
            "smtp://mail.example.org:25",
            "smtp://u:pw@mail.example.org:25?tls=none",
            "smtp+starttls://u:pw@mail.example.org",
            "smtps://u:pw@mail.example.org",
        ] {
            assert!(SmtpUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "smtp://u:hunter22@mail.example.org:25",
            "smtp://u:hunter22@10.0.0.5",
            "smtp://u@mail.example.org",
        ] {
            let e = SmtpUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("unencrypted") && e.contains("?tls=none"), "{e}");
            assert!(!e.contains("hunter22"), "{e}");
        }
        let e = SmtpUrl::parse("smtps://u:pw@h?tls=none")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown parameter `tls=none`"), "{e}");
        let e = SmtpUrl::parse("smtp://h?x=1").unwrap_err().to_string();
        assert!(e.contains("unknown parameter `x=1`"), "{e}");
    }

    #[test]
    fn message_ids_are_unique_and_well_formed() {
        let a = message_id("my pipe", "2026-11-26", "Digest <agg@example.org>");
        let b = message_id("my pipe", "2026-11-26", "agg@example.org");
        assert_ne!(a, b);
        assert!(
            a.starts_with("<agg.my-pipe.2026-11-26.") && a.ends_with("@example.org>"),
            "{a}"
        );
    }
}
