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
</style></head><body><nav><a href="/">Items</a><a href="/ui/sagas">Sagas</a><a href="/ui/digest">Digest</a>
<a href="/ui/feeds">Feeds</a><a href="/ui/runs">Runs</a><a href="/ui/pipelines">Pipelines</a><a href="/ui/add">Add URL</a>
<form class="inline" action="/ui/search" method="get"><input type="search" name="q" value="{{ q }}" placeholder="search by meaning" aria-label="search"></form></nav>
<h1>{{ title }}</h1>{% block body %}{% endblock %}</body></html>"#;

/// One item row with its 👍/👎 forms (items page and search results).
const ITEM_ROW: &str = r#"<tr id="item-{{ i.id }}">
<td class="score">{% if i.score is not none %}{{ "%.2f"|format(i.score) }}{% endif %}</td>
<td>{% if i.url %}<a href="{{ i.url }}">{{ i.title }}</a>{% else %}{{ i.title }}{% endif %}
<div class="meta">{{ i.source }} · {{ i.when }}{% if i.saga %} · saga <a href="/ui/sagas/{{ i.saga.id }}">{{ i.saga.title }}</a>{% endif %}{% if i.match %} · {{ i.match }}{% endif %}</div>
{% if i.reason %}<div class="meta">why: {{ i.reason }}</div>{% endif %}</td>
<td style="white-space:nowrap"><form class="inline" method="post" action="/ui/items/{{ i.id }}/like"><button name="like" title="more like this">👍 more</button></form>
<form class="inline" method="post" action="/ui/items/{{ i.id }}/dislike"><button name="dislike" title="less like this">👎 less</button></form>
{% if i.feedback %}<div class="meta ok">{{ i.feedback }}</div>{% endif %}</td></tr>"#;

const ITEMS: &str = r#"{% extends "layout" %}{% block body %}
<table>{% for i in items %}{% include "item_row" %}
{% else %}<tr><td>Nothing stored yet: run a pipeline.</td></tr>{% endfor %}</table>{% endblock %}"#;

const SEARCH: &str = r#"{% extends "layout" %}{% block body %}
{% if note %}<p class="note" id="search-note">{{ note }}</p>{% endif %}
{% if q %}<p class="meta">{{ items|length }} result{% if items|length != 1 %}s{% endif %}, {{ how }}.</p>
<table>{% for i in items %}{% include "item_row" %}
{% else %}<tr><td>Nothing matches.</td></tr>{% endfor %}</table>
{% else %}<form action="/ui/search" method="get"><p><input type="search" name="q" placeholder="what was that story about…" autofocus> <button>Search</button></p></form>
<p class="meta">Search finds items by meaning (the interest model's sentence embeddings), and exact names by their words.</p>{% endif %}
{% endblock %}"#;

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

const PIPELINES: &str = r#"{% extends "layout" %}{% block body %}
<p class="legend"><span style="background:#e3f4e1;border-color:#3d8b37">source</span><span style="background:#e2ecfa;border-color:#3b6bb5">transform</span><span style="background:#fdf0d9;border-color:#b7791f">sink</span></p>
{% for p in pipelines %}<h2 id="pipeline-{{ p.name }}">{{ p.name }}</h2>
<p class="meta">{{ p.schedule }}</p><div class="dagbox">{{ p.svg|safe }}</div>
<details><summary>As text</summary><pre>{{ p.graph }}</pre></details><details><summary>Mermaid source</summary><pre>{{ p.mermaid }}</pre></details>
{% endfor %}{% endblock %}"#;

const DIGEST: &str = r#"{% extends "layout" %}{% block body %}
<p class="meta">What the next digest would contain if it were sent now: nothing is sent and nothing is marked sent.</p>
{% for d in digests %}<section class="digest" id="digest-{{ d.pipeline }}-{{ d.agent }}"><h2>{{ d.pipeline }} · {{ d.agent }}</h2>
{% if d.error %}<p class="error">{{ d.error }}</p>{% else %}
<p>{% if d.subject %}<b>{{ d.subject }}</b> · {% endif %}digest of {{ d.day }} · {{ d.count }} item{% if d.count != 1 %}s{% endif %} · to {{ d.to }}</p>
{% if d.note %}<p class="note">{{ d.note }}</p>{% endif %}
{% if d.summary %}<details open><summary>Contents</summary><pre class="summary">{% for l in d.summary %}{{ l }}
{% endfor %}</pre></details>{% endif %}
{% if d.html %}<iframe class="digest" title="digest preview" sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="{{ d.html }}"></iframe>{% else %}<p>Nothing new for the next digest.</p>{% endif %}
{% endif %}</section>
{% else %}<p>No pipeline served here has an <code>email_digest</code> agent.</p>{% endfor %}{% endblock %}"#;

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
        ("search", SEARCH),
        ("sagas", SAGAS),
        ("saga", SAGA),
        ("table", TABLE),
        ("pipelines", PIPELINES),
        ("digest", DIGEST),
        ("add_form", ADD_FORM),
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
