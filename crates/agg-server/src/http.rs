//! The HTTP side of `agg serve`: saga feeds, the reader's own feed, health
//! and metrics. Everything here is read-only; it binds 127.0.0.1 unless told
//! otherwise. Also what guards every request and connection of the server:
//! the `Host` check against DNS rebinding ([`AllowedHosts`]) and the
//! connection cap and header timeout against slow clients
//! ([`serve_bounded`]).

use std::sync::Arc;

use agg_core::{ItemQuery, Store};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::feeds::{FeedMeta, atom, last_modified, rss};

/// Items per feed document.
const FEED_ITEMS: u64 = 100;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Verifies the signed links of digests (`/f/{token}`).
    pub signer: agg_digest::token::Signer,
    /// Base URL readers use to reach this server (for self links).
    pub public_url: String,
    /// Lowest score an item needs to be in `/feed.xml`.
    pub feed_min_score: f32,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/sagas.xml", get(all_sagas_rss))
        .route("/sagas.atom", get(all_sagas_atom))
        .route("/sagas/{file}", get(one_saga))
        .route("/feed.xml", get(own_rss))
        .route("/feed.atom", get(own_atom))
        .route("/saved.xml", get(saved_rss))
        .route("/saved.atom", get(saved_atom))
        .route("/f/{token}", get(feedback_page).post(feedback_apply))
        .with_state(state)
}

#[derive(Deserialize, Default)]
struct FormatQuery {
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Fmt {
    Rss,
    Atom,
}

fn fmt_of(ext_atom: bool, q: &FormatQuery) -> Fmt {
    if ext_atom || q.format.as_deref() == Some("atom") {
        Fmt::Atom
    } else {
        Fmt::Rss
    }
}

pub(crate) fn server_error(e: anyhow::Error) -> Response {
    tracing::error!("{e:#}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

/// A feed response with validators: ETag (a hash of the body) and
/// Last-Modified (the newest item); a matching If-None-Match or an
/// If-Modified-Since not older than the newest item gets 304.
fn conditional(
    headers: &HeaderMap,
    body: String,
    modified: Option<DateTime<Utc>>,
    fmt: Fmt,
) -> Response {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..12])
    );
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(inm) => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => match (
            headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok()),
            modified,
        ) {
            (Some(ims), Some(m)) => DateTime::parse_from_rfc2822(ims)
                .map(|t| m.timestamp() <= t.timestamp())
                .unwrap_or(false),
            _ => false,
        },
    };
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = resp.headers_mut();
    let ctype = match fmt {
        Fmt::Rss => "application/rss+xml; charset=utf-8",
        Fmt::Atom => "application/atom+xml; charset=utf-8",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(m) = modified
        && let Ok(v) = HeaderValue::from_str(&m.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    resp
}

async fn feed(
    st: &AppState,
    headers: &HeaderMap,
    q: ItemQuery,
    meta: FeedMeta,
    fmt: Fmt,
) -> Response {
    let items = match st.store.list_items(&q).await {
        Ok(i) => i,
        Err(e) => return server_error(e),
    };
    let body = match fmt {
        Fmt::Rss => rss(&meta, &items),
        Fmt::Atom => atom(&meta, &items),
    };
    conditional(headers, body, last_modified(&items), fmt)
}

fn meta(
    st: &AppState,
    path: &str,
    title: String,
    description: &str,
    id: &str,
    saga_prefix: bool,
) -> FeedMeta {
    let base = st.public_url.trim_end_matches('/');
    FeedMeta {
        title,
        description: description.into(),
        self_url: format!("{base}{path}"),
        home_url: format!("{base}/"),
        id: format!("tag:agg,2026:{id}"),
        saga_prefix,
    }
}

async fn all_sagas(st: AppState, headers: HeaderMap, fmt: Fmt) -> Response {
    let q = ItemQuery {
        in_saga: true,
        limit: Some(FEED_ITEMS),
        ..ItemQuery::default()
    };
    let path = if fmt == Fmt::Atom {
        "/sagas.atom"
    } else {
        "/sagas.xml"
    };
    let m = meta(
        &st,
        path,
        "agg: saga updates".into(),
        "New items in the stories agg follows",
        "sagas",
        true,
    );
    feed(&st, &headers, q, m, fmt).await
}

async fn all_sagas_rss(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FormatQuery>,
) -> Response {
    all_sagas(st, headers, fmt_of(false, &q)).await
}

async fn all_sagas_atom(State(st): State<AppState>, headers: HeaderMap) -> Response {
    all_sagas(st, headers, Fmt::Atom).await
}

async fn one_saga(
    State(st): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<FormatQuery>,
) -> Response {
    let (id, ext_atom) = match (file.strip_suffix(".xml"), file.strip_suffix(".atom")) {
        (Some(id), _) => (id, false),
        (_, Some(id)) => (id, true),
        _ => (file.as_str(), false),
    };
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::NOT_FOUND, "no such saga\n").into_response();
    };
    // Merged sagas resolve to the saga they went into; titles come from the
    // engine, which owns them.
    let saga = match agg_app::sagas::read_one(st.store.as_ref(), id).await {
        Ok(Some(s)) => s,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such saga\n").into_response(),
        Err(e) => return server_error(e.into()),
    };
    let fmt = fmt_of(ext_atom, &q);
    let q = ItemQuery {
        saga: Some(saga.id.0),
        limit: Some(FEED_ITEMS),
        ..ItemQuery::default()
    };
    let ext = if fmt == Fmt::Atom { "atom" } else { "xml" };
    let m = meta(
        &st,
        &format!("/sagas/{}.{ext}", saga.id.0),
        format!("agg saga: {}", saga.title),
        &format!(
            "{} items from {} outlets",
            saga.item_count(),
            saga.outlet_count()
        ),
        &format!("saga/{}", saga.id.0),
        false,
    );
    feed(&st, &headers, q, m, fmt).await
}

async fn own(st: AppState, headers: HeaderMap, fmt: Fmt) -> Response {
    let q = ItemQuery {
        min_score: Some(st.feed_min_score),
        limit: Some(FEED_ITEMS),
        ..ItemQuery::default()
    };
    let path = if fmt == Fmt::Atom {
        "/feed.atom"
    } else {
        "/feed.xml"
    };
    let m = meta(
        &st,
        path,
        "agg: what matters to you".into(),
        "Top-scored items, with the reason for each",
        "feed",
        false,
    );
    feed(&st, &headers, q, m, fmt).await
}

async fn own_rss(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FormatQuery>,
) -> Response {
    own(st, headers, fmt_of(false, &q)).await
}

async fn own_atom(State(st): State<AppState>, headers: HeaderMap) -> Response {
    own(st, headers, Fmt::Atom).await
}

/// The reader's saved items (issue 18), most recently saved first: a feed
/// to read them elsewhere. No Last-Modified: unsaving changes the feed
/// without a newer date anywhere, so only the ETag (of the body) can say
/// whether it changed.
async fn saved(st: AppState, headers: HeaderMap, fmt: Fmt) -> Response {
    let saved = match crate::ui::reading::saved(st.store.as_ref(), FEED_ITEMS).await {
        Ok(s) => s,
        Err(e) => return server_error(e),
    };
    let items: Vec<agg_core::Item> = saved.into_iter().map(|(i, _)| i).collect();
    let path = if fmt == Fmt::Atom {
        "/saved.atom"
    } else {
        "/saved.xml"
    };
    let m = meta(
        &st,
        path,
        "agg: saved items".into(),
        "Items you saved, most recently saved first",
        "saved",
        false,
    );
    let body = match fmt {
        Fmt::Rss => rss(&m, &items),
        Fmt::Atom => atom(&m, &items),
    };
    conditional(&headers, body, None, fmt)
}

async fn saved_rss(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FormatQuery>,
) -> Response {
    saved(st, headers, fmt_of(false, &q)).await
}

async fn saved_atom(State(st): State<AppState>, headers: HeaderMap) -> Response {
    saved(st, headers, Fmt::Atom).await
}

/// Prometheus text format.
async fn metrics(State(st): State<AppState>) -> Response {
    let result: anyhow::Result<String> = async {
        let items = st.store.count_items(&ItemQuery::default()).await?;
        let runs = st.store.list_runs(1000).await?;
        let feeds = st.store.list_feeds().await?;
        let mut s = String::new();
        s.push_str("# HELP agg_items_stored Items in the store.\n# TYPE agg_items_stored gauge\n");
        s.push_str(&format!("agg_items_stored {items}\n"));
        s.push_str("# HELP agg_runs Recent runs (last 1000) by status.\n# TYPE agg_runs gauge\n");
        for status in ["ok", "partial", "failed", "aborted", "running"] {
            let n = runs.iter().filter(|r| r.status.as_str() == status).count();
            s.push_str(&format!("agg_runs{{status=\"{status}\"}} {n}\n"));
        }
        let errors: usize = runs.iter().flat_map(|r| &r.agents).map(|a| a.errors.len()).sum();
        s.push_str("# HELP agg_agent_errors Errors recorded by agents in recent runs.\n# TYPE agg_agent_errors gauge\n");
        s.push_str(&format!("agg_agent_errors {errors}\n"));
        let failing = feeds.iter().filter(|f| f.consecutive_failures > 0).count();
        let paused = feeds.iter().filter(|f| f.paused).count();
        s.push_str("# HELP agg_feeds Known feeds by health.\n# TYPE agg_feeds gauge\n");
        s.push_str(&format!(
            "agg_feeds{{health=\"ok\"}} {}\nagg_feeds{{health=\"failing\"}} {failing}\nagg_feeds{{health=\"paused\"}} {paused}\n",
            feeds.len() - failing
        ));
        let scored: u64 = runs.iter().flat_map(|r| &r.agents).filter(|a| a.kind == "score").map(|a| a.items_out).sum();
        let score_ms: u64 = runs.iter().flat_map(|r| &r.agents).filter(|a| a.kind == "score").map(|a| a.duration_ms).sum();
        s.push_str("# HELP agg_scored_items_per_second Scoring throughput over recent runs.\n# TYPE agg_scored_items_per_second gauge\n");
        let rate = if score_ms > 0 { scored as f64 * 1000.0 / score_ms as f64 } else { 0.0 };
        s.push_str(&format!("agg_scored_items_per_second {rate:.1}\n"));
        Ok(s)
    }
    .await;
    match result {
        Ok(s) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response(),
        Err(e) => server_error(e),
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;\
         margin:3rem auto;padding:0 1rem}} button{{font-size:1.1rem;padding:.5rem 1.5rem}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = crate::feeds::esc(title)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// What a verified token is about, in words, or why it cannot be used.
async fn describe(
    st: &AppState,
    token: &str,
) -> Result<(agg_digest::token::Token, String), Response> {
    let now = Utc::now().timestamp();
    let t = st.signer.verify(token, now).map_err(|e| {
        page(
            StatusCode::FORBIDDEN,
            "This link cannot be used",
            &format!("<p>{}.</p>", crate::feeds::esc(&e.to_string())),
        )
    })?;
    use agg_digest::token::Action;
    let what = match t.action {
        Action::Like | Action::Dislike => {
            let items = st
                .store
                .get_items(&[t.target])
                .await
                .map_err(server_error)?;
            let item = items.first().ok_or_else(|| {
                page(
                    StatusCode::NOT_FOUND,
                    "Gone",
                    "<p>That item is no longer stored.</p>",
                )
            })?;
            format!(
                "{} “{}”",
                if t.action == Action::Like {
                    "👍"
                } else {
                    "👎"
                },
                item.title
            )
        }
        Action::Follow | Action::Mute => {
            let saga = agg_app::sagas::read_one(st.store.as_ref(), t.target as u64)
                .await
                .map_err(|e| server_error(e.into()))?
                .ok_or_else(|| {
                    page(
                        StatusCode::NOT_FOUND,
                        "Gone",
                        "<p>That saga does not exist.</p>",
                    )
                })?;
            format!(
                "{} the saga “{}”",
                if t.action == Action::Follow {
                    "Follow"
                } else {
                    "Mute"
                },
                saga.title
            )
        }
        Action::Unsubscribe => {
            return Err(page(
                StatusCode::NOT_IMPLEMENTED,
                "Unsubscribe",
                "<p>To stop the digest, remove the <code>email_digest</code> agent from the pipeline or its <code>to</code> address.</p>",
            ));
        }
    };
    Ok((t, what))
}

/// GET only shows what the link would do: mail scanners fetch links, and a
/// fetch must not count as the reader's click.
async fn feedback_page(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    match describe(&st, &token).await {
        Err(r) => r,
        Ok((_, what)) => page(
            StatusCode::OK,
            "Confirm",
            &format!(
                "<p>{}</p><form method=\"post\"><button type=\"submit\">Confirm</button></form>",
                crate::feeds::esc(&what)
            ),
        ),
    }
}

/// POST applies the action, once per token: a replayed token changes nothing
/// more.
async fn feedback_apply(State(st): State<AppState>, Path(token): Path<String>) -> Response {
    let (t, what) = match describe(&st, &token).await {
        Err(r) => return r,
        Ok(x) => x,
    };
    let result = agg_app::feedback::apply_link(st.store.as_ref(), &token, &t).await;
    match result {
        Ok(agg_app::feedback::Link::Recorded) => page(
            StatusCode::OK,
            "Thanks",
            &format!("<p>Recorded: {}.</p>", crate::feeds::esc(&what)),
        ),
        Ok(agg_app::feedback::Link::AlreadyRecorded) => page(
            StatusCode::OK,
            "Already recorded",
            &format!(
                "<p>{} was recorded before; nothing changed.</p>",
                crate::feeds::esc(&what)
            ),
        ),
        Err(e) => server_error(e.into()),
    }
}

/// The host names this server answers to, the defence against DNS
/// rebinding: a page on `attacker.example` can re-point its own name at
/// 127.0.0.1 and then talk to agg from the victim's browser as a
/// same-origin site (so the cross-site check passes), but every request
/// still carries `Host: attacker.example`. A request is served only when
/// its `Host` is
/// - `localhost` (or a name under `.localhost`, which resolves to this
///   machine by definition),
/// - an IP address: a loopback one, the address agg is bound to, or any
///   when it is bound to all addresses (`0.0.0.0`, `::`). An address is no
///   name an attacker can re-point;
/// - the host of `--public-url` (the name a reverse proxy or readers use).
///
/// The port is not compared: a rebinding attack needs a name it controls,
/// whatever the port, and a proxy may or may not pass it on.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    bind: std::net::IpAddr,
    public: Option<String>,
}

impl AllowedHosts {
    pub fn new(bind: std::net::SocketAddr, public_url: &str) -> Self {
        let public = agg_fetch::url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(normal_host));
        AllowedHosts {
            bind: bind.ip(),
            public,
        }
    }

    /// Whether a request with this `Host` header value is for us.
    pub fn allows(&self, host: &str) -> bool {
        let name = normal_host(host_without_port(host));
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            return ip.is_loopback() || self.bind.is_unspecified() || ip == self.bind;
        }
        self.public.as_deref() == Some(name.as_str())
    }
}

/// `host[:port]` → `host` (IPv6 literals keep their brackets).
fn host_without_port(h: &str) -> &str {
    let h = h.trim();
    if h.starts_with('[') {
        return h.split_inclusive(']').next().unwrap_or(h);
    }
    h.rsplit_once(':').map_or(h, |(name, _)| name)
}

/// Lower-cased, without the root's final dot.
fn normal_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// Middleware: refuses a request whose `Host` is not one of ours (see
/// [`AllowedHosts`]) with 421 Misdirected Request, before any handler runs.
pub async fn check_host(
    axum::extract::State(hosts): axum::extract::State<Arc<AllowedHosts>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if !hosts.allows(h) => {
            tracing::warn!(host = %h, "refused a request for another host name (DNS rebinding?)");
            (
                StatusCode::MISDIRECTED_REQUEST,
                "this agg does not answer to that host name; use the address it listens on, \
                 localhost, or the host of --public-url\n",
            )
                .into_response()
        }
        // HTTP/1.0 clients may send no Host: no browser does.
        _ => next.run(req).await,
    }
}

/// Limits on the connections of `agg serve`: the whole budget of sockets a
/// client can hold, and how long one may take to send a request's headers.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Connections served at once; more wait in the kernel's backlog until
    /// one closes (`AGG_HTTP_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// A client that has not sent a request's headers in full after this
    /// long (the first request, or the next one on a kept-alive
    /// connection) is disconnected (`AGG_HTTP_HEADER_TIMEOUT_SECS`).
    pub header_timeout: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            header_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl HttpLimits {
    /// The defaults, with `AGG_HTTP_MAX_CONNECTIONS` and
    /// `AGG_HTTP_HEADER_TIMEOUT_SECS` applied when set.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut l = HttpLimits::default();
        let num = |name: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Err(_) => Ok(None),
                Ok(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| anyhow::anyhow!("{name}={v:?} is not a positive whole number")),
            }
        };
        if let Some(n) = num("AGG_HTTP_MAX_CONNECTIONS")? {
            l.max_connections = usize::try_from(n.min(u64::from(u32::MAX >> 3)))?;
        }
        if let Some(s) = num("AGG_HTTP_HEADER_TIMEOUT_SECS")? {
            l.header_timeout = std::time::Duration::from_secs(s);
        }
        Ok(l)
    }
}

/// Serves `app` on `listener` until `stop` changes, within `limits`: at
/// most `max_connections` connections at once (the next `accept` waits for
/// one to close, so the file descriptors a client can take are bounded),
/// each one dropped when it sends a request's headers too slowly (a
/// slowloris holds connections open by never finishing them). On `stop`,
/// no connection is accepted any more, idle ones close, and requests in
/// progress finish; then it returns.
///
/// (`axum::serve` sets neither limit: its connections have no header
/// timeout, and it accepts all it is offered.)
pub async fn serve_bounded(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let max = limits.max_connections.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, a connection reset before it
                    // was taken…: wait a little rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = b.serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("connection ended: {e}");
                    }
                }
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = closing_tx.send(true);
    // Each connection holds a permit: all of them back means all closed.
    let _ = permits
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
}
