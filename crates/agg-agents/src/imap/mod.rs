//! `imap`: a newsletter inbox as a source. Each new mail in one IMAP mailbox
//! becomes an item, the way a private "newsletter address" works: subscribe
//! to newsletters with that address and they arrive with the feeds.
//!
//! Options: `host`, `port` (default 993 with `tls: implicit`, else 143),
//! `tls` (`implicit`, `starttls` or `none`; `none` only for a loopback host,
//! since the password would otherwise cross the network in clear),
//! `username`, `password_env` (the *name* of the environment variable that
//! holds the password: the pipeline file never contains it), `mailbox`
//! (default `INBOX`), `max_messages` (per run, default 100; the rest wait for
//! the next run), `max_message_bytes` (default 5 MB; a longer mail is kept
//! truncated), `connect_timeout_secs`, `timeout_secs` (per IMAP command) and
//! `ca_file` (extra PEM root certificates, for a server with a private CA).
//!
//! What is "new" is decided by UID, not by the `\Seen` flag: the user may read
//! the mails in their own client, and agg must never change what they see.
//! The mailbox is opened with EXAMINE (read-only) and bodies are fetched with
//! `BODY.PEEK`, so no flag ever changes. The store keeps, per (pipeline,
//! agent, account, mailbox), the mailbox's UIDVALIDITY and the highest UID
//! handled; it is saved after the items it covers are stored, so a crash
//! re-reads a few mails (stored again under the same key: no duplicate)
//! rather than losing any. When UIDVALIDITY changes the server has
//! renumbered the mailbox: everything is read again and deduplicated by
//! Message-ID, which is the item's stable key.
//!
//! The password is never logged. It is registered with `agg_core::secrets`
//! (masked in anything the CLI prints), and the IMAP client never sees it:
//! async-imap traces every command it writes (through `log`, which the CLI
//! forwards to its log output), so it is handed a placeholder, and the
//! connection swaps the real password in only as the bytes go onto the
//! socket ([`SecretSwap`]).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use agg_core::{Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx};
use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

mod message;
mod wire;

use message::*;
use wire::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Tls {
    /// TLS from the first byte (port 993).
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    Starttls,
    /// No TLS at all: only accepted for a loopback host.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    tls: Tls,
    username: String,
    password_env: String,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    #[serde(default = "default_max_messages")]
    max_messages: usize,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: u64,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_secs: u64,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default)]
    ca_file: Option<String>,
}

fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_max_messages() -> usize {
    100
}
/// Newsletters with inline images run to a few hundred KB; 5 MB leaves
/// room while bounding memory (a run holds at most one batch of mails).
fn default_max_message_bytes() -> u64 {
    5_000_000
}
fn default_connect_timeout() -> u64 {
    15
}
fn default_timeout() -> u64 {
    60
}

/// Mails fetched per IMAP FETCH and stored per batch: progress (the highest
/// UID handled) is saved after each batch, so a long first run that is
/// interrupted resumes close to where it stopped.
const BATCH: usize = 25;

pub const KIND: KindDef = KindDef {
    name: "imap",
    role: Role::Source,
    summary: "Newsletters from an IMAP mailbox: each new mail becomes an item (read-only, never marks mail read)",
    build,
};

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    let host = o.host.trim().to_string();
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(OptionsError::at(
            &["host"],
            format!("`{}` is not a host name or address", o.host),
        ));
    }
    if o.tls == Tls::None && !is_loopback(&host) {
        return Err(OptionsError::at(
            &["tls"],
            format!("`tls: none` would send the password to `{host}` unencrypted"),
        )
        .with_hint("use `tls: implicit` (port 993) or `tls: starttls` (port 143); `none` is only accepted for localhost / 127.0.0.1 / ::1"));
    }
    if o.username.is_empty() {
        return Err(OptionsError::at(&["username"], "`username` is empty"));
    }
    if !crate::util::valid_env_name(&o.password_env) {
        return Err(OptionsError::at(
            &["password_env"],
            format!(
                "`{}` is not an environment variable name",
                o.password_env
            ),
        )
        .with_hint("give the variable's name, e.g. `password_env: NEWSLETTER_IMAP_PASSWORD`, never the password itself"));
    }
    if o.mailbox.is_empty() || o.mailbox.contains(['\r', '\n']) {
        return Err(OptionsError::at(
            &["mailbox"],
            "`mailbox` must be a mailbox name",
        ));
    }
    if o.max_messages == 0 || o.max_messages > 10_000 {
        return Err(OptionsError::at(
            &["max_messages"],
            "`max_messages` must be 1 to 10000",
        ));
    }
    if !(1_000..=100_000_000).contains(&o.max_message_bytes) {
        return Err(OptionsError::at(
            &["max_message_bytes"],
            "`max_message_bytes` must be 1000 to 100000000",
        ));
    }
    for (name, v) in [
        ("connect_timeout_secs", o.connect_timeout_secs),
        ("timeout_secs", o.timeout_secs),
    ] {
        if v == 0 || v > 3600 {
            return Err(OptionsError::at(
                &[name],
                format!("`{name}` must be 1 to 3600"),
            ));
        }
    }
    let port = o.port.unwrap_or(match o.tls {
        Tls::Implicit => 993,
        Tls::Starttls | Tls::None => 143,
    });
    if port == 0 {
        return Err(OptionsError::at(&["port"], "`port` must be 1 to 65535"));
    }
    Ok(Box::new(Imap {
        host,
        port,
        tls: o.tls,
        username: o.username,
        password_env: o.password_env,
        mailbox: o.mailbox,
        max_messages: o.max_messages,
        max_message_bytes: o.max_message_bytes,
        connect_timeout: Duration::from_secs(o.connect_timeout_secs),
        timeout: Duration::from_secs(o.timeout_secs),
        ca_file: o.ca_file.map(|f| ctx.resolve(&f)),
    }))
}

struct Imap {
    host: String,
    port: u16,
    tls: Tls,
    username: String,
    password_env: String,
    mailbox: String,
    max_messages: usize,
    max_message_bytes: u64,
    connect_timeout: Duration,
    timeout: Duration,
    ca_file: Option<PathBuf>,
}

/// What the store keeps between runs (a small JSON document under
/// [`Imap::state_key`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct MailboxState {
    uidvalidity: u32,
    last_uid: u32,
}

type Session = async_imap::Session<SecretSwap<Conn>>;
type Client = async_imap::Client<SecretSwap<Conn>>;

/// Stands in for the password in the LOGIN command async-imap builds (and
/// traces); [`SecretSwap`] replaces it on the way to the socket. It has no
/// character IMAP quoting would escape.
const PLACEHOLDER: &str = "agg-password-placeholder-8d1f0c";

impl Imap {
    /// The mailbox's identity for the saved progress: the port and TLS mode
    /// are left out (the same mailbox reached another way is still the
    /// same mailbox, with the same UIDs).
    fn state_key(&self, ctx: &RunCtx) -> String {
        format!(
            "imap:{}/{}/{}@{}/{}",
            ctx.pipeline,
            ctx.agent,
            self.username,
            self.host.to_ascii_lowercase(),
            self.mailbox
        )
    }

    fn account(&self) -> String {
        format!("{}@{}:{}", self.username, self.host, self.port)
    }

    /// Runs one IMAP step under the per-command timeout.
    async fn step<T, E: fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(anyhow!("IMAP {what} on {}: {e}", self.account())),
            Err(_) => Err(anyhow!(
                "IMAP {what} on {}: no answer within {}s (timeout_secs)",
                self.account(),
                self.timeout.as_secs()
            )),
        }
    }

    fn tls_connector(&self) -> anyhow::Result<tokio_rustls::TlsConnector> {
        use rustls_platform_verifier::{BuilderVerifierExt, Verifier};
        // The provider is named explicitly: the process may link both
        // rustls providers, and relying on a process default would panic.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = match &self.ca_file {
            None => builder.with_platform_verifier()?.with_no_client_auth(),
            Some(path) => {
                use rustls_pki_types::CertificateDer;
                use rustls_pki_types::pem::PemObject;
                let roots = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| anyhow!("ca_file {}: {e}", path.display()))?;
                if roots.is_empty() {
                    bail!("ca_file {}: no PEM certificate in it", path.display());
                }
                let verifier = Verifier::new_with_extra_roots(roots, provider)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
        };
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    async fn tls_wrap(&self, tcp: TcpStream) -> anyhow::Result<Conn> {
        let connector = self.tls_connector()?;
        let name = rustls_pki_types::ServerName::try_from(
            self.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .map_err(|e| {
            anyhow!(
                "`{}` cannot be checked against a certificate: {e}",
                self.host
            )
        })?;
        let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| anyhow!("TLS handshake with {} timed out", self.account()))?
            .with_context(|| format!("TLS handshake with {}:{}", self.host, self.port))?;
        Ok(Conn::Tls(Box::new(tls)))
    }

    /// Connects, secures the connection as configured, reads the greeting.
    async fn connect(&self) -> anyhow::Result<Client> {
        let addr = (
            self.host.trim_start_matches('[').trim_end_matches(']'),
            self.port,
        );
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                anyhow!(
                    "connecting to {}:{} timed out after {}s (connect_timeout_secs)",
                    self.host,
                    self.port,
                    self.connect_timeout.as_secs()
                )
            })?
            .with_context(|| {
                format!("cannot connect to IMAP server {}:{}", self.host, self.port)
            })?;
        let _ = tcp.set_nodelay(true);
        let conn = match self.tls {
            Tls::Implicit => self.tls_wrap(tcp).await?,
            Tls::Starttls | Tls::None => Conn::Plain(tcp),
        };
        let mut client = async_imap::Client::new(SecretSwap::new(conn));
        let greeting = self.step("greeting", client.read_response()).await?;
        if greeting.is_none() {
            bail!(
                "{} closed the connection before greeting (is it an IMAP port?)",
                self.account()
            );
        }
        if self.tls != Tls::Starttls {
            return Ok(client);
        }
        self.step(
            "STARTTLS",
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await
        .context("the server refused STARTTLS; try `tls: implicit` with port 993")?;
        let Conn::Plain(tcp) = client.into_inner().into_inner() else {
            unreachable!("STARTTLS starts from a plain connection")
        };
        Ok(async_imap::Client::new(SecretSwap::new(
            self.tls_wrap(tcp).await?,
        )))
    }

    async fn login(&self, password: &str) -> anyhow::Result<Session> {
        if password.contains(['\r', '\n', '\0']) {
            bail!(
                "the password in ${} contains a line break or NUL, which IMAP LOGIN cannot carry",
                self.password_env
            );
        }
        let mut client = self.connect().await?;
        client.get_mut().arm(password);
        let refused = |why: String| {
            anyhow!(
                "IMAP login as `{}` on {}:{} failed: {why}. Check `username` and the password in the environment variable ${}",
                self.username,
                self.host,
                self.port,
                self.password_env
            )
        };
        match tokio::time::timeout(self.timeout, client.login(&self.username, PLACEHOLDER)).await {
            Err(_) => Err(refused(format!(
                "no answer within {}s (timeout_secs)",
                self.timeout.as_secs()
            ))),
            Ok(Err((e, _))) => Err(refused(match e {
                async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
                    format!("the server said: {}", m.trim())
                }
                async_imap::error::Error::Validate(_) => {
                    "the user name has a character IMAP cannot carry".into()
                }
                other => other.to_string(),
            })),
            Ok(Ok(session)) => Ok(session),
        }
    }

    /// Fetches one batch of UIDs; returns the items and, per UID that could
    /// not be turned into an item, why.
    async fn fetch_batch(
        &self,
        session: &mut Session,
        uids: &[u32],
        source: &str,
    ) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
        let set = uid_set(uids);
        let query = format!(
            "(UID RFC822.SIZE BODY.PEEK[]<0.{}>)",
            self.max_message_bytes
        );
        let mut stream = self
            .step("UID FETCH", session.uid_fetch(&set, &query))
            .await?;
        let fetched = chrono::Utc::now();
        let mut items = Vec::new();
        let mut errors = Vec::new();
        loop {
            let next = tokio::time::timeout(self.timeout, stream.next())
                .await
                .map_err(|_| {
                    anyhow!(
                        "IMAP UID FETCH on {}: no data within {}s (timeout_secs)",
                        self.account(),
                        self.timeout.as_secs()
                    )
                })?;
            let Some(f) = next else { break };
            let f = f.map_err(|e| anyhow!("IMAP UID FETCH on {}: {e}", self.account()))?;
            // Unsolicited FETCH responses (flag changes) carry no UID/body.
            let Some(uid) = f.uid else { continue };
            let Some(raw) = f.body() else {
                if f.size.is_some() {
                    errors.push(format!("mail UID {uid}: the server sent no body"));
                }
                continue;
            };
            let truncated = f
                .size
                .is_some_and(|s| u64::from(s) > self.max_message_bytes);
            match mail_to_item(raw, source, fetched) {
                Ok(mut item) => {
                    if truncated {
                        tracing::warn!(
                            uid,
                            size = f.size,
                            "mail over max_message_bytes: kept truncated"
                        );
                        item.tags.push("truncated".into());
                    }
                    items.push(item);
                }
                Err(e) => errors.push(format!("mail UID {uid} in {}: {e}", self.mailbox)),
            }
        }
        Ok((items, errors))
    }
}

#[async_trait]
impl Agent for Imap {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let password = std::env::var(&self.password_env).map_err(|_| {
            anyhow!(
                "the IMAP password is read from the environment variable ${}, which is not set",
                self.password_env
            )
        })?;
        // Whatever the variable is called, the value is a secret: the CLI
        // then masks it in any message or log line (defence in depth; the
        // client below never sees it anyway).
        agg_core::secrets::register(&password);
        let key = self.state_key(ctx);
        let saved: Option<MailboxState> = match ctx.store.load_state(&key).await? {
            Some(s) => Some(serde_json::from_str(&s).with_context(|| format!("state {key}"))?),
            None => None,
        };
        let mut session = self.login(&password).await?;
        drop(password);
        let mailbox = self
            .step("EXAMINE", session.examine(utf7_mailbox(&self.mailbox)))
            .await
            .with_context(|| format!("cannot open mailbox `{}`", self.mailbox))?;
        let uidvalidity = mailbox
            .uid_validity
            .ok_or_else(|| anyhow!("{} did not report UIDVALIDITY", self.account()))?;
        let mut last = match &saved {
            Some(s) if s.uidvalidity == uidvalidity => s.last_uid,
            Some(s) => {
                tracing::info!(
                    agent = %ctx.agent,
                    old = s.uidvalidity,
                    new = uidvalidity,
                    "UIDVALIDITY changed: reading the whole mailbox again (deduplicated by Message-ID)"
                );
                0
            }
            None => 0,
        };
        // `n:*` always matches the highest UID, even one below n: filter.
        let mut uids: Vec<u32> = if mailbox.exists == 0 {
            Vec::new()
        } else {
            self.step(
                "UID SEARCH",
                session.uid_search(format!("UID {}:*", last.saturating_add(1))),
            )
            .await?
            .into_iter()
            .filter(|u| *u > last)
            .collect()
        };
        uids.sort_unstable();
        if uids.len() > self.max_messages {
            tracing::info!(
                agent = %ctx.agent,
                left = uids.len() - self.max_messages,
                "more new mails than max_messages: the rest wait for the next run"
            );
            uids.truncate(self.max_messages);
        }
        // A mail that cannot be read is an error on this run (the agent is
        // "partial"), reported once: progress moves past it, so one broken
        // mail neither blocks the mailbox nor fails every later run.
        let mut failed = 0usize;
        let mut stored = 0usize;
        for chunk in uids.chunks(BATCH) {
            let (items, errors) = self.fetch_batch(&mut session, chunk, &ctx.agent).await?;
            failed += errors.len();
            for e in errors {
                ctx.error(e);
            }
            stored += items.len();
            output.send(items).await?;
            // Saved only now that the batch is stored: a crash before this
            // line re-reads the batch, which dedups by key.
            last = chunk[chunk.len() - 1];
            if !ctx.dry_run {
                let st = MailboxState {
                    uidvalidity,
                    last_uid: last,
                };
                ctx.store
                    .save_state(&key, &serde_json::to_string(&st)?)
                    .await?;
            }
        }
        if uids.is_empty()
            && saved.as_ref().map(|s| s.uidvalidity) != Some(uidvalidity)
            && !ctx.dry_run
        {
            // Remember UIDVALIDITY even for an empty mailbox, so that a
            // later renumbering is noticed and the next mail is not skipped
            // as "already seen".
            let st = MailboxState {
                uidvalidity,
                last_uid: 0,
            };
            ctx.store
                .save_state(&key, &serde_json::to_string(&st)?)
                .await?;
        }
        let _ = tokio::time::timeout(self.timeout, session.logout()).await;
        tracing::debug!(agent = %ctx.agent, stored, failed, last, "imap run done");
        Ok(())
    }
}

/// A mailbox name as IMAP wants it on the wire: modified UTF-7 (RFC 3501
/// §5.1.3), so that `Boîte/Lettres` works. Printable ASCII stays as is,
/// `&` becomes `&-`, anything else is UTF-16 in base64 (with `,` for `/`)
/// between `&` and `-`.
fn utf7_mailbox(name: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    fn flush(out: &mut String, units: &mut Vec<u16>) {
        if units.is_empty() {
            return;
        }
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk.len();
            let v = (u32::from(chunk[0]) << 16)
                | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for i in 0..=n {
                out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        units.clear();
    }
    let mut out = String::with_capacity(name.len());
    let mut units = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut units);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut units);
    out
}

/// A UID set for FETCH, runs of consecutive UIDs as ranges: `1:4,7,9:10`.
fn uid_set(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Words of a link's text that mean "this mail on the web".
#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn opts(extra: &str) -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::json!({
            "host": "imap.example.org", "username": "me", "password_env": "NL_PASS"
        });
        if !extra.is_empty() {
            let e: serde_json::Value = serde_json::from_str(extra).unwrap();
            for (k, x) in e.as_object().unwrap() {
                v[k] = x.clone();
            }
        }
        v
    }

    fn build_err(extra: &str) -> Option<OptionsError> {
        let ctx = BuildCtx {
            pipeline: "p".into(),
            agent: "a".into(),
            base_dir: ".".into(),
            timezone: "UTC".parse().unwrap(),
        };
        build(&opts(extra), &ctx).err()
    }

    #[test]
    fn options_are_checked() {
        assert!(build_err("").is_none());
        let e = build_err(r#"{"tls": "none"}"#).unwrap();
        assert_eq!(e.path.len(), 1);
        assert!(e.message.contains("unencrypted"), "{}", e.message);
        assert!(build_err(r#"{"tls": "none", "host": "127.0.0.1"}"#).is_none());
        assert!(build_err(r#"{"tls": "none", "host": "localhost"}"#).is_none());
        assert!(build_err(r#"{"tls": "none", "host": "::1"}"#).is_none());
        assert!(build_err(r#"{"tls": "none", "host": "10.0.0.1"}"#).is_some());
        assert!(
            build_err(r#"{"tls": "ssl"}"#)
                .unwrap()
                .message
                .contains("starttls")
        );
        assert!(
            build_err(r#"{"password": "x"}"#)
                .unwrap()
                .message
                .contains("unknown field")
        );
        assert!(build_err(r#"{"password_env": "hunter 2"}"#).is_some());
        assert!(build_err(r#"{"max_messages": 0}"#).is_some());
    }

    #[test]
    fn mailbox_names_in_modified_utf7() {
        // RFC 3501's own example, and the edge cases.
        assert_eq!(
            utf7_mailbox("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(utf7_mailbox("INBOX"), "INBOX");
        assert_eq!(utf7_mailbox("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(utf7_mailbox("Boîte"), "Bo&AO4-te");
        assert_eq!(utf7_mailbox("📰"), "&2D3c8A-");
    }

    #[test]
    fn uid_sets_use_ranges() {
        assert_eq!(uid_set(&[1, 2, 3, 4, 7, 9, 10]), "1:4,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }

    #[test]
    fn view_online_link_and_fields() {
        let raw = b"From: =?utf-8?q?Caf=C3=A9_Weekly?= <news@cafe.example>\r\n\
Subject: =?utf-8?b?SXNzdWUgIzEyOiDDqXTDqQ==?=\r\n\
Date: Tue, 3 Mar 2026 08:00:00 +0100\r\n\
Message-ID: <abc@cafe.example>\r\n\
List-Id: Cafe Weekly <weekly.cafe.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<!-- <a href=\"https://old.example/i/11\">View in browser</a> --><p><a href=\"https://cafe.example/unsub\">Unsubscribe</a> <a href=\"https://cafe.example/i/12?a=1&amp;b=2\">View <b>in browser</b></a></p><script>x()</script><p>Hello</p>";
        let it = mail_to_item(raw, "nl", chrono::Utc::now()).unwrap();
        assert_eq!(it.title, "Issue #12: été");
        assert_eq!(it.author.as_deref(), Some("Café Weekly"));
        assert_eq!(it.feed_title.as_deref(), Some("Café Weekly"));
        assert_eq!(it.feed.as_deref(), Some("mailto:news@cafe.example"));
        assert_eq!(it.url.as_deref(), Some("https://cafe.example/i/12?a=1&b=2"));
        assert_eq!(it.guid.as_deref(), Some("abc@cafe.example"));
        assert_eq!(
            it.published.unwrap().to_rfc3339(),
            "2026-03-03T07:00:00+00:00"
        );
        assert!(!it.html.as_deref().unwrap().contains("script"));
        assert!(it.text.contains("Hello"), "{}", it.text);
        assert!(it.tags.contains(&"list:weekly.cafe.example".to_string()));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(mail_to_item(b"", "nl", chrono::Utc::now()).is_err());
        assert!(mail_to_item(b"\x00\x01\x02 nothing here", "nl", chrono::Utc::now()).is_err());
    }

    #[tokio::test]
    async fn the_password_is_swapped_in_on_the_wire_only() {
        // A small pipe: writes complete only as the reader drains it, so
        // the swapped bytes go out over several partial writes.
        let (a, mut b) = tokio::io::duplex(8);
        let reader = tokio::spawn(async move {
            let mut got = String::new();
            b.read_to_string(&mut got).await.unwrap();
            got
        });
        let mut s = SecretSwap::new(a);
        s.arm(r#"p"a\ss"#);
        s.write_all(format!("A1 LOGIN \"me\" \"{PLACEHOLDER}\"\r\n").as_bytes())
            .await
            .unwrap();
        s.flush().await.unwrap();
        s.write_all(format!("A2 NOOP \"{PLACEHOLDER}\"\r\n").as_bytes())
            .await
            .unwrap();
        s.flush().await.unwrap();
        drop(s);
        let got = reader.await.unwrap();
        // Swapped once (quoted), then never again.
        assert_eq!(
            got,
            format!("A1 LOGIN \"me\" \"p\\\"a\\\\ss\"\r\nA2 NOOP \"{PLACEHOLDER}\"\r\n")
        );
    }
}
