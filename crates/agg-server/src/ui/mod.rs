//! The web UI: small server-rendered pages (minijinja, no front-end build
//! step, no scripts). Everything is read-only except feedback, saga
//! controls and "add this URL", which are POST forms. An optional access
//! token guards it.
//!
//! Pages: items with score, reasons and 👍/👎 (`/`), search by meaning
//! ([`search`]), sagas with timelines, the digest preview ([`digest`]),
//! feed health, run history, pipelines with their DAG drawn as SVG
//! ([`dag_svg`]), and adding a page by URL or bookmarklet ([`add`]).

use std::sync::Arc;

use agg_core::{ItemQuery, Pipeline};
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
pub mod search;
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
    searcher: Arc<search::Searcher>,
    /// Fetches pages for "add this URL" (or why it cannot).
    adder: Arc<Result<add::Adder, String>>,
}

impl UiState {
    pub fn new(app: AppState, pipelines: Arc<Vec<Pipeline>>, access_token: Option<String>) -> Self {
        UiState {
            searcher: Arc::new(search::Searcher::for_pipelines(&pipelines)),
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

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        self.render_status(StatusCode::OK, name, ctx)
    }

    fn render_status(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
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
        .route("/", get(items_page))
        .route("/ui/items/{id}/{action}", post(item_feedback))
        .route("/ui/search", get(search_page))
        .route("/ui/sagas", get(sagas_page))
        .route("/ui/sagas/{id}", get(saga_page))
        .route("/ui/sagas/{id}/{action}", post(saga_control))
        .route("/ui/digest", get(digest_page))
        .route("/ui/add", get(add_page).post(add_apply))
        .route("/ui/runs", get(runs_page))
        .route("/ui/feeds", get(feeds_page))
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

/// The template context of one item row.
fn item_row(
    i: &agg_core::Item,
    feedback: &[agg_core::FeedbackRow],
    matched: Option<String>,
) -> minijinja::Value {
    let fb = feedback
        .iter()
        .rev()
        .find(|f| Some(f.item_id) == i.id)
        .map(|f| format!("you said: {}", f.kind));
    context! {
        id => i.id, title => i.title.clone(), url => crate::feeds::http_link(i),
        source => match (&i.feed_title, i.source == add::SOURCE) {
            (Some(t), true) => format!("{} · {t}", add::SOURCE),
            (Some(t), false) => t.clone(),
            (None, _) => i.source.clone(),
        },
        when => i.when().format("%Y-%m-%d %H:%M").to_string(), score => i.score,
        reason => i.reasons.first().cloned(),
        saga => i.saga.as_ref().map(|g| context! { id => g.id, title => g.title.clone() }),
        feedback => fb, match => matched,
    }
}

/// Recent items; `?q=` filters them by words (the search page searches by
/// meaning).
async fn items_page(State(st): State<UiState>, Query(q): Query<TokenQuery>) -> Response {
    let query = q.q.clone().unwrap_or_default();
    let items = match st
        .app
        .store
        .list_items(&ItemQuery {
            limit: Some(if query.is_empty() { 100 } else { 2000 }),
            ..ItemQuery::default()
        })
        .await
    {
        Ok(i) => i,
        Err(e) => return crate::http::server_error(e),
    };
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    let rows: Vec<minijinja::Value> = items
        .iter()
        .filter(|i| query.is_empty() || crate::http::keyword_score(&query, i) > 0.0)
        .take(100)
        .map(|i| item_row(i, &feedback, None))
        .collect();
    let title = if query.is_empty() {
        "Recent items".to_string()
    } else {
        format!("Items matching “{query}”")
    };
    st.render("items", context! { title, q => query, items => rows })
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
    let results = match st.searcher.search(st.app.store.as_ref(), &query).await {
        Ok(r) => r,
        Err(e) => return crate::http::server_error(e),
    };
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    let rows: Vec<minijinja::Value> = results
        .found
        .iter()
        .map(|f| {
            let how = match f.similarity {
                Some(s) => format!("similarity {s:.2}"),
                None => format!("{:.0}% of the words", f.keyword_match * 100.0),
            };
            item_row(&f.item, &feedback, Some(how))
        })
        .collect();
    let how = if results.semantic {
        "best match by meaning first"
    } else {
        "keyword matches only"
    };
    st.render(
        "search",
        context! { title => format!("Search: “{query}”"), q => query, items => rows, how, note => results.note },
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
            st.render(
                "add_result",
                context! {
                    title => "Added", q => "", url, existed => a.existed, excerpt => a.excerpt,
                    items => vec![item_row(&a.item, &feedback, None)],
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

async fn item_feedback(
    State(st): State<UiState>,
    Path((id, action)): Path<(i64, String)>,
) -> Response {
    if action != "like" && action != "dislike" {
        return (StatusCode::NOT_FOUND, "unknown action\n").into_response();
    }
    match st.app.store.get_items(&[id]).await {
        Ok(v) if !v.is_empty() => {}
        Ok(_) => return (StatusCode::NOT_FOUND, "no such item\n").into_response(),
        Err(e) => return crate::http::server_error(e),
    }
    if let Err(e) = st.app.store.add_feedback(id, &action, "web").await {
        return crate::http::server_error(e);
    }
    Redirect::to(&format!("/#item-{id}")).into_response()
}

fn saga_row(s: &agg_saga::Saga) -> minijinja::Value {
    context! {
        id => s.id.0, title => s.title.clone(), status => format!("{:?}", s.status).to_lowercase(),
        items => s.item_count(), outlets => s.outlet_count(), followed => s.followed, muted => s.muted,
        first => s.first_seen.format("%Y-%m-%d").to_string(), last => s.last_seen.format("%Y-%m-%d").to_string(),
    }
}

async fn sagas_page(State(st): State<UiState>) -> Response {
    let engine = match agg_agents::saga::load_engine(st.app.store.as_ref()).await {
        Ok(e) => e,
        Err(e) => return crate::http::server_error(e),
    };
    let mut sagas: Vec<_> = engine.sagas().filter(|s| s.merged_into.is_none()).collect();
    sagas.sort_by_key(|s| (!s.followed, std::cmp::Reverse(s.last_seen)));
    let rows: Vec<_> = sagas.into_iter().take(200).map(saga_row).collect();
    st.render(
        "sagas",
        context! { title => "Sagas", q => "", sagas => rows },
    )
}

async fn saga_page(State(st): State<UiState>, Path(id): Path<u64>) -> Response {
    let engine = match agg_agents::saga::load_engine(st.app.store.as_ref()).await {
        Ok(e) => e,
        Err(e) => return crate::http::server_error(e),
    };
    let Some(s) = engine
        .resolve(agg_saga::SagaId(id))
        .and_then(|r| engine.saga(r))
    else {
        return (StatusCode::NOT_FOUND, "no such saga\n").into_response();
    };
    let timeline: Vec<_> = s
        .timeline()
        .into_iter()
        .map(|m| context! { time => m.time.format("%Y-%m-%d %H:%M").to_string(), source => m.source.clone(), title => m.title.clone() })
        .collect();
    st.render(
        "saga",
        context! { title => s.title.clone(), q => "", s => saga_row(s), timeline },
    )
}

async fn saga_control(
    State(st): State<UiState>,
    Path((id, action)): Path<(u64, String)>,
) -> Response {
    let result: anyhow::Result<()> = async {
        let lease = agg_agents::saga::lock_engine(st.app.store.as_ref()).await?;
        let changed: anyhow::Result<()> = async {
            let mut engine = agg_agents::saga::load_engine(st.app.store.as_ref()).await?;
            let id = agg_saga::SagaId(id);
            match action.as_str() {
                "follow" => engine.follow(id, true)?,
                "unfollow" => engine.follow(id, false)?,
                "mute" => engine.mute(id, true)?,
                "unmute" => engine.mute(id, false)?,
                _ => anyhow::bail!("unknown action"),
            }
            agg_agents::saga::save_engine(st.app.store.as_ref(), &mut engine).await
        }
        .await;
        lease.release().await?;
        changed
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/ui/sagas/{id}")).into_response(),
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
    st.render("table", context! { title => "Feeds", q => "", head => ["feed", "agent", "last success", "health", "items"], rows })
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
