//! Rendering a [`Selection`] into a subject, a plain-text part and an HTML
//! part (CSS inlined) with minijinja templates.
//!
//! The shipped templates (`templates/digest.html`, `digest.txt`,
//! `digest.css`, `subject.txt` in the repository) are compiled in; a
//! `templates:` folder overrides any of them by file name. HTML templates
//! auto-escape every value, and only http(s) URLs become links, so a feed
//! cannot inject markup or script into the email.

use std::path::{Path, PathBuf};

use agg_core::Item;
use chrono::{DateTime, Duration, Utc};
use minijinja::{Environment, Value};
use serde::Serialize;

use crate::select::{FeedProblem, SagaGroup, Selection, health_line, source_name};
use crate::token::{Action, Signer, Token};

/// The templates a digest is made of, and their shipped versions.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "digest.html",
        include_str!("../../../templates/digest.html"),
    ),
    ("digest.txt", include_str!("../../../templates/digest.txt")),
    ("digest.css", include_str!("../../../templates/digest.css")),
    (
        "subject.txt",
        include_str!("../../../templates/subject.txt"),
    ),
];

/// How to render.
#[derive(Clone, Debug)]
pub struct RenderConfig {
    /// Shown at the top and in the subject.
    pub title: String,
    pub pipeline: String,
    /// Folder whose files replace the shipped templates of the same name.
    pub templates: Option<PathBuf>,
    /// Where `agg serve` answers feedback links (no trailing slash needed).
    pub public_url: String,
    pub signer: Signer,
    /// How long feedback links stay valid.
    pub link_ttl: Duration,
    pub tz: chrono_tz::Tz,
}

/// A rendered digest.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    /// Final HTML, CSS inlined, no `<style>` or `<script>`.
    pub html: String,
    /// The List-Unsubscribe URL.
    /// `None` when the digest has no public URL (no link to point at).
    pub unsubscribe: Option<String>,
}

#[derive(Serialize)]
struct EntryView {
    id: Option<i64>,
    title: String,
    url: Option<String>,
    source: String,
    time: String,
    reason: Option<String>,
    also_in: Option<String>,
    saga: Option<String>,
    score: Option<u32>,
    like_url: Option<String>,
    dislike_url: Option<String>,
}

#[derive(Serialize)]
struct GroupView {
    id: u64,
    header: String,
    title: String,
    day: i64,
    since: String,
    new: usize,
    outlets: usize,
    followed: bool,
    muted: bool,
    follow_url: Option<String>,
    mute_url: Option<String>,
    items: Vec<EntryView>,
}

#[derive(Serialize)]
struct SourceView {
    source: String,
    items: Vec<EntryView>,
}

#[derive(Serialize)]
struct View<'a> {
    title: &'a str,
    pipeline: &'a str,
    date: String,
    date_short: String,
    /// News items (the archive section is not news).
    count: usize,
    held_back: usize,
    /// Archive items left out by the caps (mentioned, not offered again).
    archive_passed: usize,
    top: Vec<EntryView>,
    /// "Top stories" when the interest model leans towards any of them,
    /// else "New today": three items the model scores 26 are not top
    /// stories, they are simply all that is new.
    top_heading: &'static str,
    /// Items dated long before agg first saw them: last, and said so.
    archive: Vec<EntryView>,
    followed: Vec<GroupView>,
    sagas: Vec<GroupView>,
    sources: Vec<SourceView>,
    muted: Vec<GroupView>,
    health: &'a [FeedProblem],
    /// "56 feeds quiet, 1 failing": the digest's whole feed-health section.
    health_line: Option<String>,
    /// Where the feeds behind that line are listed (`agg serve`'s UI).
    health_url: Option<String>,
    unsubscribe_url: Option<String>,
    public_url: String,
}

/// A score from which the interest model leans towards the reader wanting
/// the item (scores are probabilities; below one half it leans away).
const TOP_SCORE: f32 = 0.5;

/// Only http(s) URLs are ever rendered as links: a feed can put
/// `javascript:` or `data:` in a link.
pub fn safe_url(url: Option<&str>) -> Option<String> {
    let u = url?.trim();
    let parsed = url::Url::parse(u).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

struct Ctx<'a> {
    cfg: &'a RenderConfig,
    expires: i64,
    base: String,
    /// The digest's local day: a date in another year shows its year.
    day: chrono::NaiveDate,
}

impl Ctx<'_> {
    /// A signed feedback link; `None` without a public URL, so the digest
    /// leaves the link out rather than pointing at a host that is not there.
    fn link(&self, action: Action, target: i64) -> Option<String> {
        if self.base.is_empty() {
            return None;
        }
        let t = self.cfg.signer.sign(&Token {
            action,
            target,
            expires: self.expires,
        });
        Some(format!("{}/f/{t}", self.base))
    }

    fn entry(&self, i: &Item, sel: &Selection, with_saga: bool) -> EntryView {
        // The feed's date, never the fetch time: an undated item says so.
        let local = i.dated().map(|d| d.with_timezone(&self.cfg.tz));
        let time = match &local {
            Some(d) => format!(
                "{}, {}",
                agg_core::item::day_label(Some(d), self.day),
                d.format("%H:%M")
            ),
            None => agg_core::item::day_label::<Utc>(None, self.day),
        };
        EntryView {
            id: i.id,
            title: one_line(&i.title, 300),
            url: safe_url(i.url.as_deref()),
            source: source_name(i).to_string(),
            time,
            reason: i.reasons.first().map(|r| one_line(r, 200)),
            also_in: (!i.also_in.is_empty())
                .then(|| format!("also covered by {}", i.also_in.join(", "))),
            // A story label only where there is a story: several new items.
            saga: with_saga
                .then_some(i.saga.as_ref())
                .flatten()
                .and_then(|s| sel.headers.get(&s.id))
                .filter(|h| h.new > 1)
                .map(|h| h.line()),
            score: i.score.map(|s| (s.clamp(0.0, 1.0) * 100.0).round() as u32),
            like_url: i.id.and_then(|id| self.link(Action::Like, id)),
            dislike_url: i.id.and_then(|id| self.link(Action::Dislike, id)),
        }
    }

    fn group(&self, g: &SagaGroup, sel: &Selection) -> GroupView {
        let id = g.saga.id as i64;
        GroupView {
            id: g.saga.id,
            header: g.saga.line(),
            title: g.saga.title.clone(),
            day: g.saga.day,
            since: g.saga.since.clone(),
            new: g.saga.new,
            outlets: g.saga.outlets,
            followed: g.saga.followed,
            muted: g.saga.muted,
            follow_url: (!g.saga.followed)
                .then(|| self.link(Action::Follow, id))
                .flatten(),
            mute_url: (!g.saga.muted)
                .then(|| self.link(Action::Mute, id))
                .flatten(),
            items: g.items.iter().map(|i| self.entry(i, sel, false)).collect(),
        }
    }
}

/// Collapses whitespace and bounds the length (titles are one line).
fn one_line(s: &str, max: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Loads the templates: shipped ones, replaced by files of the same name in
/// the override folder.
pub fn environment(dir: Option<&Path>) -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| anyhow::anyhow!("template syntax: {e}"))?,
    );
    for (name, shipped) in TEMPLATES {
        let source = match dir.map(|d| d.join(name)) {
            Some(p) if p.exists() => std::fs::read_to_string(&p)
                .map_err(|e| anyhow::anyhow!("cannot read template {}: {e}", p.display()))?,
            _ => (*shipped).to_string(),
        };
        env.add_template_owned(name.to_string(), source)
            .map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
    }
    Ok(env)
}

/// Renders the subject, text and HTML of a digest.
pub fn render(
    sel: &Selection,
    cfg: &RenderConfig,
    now: DateTime<Utc>,
    day: chrono::NaiveDate,
) -> anyhow::Result<Rendered> {
    let base = cfg.public_url.trim_end_matches('/').to_string();
    let ctx = Ctx {
        cfg,
        expires: (now + cfg.link_ttl).timestamp(),
        base,
        day,
    };
    let unsubscribe_url = ctx.link(Action::Unsubscribe, 0);
    let view = View {
        title: &cfg.title,
        pipeline: &cfg.pipeline,
        date: day.format("%A %-d %B %Y").to_string(),
        date_short: day.format("%a %-d %b").to_string(),
        count: sel.news_len(),
        archive: sel
            .archive
            .iter()
            .map(|i| ctx.entry(i, sel, false))
            .collect(),
        held_back: sel.held_back,
        archive_passed: sel.archive_passed.len(),
        top: sel.top.iter().map(|i| ctx.entry(i, sel, true)).collect(),
        top_heading: if sel
            .top
            .iter()
            .any(|i| i.score.is_some_and(|s| s >= TOP_SCORE))
        {
            "Top stories"
        } else {
            "New today"
        },
        followed: sel.followed.iter().map(|g| ctx.group(g, sel)).collect(),
        sagas: sel.sagas.iter().map(|g| ctx.group(g, sel)).collect(),
        sources: sel
            .sources
            .iter()
            .map(|g| SourceView {
                source: g.source.clone(),
                items: g.items.iter().map(|i| ctx.entry(i, sel, true)).collect(),
            })
            .collect(),
        muted: sel.muted.iter().map(|g| ctx.group(g, sel)).collect(),
        health: &sel.health,
        health_line: health_line(&sel.health),
        health_url: (!ctx.base.is_empty()).then(|| format!("{}/ui/feeds", ctx.base)),
        unsubscribe_url: unsubscribe_url.clone(),
        public_url: ctx.base.clone(),
    };
    let env = environment(cfg.templates.as_deref())?;
    let value = Value::from(minijinja::value::Serde(&view));
    let render = |name: &str| -> anyhow::Result<String> {
        env.get_template(name)
            .and_then(|t| t.render(value.clone()))
            .map_err(|e| anyhow::anyhow!("cannot render template {name}: {e:#}"))
    };
    let subject = one_line(&render("subject.txt")?, 200);
    let text = render("digest.txt")?;
    let raw_html = render("digest.html")?;
    let html = inline_css(&raw_html)?;
    Ok(Rendered {
        subject,
        text,
        html,
        unsubscribe: unsubscribe_url,
    })
}

/// Moves `<style>` rules onto the elements (mail clients drop `<style>`),
/// and refuses to emit anything that could run script.
pub fn inline_css(html: &str) -> anyhow::Result<String> {
    let inliner = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .keep_style_tags(false)
        .build();
    let out = inliner
        .inline(html)
        .map_err(|e| anyhow::anyhow!("cannot inline the digest's CSS: {e}"))?;
    if out.to_ascii_lowercase().contains("<script") {
        anyhow::bail!("a digest template produced a <script> element; refusing to send it");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::{SelectOptions, select};
    use agg_core::SagaRef;
    use chrono::TimeZone;
    use std::collections::{HashMap, HashSet};

    fn cfg() -> RenderConfig {
        RenderConfig {
            title: "Morning ☕ digest".into(),
            pipeline: "morning".into(),
            templates: None,
            public_url: "https://agg.example.org/".into(),
            signer: Signer::new(b"key".to_vec()),
            link_ttl: Duration::days(30),
            tz: chrono_tz::Europe::London,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
    }

    fn items() -> Vec<Item> {
        let evil = Item {
            id: Some(1),
            key: "a".into(),
            source: "tech".into(),
            feed_title: Some("Tech <b>News</b>".into()),
            title: "<script>alert('x')</script> \"quoted\" & <img src=x onerror=alert(1)>".into(),
            url: Some("javascript:alert(2)".into()),
            reasons: vec!["<i>you like</i> rust".into()],
            score: Some(0.9),
            fetched: now(),
            ..Item::default()
        };
        let good = Item {
            id: Some(2),
            key: "b".into(),
            source: "world".into(),
            title: "Port strike ends".into(),
            url: Some("https://news.example.com/strike?a=1&b=2".into()),
            reasons: vec!["close to \"economy\"".into()],
            score: Some(0.5),
            fetched: now(),
            saga: Some(SagaRef {
                id: 9,
                title: "Port strike".into(),
                followed: true,
                muted: false,
            }),
            ..Item::default()
        };
        vec![evil, good]
    }

    fn rendered() -> Rendered {
        rendered_with(&cfg())
    }

    fn rendered_with(c: &RenderConfig) -> Rendered {
        render(&select_today(items(), &[]), c, now(), now().date_naive()).unwrap()
    }

    #[test]
    fn markup_in_items_is_escaped_and_script_links_dropped() {
        let r = rendered();
        let lower = r.html.to_lowercase();
        assert!(!lower.contains("<script"), "{}", r.html);
        assert!(!lower.contains("<img"), "{}", r.html);
        assert!(!lower.contains("javascript:"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(!r.html.contains("<style"), "CSS is inlined");
        assert!(r.html.contains("style=\""), "CSS is inlined");
        // The text part keeps titles as written (it is not HTML).
        assert!(r.text.contains("<script>alert('x')</script>"));
        assert!(!r.text.contains("javascript:"));
    }

    #[test]
    fn links_are_signed_and_verify() {
        let r = rendered();
        let signer = Signer::new(b"key".to_vec());
        let mut found = Vec::new();
        for part in r.text.split_whitespace() {
            if let Some(tok) = part.strip_prefix("https://agg.example.org/f/") {
                found.push(signer.verify(tok, now().timestamp()).unwrap());
            }
        }
        let has = |a: Action, t: i64| found.iter().any(|x| x.action == a && x.target == t);
        assert!(has(Action::Like, 1) && has(Action::Dislike, 1));
        assert!(has(Action::Like, 2) && has(Action::Mute, 9));
        assert!(!has(Action::Follow, 9), "already followed");
        assert!(has(Action::Unsubscribe, 0));
        assert!(
            r.html
                .contains("https://news.example.com/strike?a=1&amp;b=2")
        );
        assert!(
            r.subject
                .starts_with("Morning ☕ digest · Thu 26 Nov · 2 new"),
            "{}",
            r.subject
        );
    }

    /// Without a public URL there is nothing a link could point at: the
    /// digest has none (no localhost guess), no List-Unsubscribe, and says
    /// how to get them.
    #[test]
    fn without_a_public_url_the_digest_has_no_links_and_says_why() {
        let mut c = cfg();
        c.public_url = String::new();
        let r = rendered_with(&c);
        assert_eq!(r.unsubscribe, None);
        for part in [&r.html, &r.text] {
            assert!(!part.contains("/f/"), "{part}");
            assert!(!part.contains("localhost"), "{part}");
            assert!(part.contains("public_url"), "{part}");
        }
        assert!(!r.html.contains("👍 More like this"), "{}", r.html);
        assert!(r.text.contains("Port strike ends"), "{}", r.text);
        // With one, every link is there.
        assert!(rendered().unsubscribe.is_some());
    }

    /// `items` selected for today's digest with the default options.
    fn select_today(items: Vec<Item>, feeds: &[agg_core::FeedState]) -> crate::select::Selection {
        select(
            items,
            &HashSet::new(),
            &HashMap::new(),
            feeds,
            &SelectOptions::default(),
            now(),
            now().date_naive(),
            chrono_tz::Europe::London,
        )
    }

    /// Items the interest model leans away from are what is new, not "top
    /// stories": the heading says which the section is.
    #[test]
    fn a_top_section_of_unwanted_items_is_headed_new_today() {
        let select_with = |score: f32| {
            let mut it = items();
            for i in &mut it {
                i.score = Some(score);
                i.saga = None;
            }
            select_today(it, &[])
        };
        let weak = render(&select_with(0.26), &cfg(), now(), now().date_naive()).unwrap();
        for part in [&weak.html, &weak.text] {
            let lower = part.to_lowercase();
            assert!(
                lower.contains("new today") && !lower.contains("top stories"),
                "{part}"
            );
        }
        let strong = render(&select_with(0.8), &cfg(), now(), now().date_naive()).unwrap();
        for part in [&strong.html, &strong.text] {
            assert!(part.to_lowercase().contains("top stories"), "{part}");
        }
    }

    #[test]
    fn followed_stories_lead_and_feed_health_is_one_linked_line() {
        let feeds: Vec<agg_core::FeedState> = (0..40)
            .map(|n| agg_core::FeedState {
                url: format!("https://quiet{n}.example/feed"),
                recent_items: vec![now() - Duration::days(10)],
                ..agg_core::FeedState::default()
            })
            .collect();
        let sel = select_today(items(), &feeds);
        let r = render(&sel, &cfg(), now(), now().date_naive()).unwrap();
        for part in [&r.html, &r.text] {
            let lower = part.to_lowercase();
            let follow = lower.find("stories you follow").expect(part);
            let top = lower.find("top stories").expect(part);
            assert!(follow < top, "{part}");
            assert!(part.contains("Feed health: 40 feeds quiet"), "{part}");
            assert!(part.contains("https://agg.example.org/ui/feeds"), "{part}");
            // One line, not forty: no feed is named.
            assert!(!part.contains("quiet7.example"), "{part}");
        }
        assert!(
            !r.html.contains("width=\"640\""),
            "fluid, not a fixed table"
        );
    }

    #[test]
    fn templates_can_be_overridden_by_file_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("subject.txt"), "Custom {{ count }}").unwrap();
        let mut c = cfg();
        c.templates = Some(d.path().to_path_buf());
        let sel = select(
            items(),
            &HashSet::new(),
            &HashMap::new(),
            &[],
            &SelectOptions::default(),
            now(),
            now().date_naive(),
            chrono_tz::UTC,
        );
        let r = render(&sel, &c, now(), now().date_naive()).unwrap();
        assert_eq!(r.subject, "Custom 2");
        assert!(r.html.contains("Port strike ends"), "others stay shipped");
        std::fs::write(d.path().join("digest.txt"), "{% if %}").unwrap();
        let e = render(&sel, &c, now(), now().date_naive()).unwrap_err();
        assert!(format!("{e:#}").contains("digest.txt"), "{e:#}");
    }
}
