//! The UI's minijinja templates, compiled into the binary (a server that
//! runs unattended should not depend on files beside it).
//!
//! Every template is rendered with HTML auto-escaping on (see
//! [`environment`]): item titles, reasons and feed names come from the
//! outside world. The only values marked safe are the DAG SVG, which
//! `dag_svg` builds with every text escaped.

use minijinja::{AutoEscape, Environment};

const LAYOUT: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }} · agg</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem;color:#222}
nav{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.8rem 0;border-bottom:1px solid #ddd;margin-bottom:1rem}
nav a{color:#245;text-decoration:none;font-weight:600} table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
.meta{color:#666;font-size:.85rem} .score{font-variant-numeric:tabular-nums;font-weight:600}
form.inline{display:inline} button{cursor:pointer;border:1px solid #ccc;background:#fafafa;border-radius:4px;padding:.1rem .5rem}
.bad{color:#a22} .ok{color:#282} pre{background:#f6f6f6;padding:.6rem;overflow:auto}
.note{background:#fff7e0;border:1px solid #e8d38a;border-radius:4px;padding:.5rem .8rem}
.error{background:#fde8e8;border:1px solid #e0a0a0;border-radius:4px;padding:.5rem .8rem}
.dagbox{overflow:auto;border:1px solid #eee;border-radius:6px;padding:.3rem;background:#fcfcfc}
.legend span{display:inline-block;padding:0 .5rem;margin-right:.4rem;border-radius:4px;font-size:.8rem;border:1px solid}
iframe.digest{width:100%;height:70vh;border:1px solid #ddd;border-radius:6px}
input[type=url],input[type=search]{width:100%;max-width:40rem;padding:.35rem;font:inherit}
a.bookmarklet{display:inline-block;padding:.3rem .8rem;border:1px dashed #245;border-radius:4px;background:#eef3fb}
td{overflow-wrap:anywhere} td.score{width:3rem;white-space:nowrap;overflow-wrap:normal} a.title{font-weight:600;color:#123;text-decoration:none}
.why{color:#2a6a3a} .fb{margin-top:.3rem} .pager{margin:1rem 0;font-weight:600}
.content{max-width:42rem;overflow-wrap:anywhere} .content img,.content video,.content iframe,.content table{max-width:100%;height:auto}
audio,video{max-width:100%} .timeline li{margin:.3rem 0} nav form{flex:1 1 12rem}
tr.read td{opacity:.55} tr.read a.title{font-weight:400} button.star{color:#a60}
</style></head><body><nav><a href="/">Items</a><a href="/ui/saved">Saved</a><a href="/ui/sagas">Sagas</a><a href="/ui/digest">Digest</a>
<a href="/ui/feeds">Feeds</a><a href="/ui/runs">Runs</a><a href="/ui/pipelines">Pipelines</a><a href="/ui/add">Add URL</a>
<form class="inline" action="/ui/search" method="get"><input type="search" name="q" value="{{ q }}" placeholder="search by meaning" aria-label="search"></form></nav>
<h1>{{ title }}</h1>{% block body %}{% endblock %}</body></html>"#;

/// One item row with its 👍/👎 forms (items page and search results): the
/// title opens the item page, its score, every reason, its saga (linked)
/// and the outlets a folded duplicate came from ("also in"). Read rows are
/// dimmed; the star saves (a POST, like 👍/👎, but it trains nothing).
const ITEM_ROW: &str = r#"<tr id="item-{{ i.id }}" class="item{% if i.read %} read{% endif %}{% if i.saved %} saved{% endif %}">
<td class="score">{% if i.score is not none %}{{ "%.2f"|format(i.score) }}{% endif %}</td>
<td><a class="title" href="/ui/item/{{ i.id }}">{{ i.title }}</a>
<div class="meta">{% if i.url %}<a href="{{ i.url }}" title="the original">{{ i.source }} ↗</a>{% else %}{{ i.source }}{% endif %} · {{ i.when }}{% if i.saga %} · saga <a href="/ui/sagas/{{ i.saga.id }}">{{ i.saga.title }}</a>{% endif %}{% if i.match %} · {{ i.match }}{% endif %}</div>
{% if i.also_in %}<div class="meta also">also in {{ i.also_in|join(", ") }}</div>{% endif %}
{% for r in i.reasons %}<div class="meta why">why: {{ r }}</div>{% endfor %}
<div class="fb"><form class="inline" method="post" action="/ui/items/{{ i.id }}/like"><button name="like" title="more like this">👍 more</button></form>
<form class="inline" method="post" action="/ui/items/{{ i.id }}/dislike"><button name="dislike" title="less like this">👎 less</button></form>
{% if i.saved %}<form class="inline" method="post" action="/ui/items/{{ i.id }}/unsave"><button class="star" name="unsave" title="remove from saved">★ saved</button></form>{% else %}<form class="inline" method="post" action="/ui/items/{{ i.id }}/save"><button class="star" name="save" title="keep it on the saved page">☆ save</button></form>{% endif %}
{% if i.read %}<form class="inline" method="post" action="/ui/items/{{ i.id }}/unread"><button name="unread" title="show it as new again">mark unread</button></form>{% endif %}
{% if i.feedback %}<span class="meta ok">{{ i.feedback }}</span>{% endif %}</div></td></tr>"#;

const ITEMS: &str = r#"{% extends "layout" %}{% block body %}
<p class="meta">{{ total }} item{% if total != 1 %}s{% endif %} · page {{ page }} of {{ pages }} ·
{% if newest %}<a href="{{ best_link }}">best first</a> · newest first{% else %}best first · <a href="{{ newest_link }}">newest first</a>{% endif %} ·
{% if unread %}<a id="unread-filter" href="{{ unread_link }}">show read items too</a>{% else %}<a id="unread-filter" href="{{ unread_link }}">unread only</a>{% endif %}</p>
<table class="items">{% for i in items %}{% include "item_row" %}
{% else %}<tr><td>{% if unread %}Nothing unread.{% else %}Nothing stored yet: run a pipeline.{% endif %}</td></tr>{% endfor %}</table>
{% if shown %}<form method="post" action="/ui/read" id="mark-read"><input type="hidden" name="ids" value="{{ shown }}"><button>Mark all above as read</button></form>{% endif %}
<p class="pager">{% if prev %}<a rel="prev" href="{{ prev }}">← newer page</a>{% endif %}{% if prev and next %} · {% endif %}{% if next %}<a rel="next" href="{{ next }}">next page →</a>{% endif %}</p>{% endblock %}"#;

/// One item: what the feed said (sanitised), its enclosures as players,
/// its saga's timeline, and feedback.
const ITEM: &str = r#"{% extends "layout" %}{% block body %}
<table class="items">{% include "item_row" %}</table>
{% for e in enclosures %}<p class="enclosure">{% if e.kind == "audio" %}<audio controls preload="none" src="{{ e.url }}"></audio>{% elif e.kind == "video" %}<video controls preload="none" src="{{ e.url }}"></video>{% endif %}
<a class="meta" href="{{ e.url }}">{{ e.mime or "enclosure" }}</a></p>{% endfor %}
<article class="content">{% if content %}{{ content|safe }}{% else %}<p>{{ text }}</p>{% endif %}</article>
{% if i.url %}<p><a href="{{ i.url }}">Read it at {{ i.source }} ↗</a></p>{% endif %}
{% if timeline %}<h2>The story so far{% if i.saga %}: <a href="/ui/sagas/{{ i.saga.id }}">{{ i.saga.title }}</a>{% endif %}</h2>
<ol class="timeline">{% for m in timeline %}<li>{% if m.current %}<strong>{{ m.title }}</strong>{% else %}<a href="/ui/item/{{ m.id }}">{{ m.title }}</a>{% endif %} <span class="meta">{{ m.source }} · {{ m.when }}</span></li>{% endfor %}</ol>{% endif %}
{% endblock %}"#;

/// Saved items, most recently saved first, and their feed.
const SAVED: &str = r#"{% extends "layout" %}{% block body %}
<p class="meta">{{ items|length }} saved item{% if items|length != 1 %}s{% endif %}, most recently saved first · <a href="/saved.xml">RSS of saved items</a></p>
<table class="items">{% for i in items %}{% include "item_row" %}
{% else %}<tr><td>Nothing saved yet: ☆ on any item saves it here.</td></tr>{% endfor %}</table>{% endblock %}"#;

const SEARCH: &str = r#"{% extends "layout" %}{% block body %}
{% if note %}<p class="note" id="search-note">{{ note }}</p>{% endif %}
{% if q %}<p class="meta">{{ items|length }} result{% if items|length != 1 %}s{% endif %}, {{ how }}{% if items %}; <span id="score-note">the number beside each is its interest score (how much you would want it), not how well it matches</span>{% endif %}.</p>
<table>{% for i in items %}{% include "item_row" %}
{% else %}<tr><td>Nothing matches.</td></tr>{% endfor %}</table>
{% else %}<form action="/ui/search" method="get"><p><input type="search" name="q" placeholder="what was that story about…" autofocus> <button>Search</button></p></form>
<p class="meta">Search finds items by meaning (the interest model's sentence embeddings), and exact names by their words.</p>{% endif %}
{% endblock %}"#;

/// Followed stories first, then active ones several outlets cover, then
/// the rest; one-item stories behind a link; follow/mute on every row.
const SAGAS: &str = r#"{% extends "layout" %}{% block body %}
<p><a href="/sagas.xml">RSS of all saga updates</a>{% if single %} · {% if all %}<a href="/ui/sagas">hide the {{ single }} one-item stories</a>{% else %}<a href="/ui/sagas?all=1">show {{ single }} one-item stories</a>{% endif %}{% endif %}</p>
{% for s in sagas %}{% if loop.first or s.group != loop.previtem.group %}{% if not loop.first %}</table>{% endif %}<h2>{{ s.group }}</h2><table class="sagas">{% endif %}
<tr id="saga-{{ s.id }}"><td><a class="title" href="/ui/sagas/{{ s.id }}">{{ s.title }}</a>
<div class="meta">{{ s.range }} · {{ s.items }} item{% if s.items != 1 %}s{% endif %} · {{ s.outlets }} outlet{% if s.outlets != 1 %}s{% endif %}{% if s.outlet_names %}: {{ s.outlet_names|join(", ") }}{% endif %}{% if s.status != "active" %} · {{ s.status }}{% endif %}{% if s.muted %} · muted{% endif %}{% if s.merged %} · merged with {{ s.merged }} other{% if s.merged != 1 %}s{% endif %}{% endif %}</div>
<div class="fb"><form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.followed %}unfollow{% else %}follow{% endif %}?back=list"><button>{% if s.followed %}Unfollow{% else %}Follow{% endif %}</button></form>
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.muted %}unmute{% else %}mute{% endif %}?back=list"><button>{% if s.muted %}Unmute{% else %}Mute{% endif %}</button></form></div></td></tr>
{% if loop.last %}</table>{% endif %}{% else %}<p>No sagas yet: add a <code>saga</code> agent to a pipeline{% if single %}, or <a href="/ui/sagas?all=1">show the one-item stories</a>{% endif %}.</p>{% endfor %}
{% if prev or next %}<p class="pager">{% if prev %}<a rel="prev" href="{{ prev }}">← previous page</a>{% endif %}{% if prev and next %} · {% endif %}{% if next %}<a rel="next" href="{{ next }}">next page →</a>{% endif %}</p>{% endif %}{% endblock %}"#;

const SAGA: &str = r#"{% extends "layout" %}{% block body %}
<p class="meta">{{ s.range }} · {{ s.status }} · {{ s.items }} item{% if s.items != 1 %}s{% endif %} from {{ s.outlets }} outlet{% if s.outlets != 1 %}s{% endif %}{% if s.outlet_names %} ({{ s.outlet_names|join(", ") }}){% endif %} · <a href="/sagas/{{ s.id }}.xml">RSS</a> · <a href="/sagas/{{ s.id }}.atom">Atom</a></p>
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.followed %}unfollow{% else %}follow{% endif %}"><button>{% if s.followed %}Unfollow{% else %}Follow{% endif %}</button></form>
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/{% if s.muted %}unmute{% else %}mute{% endif %}"><button>{% if s.muted %}Unmute{% else %}Mute{% endif %}</button></form>
<table class="timeline">{% for m in timeline %}<tr><td class="meta">{{ m.time }}</td><td>{{ m.source }}</td><td>{% if m.item %}<a href="/ui/item/{{ m.item }}">{{ m.title }}</a>{% else %}{{ m.title }}{% endif %}</td></tr>{% endfor %}</table>
{% if merges %}<h2>Merged into this story</h2><ul class="merges">{% for m in merges %}<li>“{{ m.title }}” ({{ m.items }} item{% if m.items != 1 %}s{% endif %}){% if m.at %}, {{ m.at }}{% endif %}, {% if m.auto %}automatically (similarity {{ m.evidence }}){% else %}by you{% endif %}
<form class="inline" method="post" action="/ui/sagas/{{ s.id }}/unmerge/{{ m.from }}"><button>Undo</button></form></li>{% endfor %}</ul>{% endif %}{% endblock %}"#;

const TABLE: &str = r#"{% extends "layout" %}{% block body %}<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% else %}<tr><td>Nothing yet.</td></tr>{% endfor %}</table>{% endblock %}"#;

const FEEDS: &str = r#"{% extends "layout" %}{% block body %}
<h2>Subscriptions</h2>
<form method="post" action="/ui/feeds/add" id="subscribe"><p><label>Feed or site <input type="url" name="url" required placeholder="https://…"></label>
<label>Folder <input type="text" name="folder" placeholder="(none)"></label> <button>Subscribe</button></p></form>
<p>To subscribe from any site you read, <a href="/ui/feeds/subscribe">get the bookmarklet</a>.</p>
<table id="subscriptions"><tr><th>folder</th><th>feed</th><th></th></tr>
{% for s in subs %}<tr><td>{{ s.folder }}</td><td>{% if s.title %}{{ s.title }}<div class="meta">{{ s.url }}</div>{% else %}{{ s.url }}{% endif %}</td>
<td><form class="inline" method="post" action="/ui/feeds/remove"><input type="hidden" name="url" value="{{ s.url }}"><button>Unsubscribe</button></form></td></tr>
{% else %}<tr><td colspan="3">No subscriptions in the store: a <code>subscriptions</code> source fetches what you add here.</td></tr>{% endfor %}</table>
<h2>Health</h2>
<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% else %}<tr><td>Nothing fetched yet.</td></tr>{% endfor %}</table>{% endblock %}"#;

/// The bookmarklet lives on a page of its own: pages that show feed content
/// carry no `javascript:` URL at all (the sanitiser test checks them).
const SUBSCRIBE_FORM: &str = r#"{% extends "layout" %}{% block body %}
<form action="/ui/feeds/subscribe" method="get"><p><label>Site or feed <input type="url" name="url" required placeholder="https://…"></label> <button>Next</button></p></form>
<p>Or drag this link to your bookmarks bar and click it on a site you want to follow:
<a class="bookmarklet" href="{{ bookmarklet }}">+ subscribe (agg)</a></p>
<p class="meta">It opens this server's confirmation for the page you are on; nothing is fetched until you press Subscribe.</p>
{% endblock %}"#;

const SUBSCRIBE_CONFIRM: &str = r#"{% extends "layout" %}{% block body %}
<p>Subscribe to the feed of this page?</p>
<p><code class="url">{{ url }}</code></p>
<form method="post" action="/ui/feeds/add"><input type="hidden" name="url" value="{{ url }}">
<label>Folder <input type="text" name="folder" placeholder="(none)"></label> <button type="submit">Subscribe</button></form>
{% endblock %}"#;

const SUBSCRIBE_RESULT: &str = r#"{% extends "layout" %}{% block body %}
{% if error %}<p class="error" id="subscribe-error">{{ error }}</p>{% else %}<p class="ok" id="subscribe-ok">Subscribed to {{ url }}{% if feed_title %} ({{ feed_title }}){% endif %}.</p>{% endif %}
<p><a href="/ui/feeds">Back to feeds</a></p>
{% endblock %}"#;

const PIPELINES: &str = r#"{% extends "layout" %}{% block body %}
<p class="legend"><span style="background:#e3f4e1;border-color:#3d8b37">source</span><span style="background:#e2ecfa;border-color:#3b6bb5">transform</span><span style="background:#fdf0d9;border-color:#b7791f">sink</span></p>
{% for p in pipelines %}<h2 id="pipeline-{{ p.name }}">{{ p.name }}</h2>
<p class="meta">{{ p.schedule }}</p><div class="dagbox">{{ p.svg|safe }}</div>
<details><summary>As text</summary><pre>{{ p.graph }}</pre></details><details><summary>Mermaid source</summary><pre>{{ p.mermaid }}</pre></details>
{% endfor %}{% endblock %}"#;

/// The rendered email first, then whether today's went out, then what the
/// next one would hold (the list, folded). The preview frame may share the
/// page's origin because it may not run scripts (no `allow-scripts`): with an
/// opaque origin Chromium paints it out of process, and headless screenshots
/// of the page showed an empty frame.
const DIGEST: &str = r#"{% extends "layout" %}{% block body %}
{% for d in digests %}<section class="digest" id="digest-{{ d.pipeline }}-{{ d.agent }}"><h2>{{ d.pipeline }} · {{ d.agent }}</h2>
{% if d.error %}<p class="error">{{ d.error }}</p>{% else %}
{% if d.sent %}<p class="sent"><b>{{ d.sent }}</b></p>{% endif %}
<p>Next digest{% if d.subject %}: <b>{{ d.subject }}</b>{% endif %} · {{ d.count }} item{% if d.count != 1 %}s{% endif %} · to {{ d.to }}</p>
{% if d.note %}<p class="note">{{ d.note }}</p>{% endif %}
{% if d.html %}<iframe class="digest" title="digest preview" sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox" srcdoc="{{ d.html }}"></iframe>{% else %}<p>Nothing new for the next digest.</p>{% endif %}
{% if d.summary %}<details><summary>Contents as a list</summary><pre class="summary">{% for l in d.summary %}{{ l }}
{% endfor %}</pre></details>{% endif %}
{% endif %}</section>
{% else %}<p>No pipeline served here has an <code>email_digest</code> agent.</p>{% endfor %}
<p class="meta">The preview is what the next digest would contain if it were sent now: nothing is sent and nothing is marked sent.</p>{% endblock %}"#;

const ADD_FORM: &str = r#"{% extends "layout" %}{% block body %}
<form action="/ui/add" method="get"><p><label>Page to add <input type="url" name="url" required placeholder="https://…" value="{{ url }}"></label> <button>Next</button></p></form>
<p>Or drag this link to your bookmarks bar, and click it on any page you are reading:
<a class="bookmarklet" href="{{ bookmarklet }}">+ agg</a></p>
<p class="meta">A page you add is fetched, its article extracted and stored, and counted as a 👍: the interest model learns from it on the next run.</p>
{% endblock %}"#;

const ADD_CONFIRM: &str = r#"{% extends "layout" %}{% block body %}
<p>Fetch this page, store its article and count it as a 👍?</p>
<p><code class="url">{{ url }}</code></p>
<form method="post" action="/ui/add"><input type="hidden" name="url" value="{{ url }}"><button type="submit" name="add">👍 Add it</button></form>
{% endblock %}"#;

const ADD_RESULT: &str = r#"{% extends "layout" %}{% block body %}
{% if error %}<p class="error" id="add-error">{{ error }}</p><p><code class="url">{{ url }}</code></p><p><a href="/ui/add">Try another page</a></p>
{% else %}<p class="ok" id="add-ok">{% if existed %}Already stored; {% else %}Stored; {% endif %}counted as a 👍.</p>
<table>{% for i in items %}{% include "item_row" %}{% endfor %}</table>
{% if excerpt %}<blockquote class="meta">{{ excerpt }}</blockquote>{% endif %}{% endif %}
{% endblock %}"#;

/// The UI's templates, escaping every value as HTML whatever the template's
/// name (minijinja only auto-escapes names ending in `.html`).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, src) in [
        ("layout", LAYOUT),
        ("item_row", ITEM_ROW),
        ("items", ITEMS),
        ("item", ITEM),
        ("saved", SAVED),
        ("search", SEARCH),
        ("sagas", SAGAS),
        ("saga", SAGA),
        ("table", TABLE),
        ("pipelines", PIPELINES),
        ("digest", DIGEST),
        ("add_form", ADD_FORM),
        ("feeds", FEEDS),
        ("subscribe_form", SUBSCRIBE_FORM),
        ("subscribe_confirm", SUBSCRIBE_CONFIRM),
        ("subscribe_result", SUBSCRIBE_RESULT),
        ("add_confirm", ADD_CONFIRM),
        ("add_result", ADD_RESULT),
    ] {
        env.add_template(name, src)
            .expect("shipped templates parse");
    }
    env
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    #[test]
    fn values_are_escaped() {
        let env = super::environment();
        let html = env
            .get_template("table")
            .unwrap()
            .render(context! { title => "<t>", q => "\"q\"", head => ["h"], rows => [["<script>alert(1)</script>"]] })
            .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;t&gt;"));
        assert!(html.contains("value=\"&quot;q&quot;\""));
    }

    #[test]
    fn srcdoc_keeps_the_digest_inside_its_attribute() {
        let env = super::environment();
        let doc = "<html><body><a href=\"x\">it's</a></body></html>";
        let html = env
            .get_template("digest")
            .unwrap()
            .render(
                context! { title => "Digest", q => "", digests => [context! {
                pipeline => "p", agent => "d", day => "2026-01-01", count => 1, to => "a@b",
                html => doc, summary => Vec::<String>::new() }] },
            )
            .unwrap();
        let start = html.find("srcdoc=\"").unwrap() + 8;
        let end = start + html[start..].find('"').unwrap();
        assert!(html[start..end].contains("&lt;a href=&quot;x&quot;&gt;"));
    }
}
