//! Subscribing from the web UI (issue 19): the form on `/ui/feeds`, the
//! "subscribe to this site" bookmarklet on `/ui/feeds/subscribe` (it opens a
//! GET that only shows a confirmation: a prefetcher following it changes
//! nothing) and
//! unsubscribing. Changes are POSTs under the UI's rules (token, cross-site
//! POSTs refused). The URL comes from the browser, so every fetch passes the
//! SSRF guard of "add this URL" (`--allow-private` to reach your network).

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::UiState;

#[derive(Deserialize)]
pub struct SubForm {
    url: String,
    #[serde(default)]
    folder: String,
}

#[derive(Deserialize)]
pub struct UrlQuery {
    #[serde(default)]
    url: String,
}

/// Where this browser reached the server (the Host it sent), with the
/// public URL's scheme: what the bookmarklet must point at.
pub fn base_url(st: &UiState, headers: &axum::http::HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => {
            let scheme = st.app.public_url.split("://").next().unwrap_or("http");
            format!("{scheme}://{host}")
        }
        _ => st.app.public_url.clone(),
    }
}

/// A bookmarklet opening the subscribe confirmation for the current page.
pub fn bookmarklet(base: &str) -> String {
    format!(
        "javascript:void(location.href='{}/ui/feeds/subscribe?url='+encodeURIComponent(location.href))",
        base.trim_end_matches('/').replace('\'', "%27")
    )
}

/// GET: what the bookmarklet opens; asks before anything is fetched.
/// Without a URL: a form and the bookmarklet itself.
pub async fn confirm_page(
    State(st): State<UiState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<UrlQuery>,
) -> Response {
    let url = q.url.trim().to_string();
    if url.is_empty() {
        let bookmarklet = bookmarklet(&base_url(&st, &headers));
        return st.render(
            "subscribe_form",
            context! { title => "Subscribe", q => "", bookmarklet },
        );
    }
    if let Err(e) = super::add::check_url(&url) {
        return st.render_status(
            e.status(),
            "subscribe_result",
            context! { title => "Subscribe", q => "", url, error => e.to_string() },
        );
    }
    st.render(
        "subscribe_confirm",
        context! { title => "Subscribe to this site?", q => "", url },
    )
}

/// POST: find the feed, check it by one fetch, store the subscription.
pub async fn add(State(st): State<UiState>, axum::Form(f): axum::Form<SubForm>) -> Response {
    let url = f.url.trim().to_string();
    let fail = |status: StatusCode, error: String| {
        st.render_status(
            status,
            "subscribe_result",
            context! { title => "Subscribe", q => "", url => url.clone(), error },
        )
    };
    if let Err(e) = super::add::check_url(&url) {
        return fail(e.status(), e.to_string());
    }
    let adder = match st.adder.as_ref() {
        Ok(a) => a,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e.clone()),
    };
    use agg_app::subscriptions::{Error, Origin, subscribe};
    use agg_fetch::opml::ResolveError;
    match subscribe(
        st.app.store.as_ref(),
        adder.fetcher(),
        &url,
        &f.folder,
        Origin::Browser,
    )
    .await
    {
        Ok(sub) => st.render(
            "subscribe_result",
            context! { title => "Subscribed", q => "", url => sub.url, feed_title => sub.title },
        ),
        Err(Error::Already(feed)) => fail(
            StatusCode::CONFLICT,
            format!("Already subscribed to {feed}"),
        ),
        Err(Error::Resolve(e)) => {
            let status = match &e {
                ResolveError::Fetch {
                    source: agg_fetch::FetchError::Blocked(_),
                    ..
                } => StatusCode::FORBIDDEN,
                ResolveError::Fetch { .. } => StatusCode::BAD_GATEWAY,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            fail(status, format!("Not subscribed: {e}"))
        }
        Err(Error::Store(e)) => crate::http::server_error(e.0),
    }
}

/// POST: unsubscribe, then back to the feeds page.
pub async fn remove(State(st): State<UiState>, axum::Form(f): axum::Form<SubForm>) -> Response {
    match st.app.store.remove_subscription(f.url.trim()).await {
        Ok(true) => Redirect::to("/ui/feeds").into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            format!("not subscribed to {}\n", f.url.trim()),
        )
            .into_response(),
        Err(e) => crate::http::server_error(e),
    }
}
