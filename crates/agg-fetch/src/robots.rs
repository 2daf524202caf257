//! robots.txt (RFC 9309): may agg fetch this page?
//!
//! Feeds are published to be polled, so feed fetching does not ask; pages
//! that agg fetches on its own initiative (the `extract` transform reading
//! an article, the `website` source scraping a listing) do. [`Robots`] is a
//! parsed file; [`RobotsCache`] fetches each origin's file once per run
//! (concurrent askers for the same host wait for the one fetch) and answers
//! for URLs.
//!
//! Matching follows the RFC: the group whose `user-agent` equals our
//! product token (case-insensitive; several such groups are merged), else
//! the `*` groups; within it the longest matching `allow`/`disallow`
//! pattern wins, `allow` on a tie; `*` matches any run of characters and a
//! final `$` anchors the end; `/robots.txt` itself is always allowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::http::{FetchError, FetchLimits, Fetcher};

/// Largest robots.txt read, in bytes. The RFC asks crawlers to read at
/// least 500 KiB; a bigger file is refused as a whole (see
/// [`RobotsCache`]) rather than read without bound.
pub const MAX_ROBOTS_BYTES: u64 = 512 * 1024;

/// Longest pattern considered; longer lines are junk, not rules, and would
/// make matching cost more than it should.
const MAX_PATTERN_CHARS: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    pattern: String,
}

#[derive(Clone, Debug, Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
}

/// A parsed robots.txt.
#[derive(Clone, Debug, Default)]
pub struct Robots {
    groups: Vec<Group>,
}

/// The rule that decided, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `Disallow: /private/` — the rule that matched, if any did.
    pub rule: Option<String>,
}

impl Robots {
    /// Parses robots.txt text. Never fails: lines that are not rules are
    /// ignored, as the RFC asks.
    pub fn parse(text: &str) -> Robots {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut groups: Vec<Group> = Vec::new();
        // True while user-agent lines accumulate into the current group
        // (before its first rule).
        let mut collecting_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if !collecting_agents {
                        groups.push(Group::default());
                        collecting_agents = true;
                    }
                    let token = value
                        .split(|c: char| c.is_whitespace() || c == '/')
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if let Some(g) = groups.last_mut() {
                        g.agents.push(token);
                    }
                }
                "allow" | "disallow" => {
                    collecting_agents = false;
                    // Rules before any user-agent belong to no group.
                    let Some(g) = groups.last_mut() else {
                        continue;
                    };
                    // An empty `Disallow:` means "nothing disallowed": no rule.
                    if value.is_empty() || value.chars().count() > MAX_PATTERN_CHARS {
                        continue;
                    }
                    let mut pattern = encode_non_ascii(value);
                    if !pattern.starts_with(['/', '*']) {
                        pattern.insert(0, '/');
                    }
                    g.rules.push(Rule {
                        allow: key == "allow",
                        pattern,
                    });
                }
                // sitemap, crawl-delay, host and unknown keys: not rules,
                // and they do not end a group's user-agent list either.
                _ => {}
            }
        }
        Robots { groups }
    }

    /// The verdict for `path` (path and query of the URL, as it appears
    /// on the wire, e.g. `/a/b?c=d`) for the crawler named `token`.
    pub fn decide(&self, token: &str, path: &str) -> Decision {
        if path == "/robots.txt" {
            return Decision {
                allowed: true,
                rule: None,
            };
        }
        let token = token.to_ascii_lowercase();
        let mine: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| g.agents.contains(&token))
            .collect();
        let groups = if mine.is_empty() {
            self.groups
                .iter()
                .filter(|g| g.agents.iter().any(|a| a == "*"))
                .collect()
        } else {
            mine
        };
        let mut best: Option<&Rule> = None;
        for rule in groups.iter().flat_map(|g| &g.rules) {
            if !pattern_matches(&rule.pattern, path) {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    rule.pattern.len() > b.pattern.len()
                        || (rule.pattern.len() == b.pattern.len() && rule.allow && !b.allow)
                }
            };
            if better {
                best = Some(rule);
            }
        }
        match best {
            None => Decision {
                allowed: true,
                rule: None,
            },
            Some(r) => Decision {
                allowed: r.allow,
                rule: Some(format!(
                    "{}: {}",
                    if r.allow { "Allow" } else { "Disallow" },
                    r.pattern
                )),
            },
        }
    }

    /// Whether `token` may fetch `path`.
    pub fn is_allowed(&self, token: &str, path: &str) -> bool {
        self.decide(token, path).allowed
    }
}

/// Non-ASCII characters in a pattern, percent-encoded as UTF-8, so they
/// compare with URL paths (which the `url` crate keeps encoded).
fn encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Does a robots pattern match the start of `path`? `*` is any run of
/// characters; a final `$` means the path must end there. Greedy matching
/// with one backtrack point per `*`: linear in practice, O(n·m) at worst,
/// and both sides are bounded.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pat, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p.as_bytes(), true),
        None => (pattern.as_bytes(), false),
    };
    let s = path.as_bytes();
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p == pat.len() {
            if !anchored || i == s.len() {
                return true;
            }
            // Anchored but text remains: let the last `*` eat more.
        } else if pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
            continue;
        } else if i < s.len() && pat[p] == s[i] {
            p += 1;
            i += 1;
            continue;
        }
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp + 1;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// The product token of a User-Agent string: `agg/0.1 (…)` → `agg`.
pub fn product_token(user_agent: &str) -> String {
    user_agent
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// What an origin's robots.txt says, once fetched.
#[derive(Clone, Debug)]
enum Policy {
    Rules(Robots),
    /// 4xx: the site has no robots.txt, so nothing is disallowed.
    AllowAll,
    /// 5xx, 429, unreachable, too large: see [`RobotsCache`].
    DisallowAll(String),
    /// The SSRF guard refused the host: no page of it will be fetched.
    Blocked(String),
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RobotsDenied {
    #[error("disallowed by {robots} (`{rule}` for user-agent {agent})")]
    Rule {
        robots: String,
        rule: String,
        agent: String,
    },
    #[error("{robots} could not be read ({reason}); treated as disallow-all")]
    Unavailable { robots: String, reason: String },
    #[error("not an http(s) URL: {0}")]
    BadUrl(String),
    /// The host is not public and not in `allow_private` (SSRF guard).
    #[error("{0}")]
    Blocked(String),
}

/// robots.txt per origin (scheme, host, port), fetched at most once per
/// cache, i.e. once per agent run.
///
/// Status handling follows RFC 9309 §2.3.1: a 4xx answer (no robots.txt,
/// or none for us to read) means the site set no rules, so all is
/// allowed; a 5xx answer, a timeout or a refused connection means the
/// rules exist but could not be read, so everything is disallowed for this
/// run — fetching anyway could hit exactly the pages the owner excluded,
/// while waiting costs us only one run's extraction. 429 is treated like
/// 5xx (the server asks us to back off). A file over
/// [`MAX_ROBOTS_BYTES`] is treated as unreadable, for the same reason.
#[derive(Clone)]
pub struct RobotsCache {
    fetcher: Fetcher,
    token: String,
    origins: Arc<Mutex<HashMap<String, Arc<OnceCell<Policy>>>>>,
}

impl RobotsCache {
    /// robots.txt files are fetched with `limits` (the same as the pages
    /// they govern: time, redirects, user agent, and the SSRF guard with
    /// its `allow_private` exceptions, since the hosts come from content),
    /// the body capped at
    /// [`MAX_ROBOTS_BYTES`]; the product token of `limits.user_agent` names
    /// our group.
    pub fn new(limits: &FetchLimits) -> Result<Self, FetchError> {
        let limits = FetchLimits {
            max_bytes: limits.max_bytes.min(MAX_ROBOTS_BYTES),
            ..limits.clone()
        };
        Ok(RobotsCache {
            token: product_token(&limits.user_agent),
            fetcher: Fetcher::new(limits)?,
            origins: Arc::default(),
        })
    }

    /// Ok when `url` may be fetched by us; why not otherwise.
    pub async fn check(&self, url: &url::Url) -> Result<(), RobotsDenied> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(RobotsDenied::BadUrl(url.to_string()));
        }
        let origin = url.origin().ascii_serialization();
        let robots_url = format!("{origin}/robots.txt");
        let cell = self
            .origins
            .lock()
            .expect("robots lock")
            .entry(origin)
            .or_default()
            .clone();
        let policy = cell
            .get_or_init(|| async { self.fetch_policy(&robots_url).await })
            .await;
        match policy {
            Policy::AllowAll => Ok(()),
            Policy::DisallowAll(reason) => Err(RobotsDenied::Unavailable {
                robots: robots_url,
                reason: reason.clone(),
            }),
            Policy::Blocked(reason) => Err(RobotsDenied::Blocked(reason.clone())),
            Policy::Rules(r) => {
                let mut path = url.path().to_string();
                if let Some(q) = url.query() {
                    path.push('?');
                    path.push_str(q);
                }
                let d = r.decide(&self.token, &path);
                if d.allowed {
                    Ok(())
                } else {
                    Err(RobotsDenied::Rule {
                        robots: robots_url,
                        rule: d.rule.unwrap_or_default(),
                        agent: self.token.clone(),
                    })
                }
            }
        }
    }

    async fn fetch_policy(&self, robots_url: &str) -> Policy {
        let policy = match self.fetcher.get_untrusted(robots_url).await {
            Ok((bytes, _, _)) => Policy::Rules(Robots::parse(&String::from_utf8_lossy(&bytes))),
            Err(FetchError::Status { status, .. }) if status == 429 || status >= 500 => {
                Policy::DisallowAll(format!("HTTP {status}"))
            }
            Err(FetchError::Status { .. }) => Policy::AllowAll,
            Err(e @ FetchError::Blocked(_)) => Policy::Blocked(e.to_string()),
            Err(e) => Policy::DisallowAll(e.to_string()),
        };
        tracing::debug!(%robots_url, ?policy, "robots.txt");
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\u{feff}# example
User-agent: *
Disallow: /private/
Allow: /private/press/
Disallow: /*.pdf$
Disallow: /search?

User-agent: BadBot
User-agent: agg
Disallow: /no-agg/
Allow: /no-agg/ok$
Crawl-delay: 5

Sitemap: https://example.org/sitemap.xml
";

    #[test]
    fn our_group_replaces_the_star_group() {
        let r = Robots::parse(SAMPLE);
        // agg has its own group: the `*` rules do not apply to it.
        assert!(r.is_allowed("agg", "/private/x"));
        assert!(!r.is_allowed("agg", "/no-agg/page"));
        assert!(r.is_allowed("AGG", "/no-agg/ok"));
        assert!(!r.is_allowed("agg", "/no-agg/ok/more"));
        assert!(!r.is_allowed("badbot", "/no-agg/"));
        // Anyone else gets the `*` group.
        let other = "otherbot";
        assert!(!r.is_allowed(other, "/private/secret"));
        assert!(
            r.is_allowed(other, "/private/press/release"),
            "longer allow wins"
        );
        assert!(!r.is_allowed(other, "/files/report.pdf"));
        assert!(
            r.is_allowed(other, "/files/report.pdf?download=1"),
            "$ anchors the end"
        );
        assert!(!r.is_allowed(other, "/search?q=x"));
        assert!(r.is_allowed(other, "/searching"));
        assert!(r.is_allowed(other, "/robots.txt"));
        let d = r.decide(other, "/private/x");
        assert_eq!(d.rule.as_deref(), Some("Disallow: /private/"));
    }

    #[test]
    fn groups_for_the_same_agent_merge_and_ties_go_to_allow() {
        let r = Robots::parse(
            "user-agent: agg\ndisallow: /a\n\nuser-agent: other\ndisallow: /\n\nUSER-AGENT: agg\nallow: /a\n",
        );
        assert!(r.is_allowed("agg", "/a/b"), "equal length: allow wins");
        assert!(!r.is_allowed("other", "/a"));
        assert!(
            r.is_allowed("nobody", "/anything"),
            "no group, no `*`: allowed"
        );
    }

    #[test]
    fn edge_cases() {
        // Empty disallow allows all; rules before a user-agent are ignored.
        let r = Robots::parse("Disallow: /\nUser-agent: *\nDisallow:\n");
        assert!(r.is_allowed("agg", "/x"));
        // Whole-site disallow.
        let r = Robots::parse("User-agent: *\nDisallow: /\n");
        assert!(!r.is_allowed("agg", "/"));
        assert!(!r.is_allowed("agg", "/deep/page.html"));
        // Wildcards in the middle, comments after rules, no leading slash.
        let r = Robots::parse("User-agent: *\nDisallow: /*/draft/*.html # drafts\nDisallow: tmp\n");
        assert!(!r.is_allowed("agg", "/2026/draft/x.html"));
        assert!(r.is_allowed("agg", "/2026/final/x.html"));
        assert!(!r.is_allowed("agg", "/tmp/x"));
        // Non-ASCII patterns match percent-encoded paths.
        let r = Robots::parse("User-agent: *\nDisallow: /café\n");
        assert!(!r.is_allowed("agg", "/caf%C3%A9/menu"));
        // Garbage never panics and allows.
        let r = Robots::parse("<html><body>Not found</body></html>\n\0\0:::\n");
        assert!(r.is_allowed("agg", "/x"));
    }

    #[test]
    fn wildcard_matching() {
        assert!(pattern_matches("/", "/anything"));
        assert!(pattern_matches("/*", "/"));
        assert!(pattern_matches("*.php$", "/index.php"));
        assert!(!pattern_matches("*.php$", "/index.php5"));
        assert!(pattern_matches("/a*b*c", "/axxbyyc/z"));
        assert!(!pattern_matches("/a*b*c", "/axxbyy"));
        assert!(pattern_matches("/x$", "/x"));
        assert!(!pattern_matches("/x$", "/x/"));
        assert!(pattern_matches(
            "/a*a$",
            "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
        // Many stars on a long path stay cheap.
        let path = format!("/{}", "a".repeat(5000));
        assert!(!pattern_matches("/*a*a*a*a*a*b", &path));
    }

    #[test]
    fn product_tokens() {
        assert_eq!(product_token("agg/0.1 (personal news aggregator)"), "agg");
        assert_eq!(product_token("Mozilla/5.0"), "mozilla");
    }
}
