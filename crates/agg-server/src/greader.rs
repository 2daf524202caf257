//! A Google Reader–compatible client API under `/api/greader` (issue 19):
//! the dialect FreshRSS and Miniflux serve, so phone and desktop readers
//! (newsboat's `urls-source "freshrss"`, NetNewsWire, Reeder, FeedMe…) read
//! agg's items and keep their read and starred state in agg's store.
//!
//! The mapping: a feed agg fetches is a subscription (`feed/URL`), filed
//! under its store folder or else under the pipeline agent that fetches
//! it; read and starred are agg's read and saved state (issue 18: they
//! never train the interest model); a saga of two or more items is a label
//! (`Saga · TITLE (#ID)`), and so is "Top picks" (items scored at least
//! `--feed-min-score`, the items of `/feed.xml`), which is how scores reach
//! a client that knows nothing of them.
//!
//! Authentication is its own: one user and password given to `agg serve`
//! (`--api-user`, `AGG_API_PASSWORD`), never the UI token. ClientLogin
//! answers a token keyed with the server's secret, so it survives
//! restarts and dies with a password change. A wrong password or token is
//! 401 and nothing else; an item or stream id that does not exist is 404.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agg_core::{Item, ItemMark, ItemQuery, ItemState, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::http::AppState;

/// Where the API is mounted; clients are given `PUBLIC_URL/api/greader`.
pub const PREFIX: &str = "/api/greader";

/// Items per page of a stream, at most (clients ask 20 to 1,000).
const MAX_ITEMS: u64 = 1000;
/// Ids per page of `stream/items/ids` (sync clients ask for many).
const MAX_IDS: u64 = 10_000;
/// Items one `edit-tag` or `stream/items/contents` may name.
const MAX_NAMED: usize = 1000;
/// How long the saga labels are reused before the saga state is read again.
const LABEL_TTL: Duration = Duration::from_secs(60);
/// Saga labels offered, the most recently active first.
const MAX_SAGA_LABELS: usize = 200;

const READING_LIST: &str = "user/-/state/com.google/reading-list";
const READ: &str = "user/-/state/com.google/read";
const STARRED: &str = "user/-/state/com.google/starred";
const KEPT_UNREAD: &str = "user/-/state/com.google/kept-unread";
const LABEL: &str = "user/-/label/";
const TOP_PICKS: &str = "Top picks";
const SAGA_LABEL: &str = "Saga · ";
const ITEM_ID: &str = "tag:google.com,2005:reader/item/";

/// The one account of the reader API.
#[derive(Clone)]
pub struct ApiAccount {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for ApiAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiAccount({:?}, ..)", self.user)
    }
}

#[derive(Clone)]
struct Api {
    app: AppState,
    account: Option<Arc<ApiAccount>>,
    labels: Arc<Mutex<Option<CachedLabels>>>,
}

/// Feeds as subscriptions: URL → (title, folder label).
type Feeds = BTreeMap<String, (String, Option<String>)>;

/// The saga labels and when they were read.
type CachedLabels = (Instant, Arc<SagaLabels>);

/// Multi-item sagas as labels: id → label name, and the label list.
#[derive(Default)]
struct SagaLabels {
    by_id: HashMap<u64, String>,
    /// Most recently active first.
    names: Vec<String>,
}

/// The API's routes, to be merged into `agg serve`'s router. With no
/// account every route answers 404 with how to turn it on.
pub fn router(app: AppState, account: Option<ApiAccount>) -> Router {
    let api = Api {
        app,
        account: account.map(Arc::new),
        labels: Arc::default(),
    };
    let r = |p: &str| format!("{PREFIX}{p}");
    Router::new()
        .route(&r("/accounts/ClientLogin"), get(login).post(login))
        .route(&r("/reader/api/0/token"), get(token))
        .route(&r("/reader/api/0/user-info"), get(user_info))
        .route(&r("/reader/api/0/subscription/list"), get(subscriptions))
        .route(&r("/reader/api/0/tag/list"), get(tags))
        .route(&r("/reader/api/0/unread-count"), get(unread_count))
        .route(&r("/reader/api/0/stream/contents"), get(contents_query))
        .route(
            &r("/reader/api/0/stream/contents/{*stream}"),
            get(contents_path),
        )
        .route(&r("/reader/atom/{*stream}"), get(atom_stream))
        .route(&r("/reader/api/0/stream/items/ids"), get(item_ids))
        .route(
            &r("/reader/api/0/stream/items/contents"),
            get(items_contents).post(items_contents),
        )
        .route(&r("/reader/api/0/edit-tag"), post(edit_tag))
        .route(&r("/reader/api/0/mark-all-as-read"), post(mark_all_read))
        .with_state(api)
}

/// Why a request gets no answer but an error, and which status says so.
#[derive(Debug)]
enum ApiError {
    Off,
    Unauthorized,
    BadToken,
    BadRequest(String),
    NotFound(String),
    Store(anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Off => (
                StatusCode::NOT_FOUND,
                "the reader API is off: start agg serve with --api-user NAME and AGG_API_PASSWORD\n",
            )
                .into_response(),
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response()
            }
            ApiError::BadToken => {
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut()
                    .insert("X-Reader-Google-Bad-Token", HeaderValue::from_static("true"));
                r
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response(),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, format!("{m}\n")).into_response(),
            ApiError::Store(e) => crate::http::server_error(e),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Store(e)
    }
}

type ApiResult = Result<Response, ApiError>;

/// Form or query pairs, in order, repeated keys kept (`i=1&i=2`).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    fn query(q: &Option<String>) -> Params {
        Params::parse(q.as_deref().unwrap_or("").as_bytes())
    }
    /// Query and body together (clients put parameters in either).
    fn both(q: &Option<String>, body: &[u8]) -> Params {
        let mut p = Params::query(q);
        p.0.extend(Params::parse(body).0);
        p
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn num(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::BadRequest(format!("{k}={v:?} is not a number")))
            })
            .transpose()
    }
}

fn text(body: impl Into<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

/// Equal without telling, by its timing, how much of a secret matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Api {
    fn account(&self) -> Result<&ApiAccount, ApiError> {
        self.account.as_deref().ok_or(ApiError::Off)
    }

    /// The login token: the user, then a digest keyed with the server's
    /// secret over user and password.
    fn auth_token(&self, a: &ApiAccount) -> String {
        let mut data = a.user.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(a.password.as_bytes());
        format!(
            "{}/{}",
            a.user,
            self.app.signer.derive("reader-api-login", &data)
        )
    }

    /// The action token (`T`) of write requests, derived from the login.
    fn action_token(&self, auth: &str) -> String {
        self.app.signer.derive("reader-api-action", auth.as_bytes())
    }

    /// Checks `Authorization: GoogleLogin auth=…` and returns the login token.
    fn authorize(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let a = self.account()?;
        let want = self.auth_token(a);
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("GoogleLogin"))
            .and_then(|v| v.trim().strip_prefix("auth="))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        if same(given, &want) {
            Ok(want)
        } else {
            Err(ApiError::Unauthorized)
        }
    }

    /// A write request: logged in, and its `T` (when given) this login's
    /// action token. Returns its parameters, query and body together.
    fn write_request(
        &self,
        headers: &HeaderMap,
        query: &Option<String>,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let auth = self.authorize(headers)?;
        let p = Params::both(query, body);
        match p.get("T") {
            Some(t) if !same(t.trim(), &self.action_token(&auth)) => Err(ApiError::BadToken),
            _ => Ok(p),
        }
    }

    fn store(&self) -> &dyn Store {
        self.app.store.as_ref()
    }

    async fn saga_labels(&self) -> Result<Arc<SagaLabels>, ApiError> {
        if let Some((at, l)) = self.labels.lock().expect("labels lock").as_ref()
            && at.elapsed() < LABEL_TTL
        {
            return Ok(l.clone());
        }
        let engine = agg_app::sagas::read(self.store())
            .await
            .map_err(|e| ApiError::Store(anyhow::anyhow!("{e}")))?;
        let mut live: Vec<_> = engine
            .sagas()
            .filter(|s| s.merged_into.is_none() && s.item_count() >= 2)
            .collect();
        live.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(b.id.cmp(&a.id)));
        let mut l = SagaLabels::default();
        for s in live.into_iter().take(MAX_SAGA_LABELS) {
            let name = format!("{SAGA_LABEL}{} (#{})", one_line(&s.title), s.id.0);
            l.by_id.insert(s.id.0, name.clone());
            l.names.push(name);
        }
        let l = Arc::new(l);
        *self.labels.lock().expect("labels lock") = Some((Instant::now(), l.clone()));
        Ok(l)
    }

    /// Feeds as subscriptions: URL → (title, folder label).
    async fn feeds(&self) -> Result<Feeds, ApiError> {
        let folders: HashMap<String, String> = self
            .store()
            .list_subscriptions(None)
            .await?
            .into_iter()
            .filter(|s| !s.folder.is_empty())
            .map(|s| (s.url, s.folder))
            .collect();
        let mut out = BTreeMap::new();
        for f in self.store().list_feeds().await? {
            let folder = folders
                .get(&f.url)
                .cloned()
                .or_else(|| f.agent.clone())
                .filter(|s| !s.trim().is_empty());
            let title = f
                .title
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| f.url.clone());
            out.insert(f.url.clone(), (one_line(&title), folder));
        }
        Ok(out)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `ClientLogin`: `Email` and `Passwd`, in the body or the query.
async fn login(State(api): State<Api>, RawQuery(q): RawQuery, body: Bytes) -> ApiResult {
    let a = api.account()?;
    let p = Params::both(&q, &body);
    let (Some(user), Some(pass)) = (p.get("Email"), p.get("Passwd")) else {
        return Err(ApiError::Unauthorized);
    };
    if !(same(user, &a.user) & same(pass, &a.password)) {
        return Ok((StatusCode::UNAUTHORIZED, "Error=BadAuthentication\n").into_response());
    }
    let t = api.auth_token(a);
    Ok(text(format!("SID={t}\nLSID=null\nAuth={t}\n")))
}

async fn token(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    let auth = api.authorize(&headers)?;
    // No newline: clients send the body back as it came.
    Ok(text(api.action_token(&auth)))
}

async fn user_info(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.authorize(&headers)?;
    let user = &api.account()?.user;
    Ok(json_response(&json!({
        "userId": "1",
        "userName": user,
        "userProfileId": "1",
        "userEmail": "",
    })))
}

fn label_id(name: &str) -> String {
    format!("{LABEL}{name}")
}

async fn subscriptions(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.authorize(&headers)?;
    let subs: Vec<Value> = api
        .feeds()
        .await?
        .into_iter()
        .map(|(url, (title, folder))| {
            let cats: Vec<Value> = folder
                .iter()
                .map(|f| json!({"id": label_id(f), "label": f}))
                .collect();
            json!({
                "id": format!("feed/{url}"),
                "title": title,
                "categories": cats,
                "url": url,
                "htmlUrl": url,
                "iconUrl": "",
            })
        })
        .collect();
    Ok(json_response(&json!({ "subscriptions": subs })))
}

async fn tags(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.authorize(&headers)?;
    let mut tags = vec![json!({"id": STARRED}), json!({"id": READ})];
    let folders: std::collections::BTreeSet<String> = api
        .feeds()
        .await?
        .into_values()
        .filter_map(|(_, f)| f)
        .collect();
    for f in folders {
        tags.push(json!({"id": label_id(&f), "type": "folder"}));
    }
    tags.push(json!({"id": label_id(TOP_PICKS), "type": "tag"}));
    for name in &api.saga_labels().await?.names {
        tags.push(json!({"id": label_id(name), "type": "tag"}));
    }
    Ok(json_response(&json!({ "tags": tags })))
}

fn usec(t: DateTime<Utc>) -> String {
    t.timestamp_micros().to_string()
}

async fn unread_count(State(api): State<Api>, headers: HeaderMap) -> ApiResult {
    api.authorize(&headers)?;
    let mut counts = Vec::new();
    let mut total = 0u64;
    for url in api.feeds().await?.into_keys() {
        let q = ItemQuery {
            feeds: Some(vec![url.clone()]),
            unread: true,
            ..Default::default()
        };
        let n = api.store().count_items(&q).await?;
        if n == 0 {
            continue;
        }
        total += n;
        let newest = api
            .store()
            .list_items(&ItemQuery {
                limit: Some(1),
                ..q
            })
            .await?
            .first()
            .map(|i| usec(i.when()))
            .unwrap_or_default();
        counts.push(json!({
            "id": format!("feed/{url}"),
            "count": n,
            "newestItemTimestampUsec": newest,
        }));
    }
    counts.push(json!({"id": READING_LIST, "count": total, "newestItemTimestampUsec": ""}));
    Ok(json_response(
        &json!({ "max": total.max(1000), "unreadcounts": counts }),
    ))
}

impl Api {
    /// What a stream id names, as a query of the store.
    fn stream(&self, id: &str, feeds: &Feeds) -> Result<ItemQuery, ApiError> {
        let mut q = ItemQuery::default();
        if id == READING_LIST {
        } else if id == STARRED {
            q.saved = true;
        } else if id == READ {
            return Err(ApiError::BadRequest(
                "the read state is a filter (xt/it), not a stream".into(),
            ));
        } else if let Some(url) = id.strip_prefix("feed/") {
            if !feeds.contains_key(url) {
                return Err(ApiError::NotFound(format!("no such feed: {url}")));
            }
            q.feeds = Some(vec![url.to_string()]);
        } else if let Some(name) = id.strip_prefix(LABEL) {
            if name == TOP_PICKS {
                q.min_score = Some(self.app.feed_min_score);
                return Ok(q);
            }
            if let Some(saga) = name
                .strip_prefix(SAGA_LABEL)
                .and_then(|n| n.rsplit_once(" (#"))
                .and_then(|(_, n)| n.strip_suffix(')'))
                .and_then(|n| n.parse::<u64>().ok())
            {
                q.saga = Some(saga);
            } else {
                let in_folder: Vec<String> = feeds
                    .iter()
                    .filter(|(_, (_, f))| f.as_deref() == Some(name))
                    .map(|(u, _)| u.clone())
                    .collect();
                if in_folder.is_empty() {
                    return Err(ApiError::NotFound(format!("no such label: {name}")));
                }
                q.feeds = Some(in_folder);
            }
        } else {
            return Err(ApiError::NotFound(format!("no such stream: {id}")));
        }
        Ok(q)
    }

    /// One page of a stream, with the filters of the stream requests:
    /// `n` (page size), `c` (continuation: where the last page ended),
    /// `xt`/`it` (exclude/include a state: read or starred), `ot`/`nt`
    /// (oldest/newest time, unix seconds). Pages are newest first; `r=o`
    /// (oldest first) is not offered. Returns the items and the
    /// continuation when more may follow.
    async fn page(
        &self,
        id: &str,
        p: &Params,
        max: u64,
        feeds: &Feeds,
    ) -> Result<(Vec<Item>, Option<String>), ApiError> {
        let n = p.num("n")?.unwrap_or(20).clamp(1, max as i64) as u64;
        let mut q = self.stream(id, feeds)?;
        for x in p.all("xt") {
            match x {
                READ => q.unread = true,
                READING_LIST => return Ok((Vec::new(), None)),
                _ => {}
            }
        }
        for x in p.all("it") {
            if x == STARRED {
                q.saved = true;
            }
        }
        if let Some(t) = p.num("ot")? {
            q.since = Utc.timestamp_opt(t, 0).single();
        }
        if let Some(t) = p.num("nt")? {
            q.until = Utc.timestamp_opt(t, 0).single();
        }
        if let Some(c) = p.get("c").filter(|c| !c.is_empty()) {
            q.after_id = Some(
                c.parse()
                    .map_err(|_| ApiError::BadRequest(format!("c={c:?} is not a continuation")))?,
            );
        }
        q.limit = Some(n);
        let items = self.store().list_items(&q).await?;
        let more = items.len() as u64 == n;
        let cont = more
            .then(|| items.last().and_then(|i| i.id))
            .flatten()
            .map(|id| id.to_string());
        Ok((items, cont))
    }

    /// What rendering `items` needs beyond `feeds`, read once per page.
    async fn context(&self, items: &[Item], feeds: Feeds) -> Result<Context, ApiError> {
        let ids: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
        Ok(Context {
            states: self.store().item_states(&ids).await?,
            feeds,
            sagas: self.saga_labels().await?,
        })
    }

    /// Items as the dialect's JSON objects.
    async fn render(&self, items: &[Item], feeds: Feeds) -> Result<Vec<Value>, ApiError> {
        let ctx = self.context(items, feeds).await?;
        let view = ctx.view(self.app.feed_min_score);
        Ok(items.iter().map(|i| item_json(i, &view)).collect())
    }
}

struct Context {
    states: HashMap<i64, ItemState>,
    feeds: Feeds,
    sagas: Arc<SagaLabels>,
}

impl Context {
    fn view(&self, min_score: f32) -> View<'_> {
        View {
            feeds: &self.feeds,
            sagas: &self.sagas,
            states: &self.states,
            min_score,
        }
    }
}

/// What a client needs to show one item: its categories and its feed.
struct View<'a> {
    feeds: &'a Feeds,
    sagas: &'a SagaLabels,
    states: &'a HashMap<i64, ItemState>,
    min_score: f32,
}

impl View<'_> {
    /// The item's feed: the stream id a client files it under.
    fn feed(&self, i: &Item) -> String {
        i.feed.clone().unwrap_or_else(|| i.source.clone())
    }

    fn origin_title(&self, i: &Item) -> String {
        self.feeds
            .get(&self.feed(i))
            .map(|(t, _)| t.clone())
            .or_else(|| i.feed_title.clone())
            .unwrap_or_else(|| i.source.clone())
    }

    /// State and label stream ids. Unread items say `kept-unread`, so an
    /// item marked unread in agg becomes unread in a client that had read it.
    fn categories(&self, i: &Item) -> Vec<String> {
        let state = self.states.get(&i.id.unwrap_or(0));
        let mut cats = vec![READING_LIST.to_string()];
        if state.is_some_and(|s| s.read_at.is_some()) {
            cats.push(READ.into());
        } else {
            cats.push(KEPT_UNREAD.into());
        }
        if state.is_some_and(|s| s.saved_at.is_some()) {
            cats.push(STARRED.into());
        }
        if let Some((_, Some(folder))) = self.feeds.get(&self.feed(i)) {
            cats.push(label_id(folder));
        }
        if let Some(name) = i.saga.as_ref().and_then(|s| self.sagas.by_id.get(&s.id)) {
            cats.push(label_id(name));
        }
        if i.score.is_some_and(|s| s >= self.min_score) {
            cats.push(label_id(TOP_PICKS));
        }
        cats
    }

    /// The item's content as HTML: its sanitised HTML, else its text.
    fn content(i: &Item) -> String {
        i.html
            .clone()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| crate::feeds::esc(&i.text))
    }
}

fn item_id(i: &Item) -> String {
    format!("{ITEM_ID}{:016x}", i.id.unwrap_or(0) as u64)
}

fn item_json(i: &Item, view: &View) -> Value {
    let cats = view.categories(i);
    let feed = view.feed(i);
    let when = i.when();
    let links: Vec<Value> = i
        .url
        .iter()
        .map(|u| json!({"href": u, "type": "text/html"}))
        .collect();
    let content = View::content(i);
    let enclosures: Vec<Value> = i
        .enclosures
        .iter()
        .map(|e| {
            let mut v = json!({"href": e.url});
            if let Some(t) = &e.mime {
                v["type"] = json!(t);
            }
            v
        })
        .collect();
    let origin_title = view.origin_title(i);
    json!({
        "id": item_id(i),
        "crawlTimeMsec": i.fetched.timestamp_millis().to_string(),
        "timestampUsec": usec(when),
        "published": when.timestamp(),
        "updated": i.updated.unwrap_or(when).timestamp(),
        "title": i.title,
        "canonical": links,
        "alternate": links,
        "categories": cats,
        "origin": {"streamId": format!("feed/{feed}"), "title": origin_title, "htmlUrl": feed},
        "summary": {"direction": "ltr", "content": content},
        "author": i.author.clone().unwrap_or_default(),
        "enclosure": enclosures,
    })
}

/// A stream as Google Reader's Atom (`/reader/atom/STREAM`): what FeedHQ
/// clients (newsboat's `urls-source "feedhq"`) read. States and labels are
/// `<category>`s in Google's scheme, which is how such a client learns
/// what was read.
fn atom_xml(stream: &str, title: &str, items: &[Item], view: &View, cont: Option<&str>) -> String {
    use crate::feeds::esc;
    const SCHEME: &str = "http://www.google.com/reader/";
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xmlns:gr=\"http://www.google.com/schemas/reader/atom/\">\n",
    );
    let updated = items
        .iter()
        .map(|i| i.fetched)
        .max()
        .unwrap_or_else(Utc::now);
    x.push_str(&format!(
        "<id>tag:google.com,2005:reader/{}</id>\n<title>{}</title>\n<updated>{}</updated>\n",
        esc(stream),
        esc(title),
        updated.to_rfc3339()
    ));
    if let Some(c) = cont {
        x.push_str(&format!("<gr:continuation>{}</gr:continuation>\n", esc(c)));
    }
    for i in items {
        x.push_str(&format!(
            "<entry gr:crawl-timestamp-msec=\"{}\">\n<id>{}</id>\n",
            i.fetched.timestamp_millis(),
            item_id(i)
        ));
        for c in view.categories(i) {
            let label = c.rsplit('/').next().unwrap_or(&c);
            x.push_str(&format!(
                "<category term=\"{}\" scheme=\"{SCHEME}\" label=\"{}\"/>\n",
                esc(&c),
                esc(label)
            ));
        }
        let when = i.when().to_rfc3339();
        x.push_str(&format!(
            "<title type=\"text\">{}</title>\n<published>{when}</published>\n<updated>{}</updated>\n",
            esc(&i.title),
            i.updated.map_or(when.clone(), |u| u.to_rfc3339())
        ));
        if let Some(u) = crate::feeds::http_link(i) {
            x.push_str(&format!(
                "<link rel=\"alternate\" href=\"{}\" type=\"text/html\"/>\n",
                esc(u)
            ));
        }
        for e in &i.enclosures {
            x.push_str(&format!(
                "<link rel=\"enclosure\" href=\"{}\" type=\"{}\"/>\n",
                esc(&e.url),
                esc(e.mime.as_deref().unwrap_or(""))
            ));
        }
        x.push_str(&format!(
            "<summary type=\"html\">{}</summary>\n",
            esc(&View::content(i))
        ));
        if let Some(a) = i.author.as_deref().filter(|a| !a.trim().is_empty()) {
            x.push_str(&format!("<author><name>{}</name></author>\n", esc(a)));
        }
        let feed = view.feed(i);
        x.push_str(&format!(
            "<source gr:stream-id=\"feed/{0}\"><id>tag:google.com,2005:reader/feed/{0}</id><title>{1}</title></source>\n</entry>\n",
            esc(&feed),
            esc(&view.origin_title(i))
        ));
    }
    x.push_str("</feed>\n");
    x
}

async fn atom_stream(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(stream): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    api.authorize(&headers)?;
    let p = Params::query(&q);
    let feeds = api.feeds().await?;
    let (items, cont) = api.page(&stream, &p, MAX_ITEMS, &feeds).await?;
    let title = match stream.strip_prefix("feed/") {
        Some(url) => feeds
            .get(url)
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| url.to_string()),
        None => stream.rsplit('/').next().unwrap_or(&stream).to_string(),
    };
    let ctx = api.context(&items, feeds).await?;
    let xml = atom_xml(
        &stream,
        &title,
        &items,
        &ctx.view(api.app.feed_min_score),
        cont.as_deref(),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

async fn contents(api: Api, headers: HeaderMap, stream: &str, p: Params) -> ApiResult {
    api.authorize(&headers)?;
    let feeds = api.feeds().await?;
    let (items, cont) = api.page(stream, &p, MAX_ITEMS, &feeds).await?;
    let updated = items
        .iter()
        .map(|i| i.fetched)
        .max()
        .unwrap_or_else(Utc::now);
    let mut v = json!({
        "id": stream,
        "updated": updated.timestamp(),
        "items": api.render(&items, feeds).await?,
    });
    if let Some(c) = cont {
        v["continuation"] = json!(c);
    }
    Ok(json_response(&v))
}

async fn contents_path(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(stream): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    contents(api, headers, &stream, Params::query(&q)).await
}

async fn contents_query(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let p = Params::query(&q);
    let s = p.get("s").unwrap_or(READING_LIST).to_string();
    contents(api, headers, &s, p).await
}

async fn item_ids(State(api): State<Api>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    api.authorize(&headers)?;
    let p = Params::query(&q);
    let s = p.get("s").unwrap_or(READING_LIST).to_string();
    let (items, cont) = api.page(&s, &p, MAX_IDS, &api.feeds().await?).await?;
    let refs: Vec<Value> = items
        .iter()
        .filter_map(|i| {
            Some(json!({
                "id": i.id?.to_string(),
                "directStreamIds": [],
                "timestampUsec": usec(i.when()),
            }))
        })
        .collect();
    let mut v = json!({ "itemRefs": refs });
    if let Some(c) = cont {
        v["continuation"] = json!(c);
    }
    Ok(json_response(&v))
}

/// An item id in any of the dialect's forms: `tag:google.com,2005:reader/
/// item/` and 16 hex digits, or the short form (signed decimal).
fn parse_item_id(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix(ITEM_ID) {
        return u64::from_str_radix(h, 16).ok().map(|v| v as i64);
    }
    s.parse::<i64>().ok()
}

/// The named items (`i=`), each once, all stored: a malformed id is 400,
/// one of no stored item 404.
async fn named_items(api: &Api, p: &Params) -> Result<Vec<Item>, ApiError> {
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for raw in p.all("i") {
        let id = parse_item_id(raw)
            .ok_or_else(|| ApiError::BadRequest(format!("i={raw:?} is not an item id")))?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::BadRequest("no item named (i=…)".into()));
    }
    if ids.len() > MAX_NAMED {
        return Err(ApiError::BadRequest(format!(
            "{} items named; at most {MAX_NAMED} per request",
            ids.len()
        )));
    }
    let items = api.store().get_items(&ids).await?;
    let found: HashSet<i64> = items.iter().filter_map(|i| i.id).collect();
    if let Some(missing) = ids.iter().find(|i| !found.contains(i)) {
        return Err(ApiError::NotFound(format!("no such item: {missing}")));
    }
    // In the order asked.
    let mut by_id: HashMap<i64, Item> =
        items.into_iter().filter_map(|i| Some((i.id?, i))).collect();
    Ok(ids.iter().filter_map(|i| by_id.remove(i)).collect())
}

async fn items_contents(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    api.authorize(&headers)?;
    let p = Params::both(&q, &body);
    let items = named_items(&api, &p).await?;
    Ok(json_response(&json!({
        "id": READING_LIST,
        "updated": Utc::now().timestamp(),
        "items": api.render(&items, api.feeds().await?).await?,
    })))
}

/// `edit-tag`: `a=` adds, `r=` removes read or starred (`kept-unread`
/// added means unread); labels are agg's own and stay as they are.
async fn edit_tag(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = api.write_request(&headers, &q, &body)?;
    let ids: Vec<i64> = named_items(&api, &p)
        .await?
        .iter()
        .filter_map(|i| i.id)
        .collect();
    let mut marks = Vec::new();
    for a in p.all("a") {
        match a {
            READ => marks.push(ItemMark::Read),
            STARRED => marks.push(ItemMark::Save),
            KEPT_UNREAD => marks.push(ItemMark::Unread),
            _ => {}
        }
    }
    for r in p.all("r") {
        match r {
            READ => marks.push(ItemMark::Unread),
            STARRED => marks.push(ItemMark::Unsave),
            _ => {}
        }
    }
    let now = Utc::now();
    for m in marks {
        api.store().mark_items(&ids, m, now).await?;
    }
    Ok(text("OK"))
}

/// `mark-all-as-read`: every unread item of stream `s` first stored up to
/// `ts` (microseconds; default now) becomes read.
async fn mark_all_read(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = api.write_request(&headers, &q, &body)?;
    let s = p
        .get("s")
        .ok_or_else(|| ApiError::BadRequest("no stream named (s=…)".into()))?
        .to_string();
    let mut q = api.stream(&s, &api.feeds().await?)?;
    q.unread = true;
    q.limit = Some(MAX_ITEMS);
    if let Some(ts) = p.num("ts")? {
        q.fetched_until = Utc.timestamp_micros(ts.saturating_add(1)).single();
    }
    let now = Utc::now();
    // Each pass marks what the last one listed, so the next lists the rest;
    // the bound only guards against a store that does not keep the mark.
    for _ in 0..10_000 {
        let ids: Vec<i64> = api
            .store()
            .list_items(&q)
            .await?
            .iter()
            .filter_map(|i| i.id)
            .collect();
        if ids.is_empty() {
            break;
        }
        api.store().mark_items(&ids, ItemMark::Read, now).await?;
    }
    Ok(text("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_in_every_form() {
        assert_eq!(
            parse_item_id("tag:google.com,2005:reader/item/000000000000002a"),
            Some(42)
        );
        assert_eq!(parse_item_id("42"), Some(42));
        assert_eq!(parse_item_id("-1"), Some(-1));
        assert_eq!(parse_item_id("tag:google.com,2005:reader/item/xyz"), None);
        assert_eq!(parse_item_id("feed/1"), None);
    }

    #[test]
    fn repeated_parameters_are_kept() {
        let p = Params::parse(b"i=1&i=2&a=user%2F-%2Fstate%2Fcom.google%2Fread&T=x");
        assert_eq!(p.all("i").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(p.get("a"), Some(READ));
        assert!(p.num("n").unwrap().is_none());
        assert!(Params::parse(b"n=ten").num("n").is_err());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
