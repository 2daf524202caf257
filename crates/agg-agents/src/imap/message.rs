//! A mail as an item: its web version ("view online"), its text and HTML.

use super::*;
use agg_fetch::normalize::{collapse_ws, html_to_text, item_key};
use mail_parser::{MessageParser, MimeHeaders, PartType};

pub(super) const VIEW_ONLINE: &[&str] = &[
    "view in browser",
    "view in your browser",
    "view it in your browser",
    "view this email in",
    "view email in",
    "view online",
    "view this online",
    "read online",
    "read in browser",
    "read in your browser",
    "open in browser",
    "open in your browser",
    "web version",
    "view as a web page",
    "view as webpage",
    "view as web page",
];

pub(super) fn says_view_online(text: &str) -> bool {
    let t = collapse_ws(&text.to_lowercase());
    VIEW_ONLINE.iter().any(|p| t.contains(p))
}

pub(super) fn http_url(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let u = url::Url::parse(s).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// The mail's web version: `Archived-At` (RFC 5064), an http(s)
/// `List-Post`, else the first HTML link whose text says "view online / in
/// browser", else such a line in the plain text.
pub(super) fn view_link(
    msg: &mail_parser::Message,
    html: Option<&str>,
    plain: Option<&str>,
) -> Option<String> {
    for h in ["Archived-At", "List-Post"] {
        if let Some(raw) = msg.header_raw(h) {
            for part in raw.split(',') {
                if let Some(u) = http_url(part) {
                    return Some(u);
                }
            }
        }
    }
    if let Some(html) = html {
        // Parsed as a browser would: a link in a comment or a script is
        // none, and entities in `href` are decoded by the parser.
        static LINK: std::sync::LazyLock<scraper::Selector> = std::sync::LazyLock::new(|| {
            scraper::Selector::parse("a[href]").expect("link selector")
        });
        let doc = scraper::Html::parse_document(html);
        for a in doc.select(&LINK) {
            let text = a.text().collect::<Vec<_>>().join(" ");
            if says_view_online(&text)
                && let Some(u) = a.value().attr("href").and_then(http_url)
            {
                return Some(u);
            }
        }
    }
    if let Some(plain) = plain {
        // "View in browser: https://…" or the phrase on one line and the
        // URL on the next.
        let lines: Vec<&str> = plain.lines().take(400).collect();
        for (i, line) in lines.iter().enumerate() {
            if !says_view_online(line) {
                continue;
            }
            for l in lines.iter().skip(i).take(2) {
                if let Some(u) = l
                    .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                    .find_map(|w| w.starts_with("http").then(|| http_url(w)).flatten())
                {
                    return Some(u);
                }
            }
        }
    }
    None
}

/// Plain text made into simple HTML (paragraphs on blank lines), for mails
/// that have no HTML part.
pub(super) fn text_to_html(text: &str) -> String {
    let mut out = String::new();
    let text = text.replace("\r\n", "\n");
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        let lines: Vec<String> = para
            .lines()
            .map(|l| html_escape::encode_text(l.trim_end()).into_owned())
            .collect();
        out.push_str(&lines.join("<br>"));
        out.push_str("</p>");
    }
    out
}

/// Turns one raw mail into an item. An error means the bytes are not a
/// mail (no header agg can use); anything a mail has, however odd, is kept.
pub(super) fn mail_to_item(
    raw: &[u8],
    source: &str,
    fetched: chrono::DateTime<chrono::Utc>,
) -> Result<Item, String> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or("not a mail: no header could be parsed")?;
    let subject = msg.subject().map(collapse_ws).filter(|s| !s.is_empty());
    let from = msg.from().and_then(|a| a.first());
    let from_name = from
        .and_then(|a| a.name())
        .map(collapse_ws)
        .filter(|s| !s.is_empty());
    let from_addr = from
        .and_then(|a| a.address())
        .map(|s| s.trim().to_string())
        .filter(|s| s.contains('@'));
    let message_id = msg
        .message_id()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let date = msg
        .date()
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0));
    if subject.is_none() && from_addr.is_none() && message_id.is_none() && date.is_none() {
        return Err("not a mail: no Subject, From, Date or Message-ID header".into());
    }

    // Plain text: the text/plain parts when the mail has them (the sender's
    // own rendering), else text derived from the HTML.
    let mut plain_parts = Vec::new();
    let mut html_parts = Vec::new();
    for part in msg.text_bodies() {
        if let PartType::Text(t) = &part.body
            && !part.is_content_type("text", "calendar")
        {
            plain_parts.push(t.as_ref().to_string());
        }
    }
    for part in msg.html_bodies() {
        if let PartType::Html(h) = &part.body {
            html_parts.push(h.as_ref().to_string());
        }
    }
    let plain = (!plain_parts.is_empty()).then(|| plain_parts.join("\n\n"));
    let html_raw = (!html_parts.is_empty()).then(|| html_parts.join("\n"));
    let link = view_link(&msg, html_raw.as_deref(), plain.as_deref());
    let base = link.as_deref().and_then(|l| url::Url::parse(l).ok());
    let html = match (&html_raw, &plain) {
        (Some(h), _) => Some(agg_fetch::parse::sanitize_html(h, base.as_ref())),
        (None, Some(p)) => Some(text_to_html(p)),
        (None, None) => None,
    };
    let text = match (&plain, &html_raw) {
        (Some(p), _) => collapse_ws(p),
        (None, Some(h)) => html_to_text(h),
        (None, None) => String::new(),
    };
    let title = subject.unwrap_or_else(|| "(no subject)".into());
    let sender = from_name.clone().or_else(|| from_addr.clone());
    // Message-ID is the identity (it survives a mailbox renumbering); a mail
    // without one is known by what it says and who sent it when.
    let guid = message_id.unwrap_or_else(|| {
        format!(
            "no-message-id:{}|{}|{}",
            from_addr.as_deref().unwrap_or(""),
            date.map(|d| d.timestamp()).unwrap_or(0),
            title
        )
    });
    let mut tags = vec!["email".to_string()];
    if let Some(list) = msg.header_raw("List-Id") {
        let id = list
            .rsplit_once('<')
            .map(|(_, r)| r.trim_end().trim_end_matches('>'))
            .unwrap_or(list)
            .trim();
        if !id.is_empty() {
            tags.push(format!("list:{id}"));
        }
    }
    Ok(Item {
        key: item_key("imap", Some(&guid), None, &title, ""),
        source: source.to_string(),
        feed: from_addr.as_ref().map(|a| format!("mailto:{a}")),
        feed_title: sender.clone(),
        guid: Some(guid),
        url: link,
        title,
        text,
        html,
        author: sender,
        published: date,
        fetched,
        tags,
        ..Item::default()
    })
}
