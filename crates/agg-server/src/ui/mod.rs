//! The web UI: small server-rendered pages (minijinja, no front-end build
//! step, no scripts). Everything is read-only except feedback, saga
//! controls, "add this URL" and read/saved state, which are POST forms —
//! and opening an item's page, which marks it read. An optional access
//! token guards it.
//!
//! Pages: items ranked by score with their reasons, saga, outlets and 👍/👎
//! (`/`, paginated), one item with its content and enclosures
//! (`/ui/item/ID`; both in [`reading`], with saved items on `/ui/saved`),
//! search by meaning
//! (`agg_app::search`), sagas with timelines, the digest preview ([`digest`]),
//! feed health, run history, pipelines with their DAG drawn as SVG
//! ([`dag_svg`]), and adding a page by URL or bookmarklet ([`add`]).

use std::sync::Arc;

use agg_core::Pipeline;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};

pub mod add;
pub mod dag_svg;
pub mod digest;
pub mod reading;
pub mod subscribe;
mod templates;
use serde::Deserialize;

use crate::http::AppState;

#[derive(Clone)]
pub struct UiState {
    pub app: AppState,
    pub pipelines: Arc<Vec<Pipeline>>,
    /// When set, every UI page needs `?token=` once (then a cookie).
    pub access_token: Option<String>,
    env: Arc<Environment<'static>>,
    /// The search model, loaded on the first search and kept.
    searcher: Arc<agg_app::search::Searcher>,
    /// Fetches pages for "add this URL" (or why it cannot).
    adder: Arc<Result<add::Adder, String>>,
}

impl UiState {
    pub fn new(app: AppState, pipelines: Arc<Vec<Pipeline>>, access_token: Option<String>) -> Self {
        UiState {
            searcher: Arc::new(agg_app::search::Searcher::for_pipelines(&pipelines)),
            adder: Arc::new(add::Adder::new(&[])),
            app,
            pipelines,
            access_token,
            env: Arc::new(templates::environment()),
        }
    }

    /// Lets "add this URL" fetch from these non-public hosts, addresses or
    /// networks (CIDR); none by default. An entry that does not parse is an
    /// error here, at start-up, rather than on the first add.
    pub fn with_allow_private(mut self, allow: &[String]) -> Result<Self, String> {
        self.adder = Arc::new(Ok(add::Adder::new(allow)?));
        Ok(self)
    }

    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        self.render_status(StatusCode::OK, name, ctx)
    }

    pub(crate) fn render_status(
        &self,
        status: StatusCode,
        name: &str,
        ctx: minijinja::Value,
    ) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("template {name}: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "template error\n").into_response()
            }
        }
    }
}

pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/", get(reading::items_page))
        .route("/ui/item/{id}", get(reading::item_page))
        .route("/ui/items/{id}/{action}", post(item_feedback))
        .route("/ui/read", post(reading::mark_read))
        .route("/ui/saved", get(reading::saved_page))
        .route("/ui/search", get(search_page))
        .route("/ui/sagas", get(sagas_page))
        .route("/ui/sagas/{id}", get(saga_page))
        .route("/ui/sagas/{id}/{action}", post(saga_control))
        .route("/ui/sagas/{id}/unmerge/{from}", post(saga_unmerge))
        .route("/ui/digest", get(digest_page))
        .route("/ui/add", get(add_page).post(add_apply))
        .route("/ui/runs", get(runs_page))
        .route("/ui/feeds", get(feeds_page))
        .route("/ui/feeds/subscribe", get(subscribe::confirm_page))
        .route("/ui/feeds/add", post(subscribe::add))
        .route("/ui/feeds/remove", post(subscribe::remove))
        .route("/ui/pipelines", get(pipelines_page))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
    q: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct AddForm {
    url: String,
}

/// Refuses a state-changing request that a browser says comes from another
/// site (cross-site request forgery: any page the user visits could post a
/// form to `http://127.0.0.1:8080/…`). Browsers send `Sec-Fetch-Site` or
/// `Origin` with every POST; clients that send neither (curl, tests) are not
/// browsers being tricked and pass.
fn cross_site(req: &Request) -> bool {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return false;
    }
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (
        h.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        h.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .split_once("://")
                .map_or(origin, |(_, rest)| rest)
                .trim_end_matches('/');
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The optional access token: given once as `?token=`, then kept in a
/// cookie. HttpOnly; SameSite=Lax rather than Strict so that the "add this
/// URL" bookmarklet, a top-level GET from another site, still carries it —
/// cross-site POSTs never carry a Lax cookie, and [`cross_site`] refuses
/// them anyway, so other sites still cannot change anything.
async fn guard(
    State(st): State<UiState>,
    Query(q): Query<TokenQuery>,
    req: Request,
    next: Next,
) -> Response {
    if cross_site(&req) {
        return (
            StatusCode::FORBIDDEN,
            "refused: this change was requested by another web site\n",
        )
            .into_response();
    }
    let Some(expected) = &st.access_token else {
        return next.run(req).await;
    };
    let cookie_ok = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == format!("agg_token={expected}"));
    if cookie_ok {
        return next.run(req).await;
    }
    if q.token.as_deref() == Some(expected.as_str()) {
        let mut resp = next.run(req).await;
        if let Ok(v) = format!("agg_token={expected}; HttpOnly; SameSite=Lax; Path=/").parse() {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return resp;
    }
    (
        StatusCode::UNAUTHORIZED,
        "this agg needs its access token: open it once as /?token=…\n",
    )
        .into_response()
}

/// The template context of one item row (see [`reading::row`]).
fn item_row(
    i: &agg_core::Item,
    feedback: &[agg_core::FeedbackRow],
    states: &std::collections::HashMap<i64, agg_core::ItemState>,
    matched: Option<String>,
) -> minijinja::Value {
    reading::row(i, feedback, states, matched)
}

/// Search by meaning (keywords when the model is not installed, said so on
/// the page).
async fn search_page(State(st): State<UiState>, Query(q): Query<TokenQuery>) -> Response {
    let query = q.q.clone().unwrap_or_default().trim().to_string();
    if query.is_empty() {
        return st.render(
            "search",
            context! { title => "Search", q => "", items => Vec::<()>::new() },
        );
    }
    let req = agg_app::search::Request::new(&query);
    let results = match st.searcher.search(st.app.store.as_ref(), &req).await {
        Ok(r) => r,
        Err(e) => return crate::http::server_error(e.into()),
    };
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    let found: Vec<agg_core::Item> = results.hits.iter().map(|f| f.item.clone()).collect();
    let states = reading::states_of(st.app.store.as_ref(), &found).await;
    let rows: Vec<minijinja::Value> = results
        .hits
        .iter()
        .map(|f| {
            // The two things the order comes from, so that an item with
            // the query's words above a closer one in meaning reads as
            // what it is.
            let words = format!("{:.0}% of the words", f.keyword_match * 100.0);
            let how = match f.similarity {
                Some(s) if f.keyword_match > 0.0 => format!("similarity {s:.2} · {words}"),
                Some(s) => format!("similarity {s:.2}"),
                None => words,
            };
            item_row(&f.item, &feedback, &states, Some(how))
        })
        .collect();
    let (how, note) = match results.ranking {
        agg_app::search::Ranking::Meaning => (
            "best match by meaning first, items with the query's words raised",
            None,
        ),
        agg_app::search::Ranking::Words { why } => (
            "keyword matches only",
            Some(format!(
                "The sentence model is not available, so these are keyword matches only \
                 (items that share the query's words, not its meaning). \
                 Install it with scripts/setup-model.sh and restart agg serve. ({why})"
            )),
        ),
    };
    st.render(
        "search",
        context! { title => format!("Search: “{query}”"), q => query, items => rows, how, note },
    )
}

/// What each served pipeline's next digest would hold; nothing is sent or
/// recorded.
async fn digest_page(State(st): State<UiState>) -> Response {
    let previews = digest::previews(&st.pipelines, &st.app.store).await;
    st.render("digest", context! { title => "Digest preview", q => "", digests => minijinja::value::Serde(&previews) })
}

/// GET: without `url`, the form and the bookmarklet; with it (what the
/// bookmarklet opens), a confirmation. Nothing is fetched or stored.
async fn add_page(
    State(st): State<UiState>,
    Query(q): Query<TokenQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let url = q.url.unwrap_or_default().trim().to_string();
    if url.is_empty() {
        // The bookmarklet must point where this browser reached the server
        // (the Host it sent), which may differ from the bind address (a
        // port picked by the OS, a name in /etc/hosts); the scheme comes
        // from the public URL (a TLS proxy in front).
        let base = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) if !host.is_empty() => {
                let scheme = st.app.public_url.split("://").next().unwrap_or("http");
                format!("{scheme}://{host}")
            }
            _ => st.app.public_url.clone(),
        };
        return st.render(
            "add_form",
            context! { title => "Add a page", q => "", url => "", bookmarklet => add::bookmarklet(&base) },
        );
    }
    if let Err(e) = add::check_url(&url) {
        return st.render_status(
            e.status(),
            "add_result",
            context! { title => "Add a page", q => "", url, error => e.to_string() },
        );
    }
    st.render(
        "add_confirm",
        context! { title => "Add this page?", q => "", url },
    )
}

/// POST: fetch, extract, store, like.
async fn add_apply(State(st): State<UiState>, axum::Form(f): axum::Form<AddForm>) -> Response {
    let url = f.url.trim().to_string();
    let result = match st.adder.as_ref() {
        Ok(adder) => adder.add(st.app.store.as_ref(), &url, &st.searcher).await,
        Err(why) => Err(add::AddError::Fetch(why.clone())),
    };
    match result {
        Ok(a) => {
            let feedback = st.app.store.list_feedback().await.unwrap_or_default();
            let states =
                reading::states_of(st.app.store.as_ref(), std::slice::from_ref(&a.item)).await;
            st.render(
                "add_result",
                context! {
                    title => "Added", q => "", url, existed => a.existed, excerpt => a.excerpt,
                    items => vec![item_row(&a.item, &feedback, &states, None)],
                },
            )
        }
        Err(e) => {
            if matches!(e, add::AddError::Store(_)) {
                tracing::error!("add {url}: {e}");
            }
            st.render_status(
                e.status(),
                "add_result",
                context! { title => "Not added", q => "", url, error => e.to_string() },
            )
        }
    }
}

/// POST `/ui/items/ID/ACTION`: 👍/👎 (feedback, which trains the model),
/// or the star and read marks (state, which trains nothing).
async fn item_feedback(
    State(st): State<UiState>,
    Path((id, action)): Path<(i64, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    use agg_core::ItemMark;
    let kind = match action.as_str() {
        "like" => agg_app::feedback::Kind::Like,
        "dislike" => agg_app::feedback::Kind::Dislike,
        "save" => return reading::mark_item(&st, id, ItemMark::Save, &headers).await,
        "unsave" => return reading::mark_item(&st, id, ItemMark::Unsave, &headers).await,
        "read" => return reading::mark_item(&st, id, ItemMark::Read, &headers).await,
        "unread" => return reading::mark_item(&st, id, ItemMark::Unread, &headers).await,
        _ => return (StatusCode::NOT_FOUND, "unknown action\n").into_response(),
    };
    match agg_app::feedback::record(
        st.app.store.as_ref(),
        &[id],
        kind,
        agg_app::feedback::Via::Web,
    )
    .await
    {
        Ok(_) => {}
        Err(agg_app::feedback::Error::Unknown(_)) => {
            return (StatusCode::NOT_FOUND, "no such item\n").into_response();
        }
        Err(e) => return crate::http::server_error(e.into()),
    }
    Redirect::to(&format!("/#item-{id}")).into_response()
}

fn saga_row(s: &agg_saga::SagaListing) -> minijinja::Value {
    context! {
        id => s.id.0, title => s.title.clone(), status => format!("{:?}", s.status).to_lowercase(),
        items => s.item_count, outlets => s.outlet_count, followed => s.followed, muted => s.muted,
        first => s.first_seen.format("%Y-%m-%d").to_string(), last => s.last_seen.format("%Y-%m-%d").to_string(),
        // "since 20 Nov 2026, last 24 Nov": the span as a reader says it.
        range => s.date_range.clone(),
        outlet_names => s.outlet_names.clone(),
        merged => s.merges,
    }
}

/// The merges a saga went through, newest first, each with what came in,
/// when, whether agg made it, and on what evidence: a merge a person can
/// check, and undo (`POST /ui/sagas/ID/unmerge/FROM`).
fn merge_rows(s: &agg_saga::Saga) -> Vec<minijinja::Value> {
    s.merges
        .iter()
        .rev()
        .map(|m| {
            context! {
                from => m.from.0, title => m.from_title.clone(), items => m.items.len(),
                at => m.at.map(|t| t.format("%-d %b %Y").to_string()).unwrap_or_default(),
                auto => m.auto, evidence => format!("{:.2}", m.evidence),
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct SagasQuery {
    /// `1`: list one-item sagas too.
    all: Option<String>,
    /// Page number, from 1.
    page: Option<u64>,
}

/// Sagas a page of `/ui/sagas` lists.
const SAGAS_PER_PAGE: u64 = 300;

/// The list of sagas, a page at a time from the store's saga list (see
/// `agg_app::sagas::list_page` for the order): the engine is not loaded.
async fn sagas_page(State(st): State<UiState>, Query(q): Query<SagasQuery>) -> Response {
    let all = q.all.as_deref() == Some("1");
    let page = q.page.unwrap_or(1).max(1);
    let list = match agg_app::sagas::list_page(st.app.store.as_ref(), all, page - 1, SAGAS_PER_PAGE)
        .await
    {
        Ok(l) => l,
        Err(e) => return crate::http::server_error(e.into()),
    };
    let rows: Vec<_> = list
        .rows
        .iter()
        .map(|(g, s)| context! { group => g.heading(), ..saga_row(s) })
        .collect();
    let link = |p: u64| format!("/ui/sagas?page={p}{}", if all { "&all=1" } else { "" });
    let next = list.more.then(|| link(page + 1));
    let prev = (page > 1).then(|| link(page - 1));
    st.render(
        "sagas",
        context! { title => "Sagas", q => "", sagas => rows, single => list.single, all, next, prev },
    )
}

async fn saga_page(State(st): State<UiState>, Path(id): Path<u64>) -> Response {
    let s = match agg_app::sagas::read_one(st.app.store.as_ref(), id).await {
        Ok(Some(s)) => s,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such saga\n").into_response(),
        Err(e) => return crate::http::server_error(e.into()),
    };
    // The stored items of the saga, by key: each title links to its page.
    let ids: std::collections::HashMap<String, i64> = st
        .app
        .store
        .list_items(&agg_core::ItemQuery {
            saga: Some(s.id.0),
            limit: Some(1000),
            ..agg_core::ItemQuery::default()
        })
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.id.map(|id| (i.key, id)))
        .collect();
    let now = agg_core::clock::current();
    let timeline: Vec<_> = s
        .timeline()
        .into_iter()
        .map(|m| {
            context! {
                time => reading::when_label(Some(m.time), m.time, now),
                source => m.source.clone(), title => m.title.clone(),
                item => ids.get(&m.item_id).copied(),
            }
        })
        .collect();
    st.render(
        "saga",
        context! { title => s.title.clone(), q => "", s => saga_row(&s.listing()), timeline, merges => merge_rows(&s) },
    )
}

#[derive(Deserialize, Default)]
struct BackQuery {
    /// `list`: go back to `/ui/sagas` (the form was on the list).
    back: Option<String>,
}

async fn saga_control(
    State(st): State<UiState>,
    Path((id, action)): Path<(u64, String)>,
    Query(back): Query<BackQuery>,
) -> Response {
    use agg_app::sagas::Control;
    let control = match action.as_str() {
        "follow" => Control::Follow,
        "unfollow" => Control::Unfollow,
        "mute" => Control::Mute,
        "unmute" => Control::Unmute,
        _ => return (StatusCode::BAD_REQUEST, "unknown action\n").into_response(),
    };
    let result = agg_app::sagas::control(st.app.store.as_ref(), id, control).await;
    match result {
        Ok(_) if back.back.as_deref() == Some("list") => {
            Redirect::to(&format!("/ui/sagas#saga-{id}")).into_response()
        }
        Ok(_) => Redirect::to(&format!("/ui/sagas/{id}")).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// Undoes the merge of `from` into saga `id`: the items that came with it
/// form a saga again, kept apart from this one.
async fn saga_unmerge(State(st): State<UiState>, Path((id, from)): Path<(u64, u64)>) -> Response {
    let control = agg_app::sagas::Control::Unmerge { from };
    match agg_app::sagas::control(st.app.store.as_ref(), id, control).await {
        Ok(agg_app::sagas::Changed::NewSaga(n)) => {
            Redirect::to(&format!("/ui/sagas/{}", n.0)).into_response()
        }
        Ok(_) => Redirect::to(&format!("/ui/sagas/{id}")).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

async fn runs_page(State(st): State<UiState>) -> Response {
    let runs = match st.app.store.list_runs(50).await {
        Ok(r) => r,
        Err(e) => return crate::http::server_error(e),
    };
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let new: u64 = r.agents.iter().map(|a| a.items_new).sum();
            let errors: Vec<String> = r
                .agents
                .iter()
                .flat_map(|a| a.errors.iter().map(move |e| format!("{}: {e}", a.agent)))
                .collect();
            vec![
                r.id.to_string(),
                r.pipeline.clone(),
                r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.status.as_str().into(),
                new.to_string(),
                errors.join("; "),
            ]
        })
        .collect();
    st.render("table", context! { title => "Runs", q => "", head => ["run", "pipeline", "started", "status", "new items", "errors"], rows })
}

async fn feeds_page(State(st): State<UiState>) -> Response {
    let feeds = match st.app.store.list_feeds().await {
        Ok(f) => f,
        Err(e) => return crate::http::server_error(e),
    };
    let rows: Vec<Vec<String>> = feeds
        .iter()
        .map(|f| {
            let health = if f.paused {
                format!("paused: {}", f.pause_reason.clone().unwrap_or_default())
            } else if f.consecutive_failures > 0 {
                format!(
                    "failing ×{}: {}",
                    f.consecutive_failures,
                    f.last_error.clone().unwrap_or_default()
                )
            } else {
                "ok".into()
            };
            let last = f
                .last_success
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "never".into());
            vec![
                f.title.clone().unwrap_or_else(|| f.url.clone()),
                f.agent.clone().unwrap_or_default(),
                last,
                health,
                f.items_total.to_string(),
            ]
        })
        .collect();
    let subs = match st.app.store.list_subscriptions(None).await {
        Ok(s) => s,
        Err(e) => return crate::http::server_error(e),
    };
    let subs: Vec<_> = subs
        .iter()
        .map(|s| context! { url => s.url.clone(), title => s.title.clone().unwrap_or_default(), folder => s.folder.clone() })
        .collect();
    st.render("feeds", context! { title => "Feeds", q => "", head => ["feed", "agent", "last success", "health", "items"], rows, subs })
}

async fn pipelines_page(State(st): State<UiState>) -> Response {
    use agg_core::dag::{GraphFormat, render};
    let ps: Vec<_> = st
        .pipelines
        .iter()
        .map(|p| {
            let schedule = p.schedule.as_ref().map_or("no schedule".to_string(), |s| {
                format!("{} ({}) in {}", s.expr, s.cron.describe(), p.timezone)
            });
            context! {
                name => p.name.clone(), schedule, svg => dag_svg::pipeline_svg(p),
                graph => render(p, GraphFormat::Text), mermaid => render(p, GraphFormat::Mermaid),
            }
        })
        .collect();
    st.render(
        "pipelines",
        context! { title => "Pipelines", q => "", pipelines => ps },
    )
}
