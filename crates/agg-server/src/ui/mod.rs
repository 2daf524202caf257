//! The web UI: small server-rendered pages (minijinja, no front-end build
//! step, no scripts). Everything is read-only except feedback and saga
//! controls, which are POST forms. An optional access token guards it.

use std::sync::Arc;

use agg_core::{ItemQuery, Pipeline};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};
use serde::Deserialize;

use crate::http::AppState;

const LAYOUT: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }} · agg</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem;color:#222}
nav{display:flex;gap:1rem;padding:.8rem 0;border-bottom:1px solid #ddd;margin-bottom:1rem}
nav a{color:#245;text-decoration:none;font-weight:600} table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
.meta{color:#666;font-size:.85rem} .score{font-variant-numeric:tabular-nums;font-weight:600}
form.inline{display:inline} button{cursor:pointer;border:1px solid #ccc;background:#fafafa;border-radius:4px;padding:.1rem .5rem}
.bad{color:#a22} .ok{color:#282} pre{background:#f6f6f6;padding:.6rem;overflow:auto}
</style></head><body><nav><a href="/">Items</a><a href="/ui/sagas">Sagas</a><a href="/ui/feeds">Feeds</a>
<a href="/ui/runs">Runs</a><a href="/ui/pipelines">Pipelines</a>
<form class="inline" action="/" method="get"><input name="q" value="{{ q }}" placeholder="search"></form></nav>
<h1>{{ title }}</h1>{% block body %}{% endblock %}</body></html>"#;

const ITEMS: &str = r#"{% extends "layout" %}{% block body %}
<table>{% for i in items %}<tr id="item-{{ i.id }}">
<td class="score">{% if i.score is not none %}{{ "%.2f"|format(i.score) }}{% endif %}</td>
<td>{% if i.url %}<a href="{{ i.url }}">{{ i.title }}</a>{% else %}{{ i.title }}{% endif %}
<div class="meta">{{ i.source }} · {{ i.when }}{% if i.saga %} · saga <a href="/ui/sagas/{{ i.saga.id }}">{{ i.saga.title }}</a>{% endif %}</div>
{% if i.reason %}<div class="meta">why: {{ i.reason }}</div>{% endif %}</td>
<td style="white-space:nowrap"><form class="inline" method="post" action="/ui/items/{{ i.id }}/like"><button name="like" title="more like this">👍 more</button></form>
<form class="inline" method="post" action="/ui/items/{{ i.id }}/dislike"><button name="dislike" title="less like this">👎 less</button></form>
{% if i.feedback %}<div class="meta ok">{{ i.feedback }}</div>{% endif %}</td></tr>
{% else %}<tr><td>Nothing stored yet: run a pipeline.</td></tr>{% endfor %}</table>{% endblock %}"#;

const SAGAS: &str = r#"{% extends "layout" %}{% block body %}
<p><a href="/sagas.xml">RSS of all saga updates</a></p><table>
{% for s in sagas %}<tr><td><a href="/ui/sagas/{{ s.id }}">{{ s.title }}</a>
<div class="meta">{{ s.status }} · {{ s.items }} items · {{ s.outlets }} outlets · {{ s.first }} – {{ s.last }}{% if s.followed %} · followed{% endif %}{% if s.muted %} · muted{% endif %}</div></td></tr>
{% else %}<tr><td>No sagas yet: add a <code>saga</code> agent to a pipeline.</td></tr>{% endfor %}</table>{% endblock %}"#;

const SAGA: &str = r#"{% extends "layout" %}{% block body %}
<p class="meta">{{ s.status }} · {{ s.items }} items from {{ s.outlets }} outlets · <a href="/sagas/{{ s.id }}.xml">RSS</a> · <a href="/sagas/{{ s.id }}.atom">Atom</a></p>
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.followed %}unfollow{% else %}follow{% endif %}"><button>{% if s.followed %}Unfollow{% else %}Follow{% endif %}</button></form>
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.muted %}unmute{% else %}mute{% endif %}"><button>{% if s.muted %}Unmute{% else %}Mute{% endif %}</button></form>
<table>{% for m in timeline %}<tr><td class="meta">{{ m.time }}</td><td>{{ m.source }}</td><td>{{ m.title }}</td></tr>{% endfor %}</table>{% endblock %}"#;

const TABLE: &str = r#"{% extends "layout" %}{% block body %}<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% else %}<tr><td>Nothing yet.</td></tr>{% endfor %}</table>{% endblock %}"#;

const PIPELINES: &str = r#"{% extends "layout" %}{% block body %}{% for p in pipelines %}<h2>{{ p.name }}</h2>
<p class="meta">{{ p.schedule }}</p><pre>{{ p.graph }}</pre><details><summary>Mermaid</summary><pre>{{ p.mermaid }}</pre></details>
{% endfor %}{% endblock %}"#;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in [
        ("layout", LAYOUT),
        ("items", ITEMS),
        ("sagas", SAGAS),
        ("saga", SAGA),
        ("table", TABLE),
        ("pipelines", PIPELINES),
    ] {
        env.add_template(name, src)
            .expect("shipped templates parse");
    }
    env
}

#[derive(Clone)]
pub struct UiState {
    pub app: AppState,
    pub pipelines: Arc<Vec<Pipeline>>,
    /// When set, every UI page needs `?token=` once (then a cookie).
    pub access_token: Option<String>,
    env: Arc<Environment<'static>>,
}

impl UiState {
    pub fn new(app: AppState, pipelines: Arc<Vec<Pipeline>>, access_token: Option<String>) -> Self {
        UiState {
            app,
            pipelines,
            access_token,
            env: Arc::new(env()),
        }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!("template {name}: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "template error\n").into_response()
            }
        }
    }
}

pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/", get(items_page))
        .route("/ui/items/{id}/{action}", post(item_feedback))
        .route("/ui/sagas", get(sagas_page))
        .route("/ui/sagas/{id}", get(saga_page))
        .route("/ui/sagas/{id}/{action}", post(saga_control))
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
}

/// The optional access token: given once as `?token=`, then kept in a
/// cookie (HttpOnly, SameSite=Strict, so other sites cannot use it to post
/// feedback).
async fn guard(
    State(st): State<UiState>,
    Query(q): Query<TokenQuery>,
    req: Request,
    next: Next,
) -> Response {
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
        if let Ok(v) = format!("agg_token={expected}; HttpOnly; SameSite=Strict; Path=/").parse() {
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
        .map(|i| {
            let fb = feedback.iter().rev().find(|f| Some(f.item_id) == i.id).map(|f| format!("you said: {}", f.kind));
            context! {
                id => i.id, title => i.title.clone(), url => crate::feeds::http_link(i),
                source => i.feed_title.clone().unwrap_or_else(|| i.source.clone()),
                when => i.when().format("%Y-%m-%d %H:%M").to_string(), score => i.score,
                reason => i.reasons.first().cloned(), saga => i.saga.as_ref().map(|g| context! { id => g.id, title => g.title.clone() }), feedback => fb,
            }
        })
        .collect();
    let title = if query.is_empty() {
        "Recent items".to_string()
    } else {
        format!("Items matching “{query}”")
    };
    st.render("items", context! { title, q => query, items => rows })
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
            let schedule = p.schedule.as_ref().map_or("no schedule".to_string(), |s| format!("{} ({}) in {}", s.expr, s.cron.describe(), p.timezone));
            context! { name => p.name.clone(), schedule, graph => render(p, GraphFormat::Text), mermaid => render(p, GraphFormat::Mermaid) }
        })
        .collect();
    st.render(
        "pipelines",
        context! { title => "Pipelines", q => "", pipelines => ps },
    )
}
