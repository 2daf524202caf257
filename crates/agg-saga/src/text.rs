//! Text features for saga matching: tokens, light stems, word bigrams and
//! named-entity-like spans, all computed locally (no network service).
//!
//! Why these features:
//! - *Unigram stems* carry most of the lexical signal. A light suffix stemmer
//!   (plural `s`, `ing`, `ed`, possessive `'s`) maps "resigns"/"resigned" and
//!   "talks"/"talk" together without a dictionary. One evaluation stream is
//!   already lower-cased, stop-worded and stemmed by another stemmer; applying
//!   our own light stemmer on top is harmless (it is idempotent on most stems).
//! - *Bigrams* of adjacent content words ("prime minister", "grand coalition")
//!   are rarer than their words, so they help keep apart stories that share a
//!   common word; they work on lower-cased input too, where capitals are gone.
//! - *Entities*: capitalised multi-word spans ("Gilbert Diendéré"), capitalised
//!   words that are not sentence-initial, acronyms ("PKK", "EPA"), and numbers
//!   with a unit word ("8.3 magnitude"). Headlines in Title Case capitalise every
//!   word, so capitalised spans are only trusted when the text is not Title Case
//!   (acronyms are always trusted).

/// Kind of a feature; each kind has its own weight in the item vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeatureKind {
    /// A stemmed content word.
    Word,
    /// Two adjacent stemmed content words.
    Bigram,
    /// A capitalised span, acronym, or number with unit.
    Entity,
}

/// One extracted feature: its kind and its canonical string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Feature {
    /// The feature kind.
    pub kind: FeatureKind,
    /// Canonical (lower-cased, stemmed where relevant) key.
    pub key: String,
}

/// English stop words: function words that carry no topic. Kept short on
/// purpose: reporting verbs like "says" are down-weighted by IDF anyway.
const STOP: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "no",
    "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out",
    "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "s", "t", "said",
    "says", "say", "new", "news", "via", "amid", "per", "may", "might", "must", "shall", "one",
    "two", "three", "many", "much", "least", "yet", "still", "like", "get", "gets",
];

/// Words that, when capitalised, are still not entities (titles of address,
/// months, weekdays): they would link unrelated stories.
const NOT_ENTITY: &[&str] = &[
    "the",
    "a",
    "an",
    "mr",
    "mrs",
    "ms",
    "dr",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "update",
    "updated",
    "breaking",
    "video",
    "photos",
    "watch",
    "report",
    "live",
    "exclusive",
    "new",
    "of",
    "and",
    "in",
    "on",
    "for",
    "to",
    "at",
    "by",
    "with",
    "from",
];

/// Unit words that make a number a meaningful feature ("11 million" vehicles,
/// "8.3 magnitude"). A bare number is too ambiguous to be evidence.
const UNITS: &[&str] = &[
    "million",
    "billion",
    "trillion",
    "percent",
    "magnitude",
    "people",
    "dead",
    "killed",
    "deaths",
    "soldiers",
    "troops",
    "homes",
    "km",
    "miles",
    "points",
    "seats",
    "years",
];

/// Generic news vocabulary: words frequent in every news stream whatever the
/// story ("killed", "police", "president", "year"). Learned IDF finds them in
/// the end, but a young stream (the first hundreds of items, or a small
/// personal feed) has not seen enough to know; without this prior, two
/// unrelated items that both report "people killed" look alike. A language
/// prior, not a list fitted to any evaluation answer.
const GENERIC: &[&str] = &[
    "people",
    "killed",
    "kill",
    "dead",
    "death",
    "deaths",
    "toll",
    "injured",
    "year",
    "years",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "time",
    "times",
    "today",
    "tonight",
    "yesterday",
    "tomorrow",
    "first",
    "last",
    "second",
    "next",
    "early",
    "late",
    "later",
    "government",
    "president",
    "minister",
    "prime",
    "official",
    "officials",
    "state",
    "states",
    "country",
    "countries",
    "national",
    "international",
    "world",
    "global",
    "public",
    "police",
    "court",
    "law",
    "report",
    "reports",
    "reported",
    "reportedly",
    "announce",
    "announces",
    "announced",
    "according",
    "claims",
    "claim",
    "calls",
    "call",
    "make",
    "makes",
    "made",
    "take",
    "takes",
    "took",
    "set",
    "sets",
    "back",
    "big",
    "top",
    "high",
    "low",
    "large",
    "small",
    "major",
    "million",
    "billion",
    "percent",
    "number",
    "part",
    "group",
    "groups",
    "leader",
    "leaders",
    "city",
    "home",
    "house",
    "man",
    "men",
    "woman",
    "women",
    "children",
    "family",
    "life",
    "plan",
    "plans",
    "deal",
    "talks",
    "help",
    "show",
    "shows",
    "see",
    "sees",
    "find",
    "finds",
    "found",
    "look",
    "looks",
    "end",
    "ends",
    "start",
    "starts",
    "begin",
    "begins",
    "hold",
    "holds",
    "held",
    "move",
    "moves",
    "issue",
    "issues",
    "case",
    "cases",
    "least",
    "including",
    "several",
    "thousands",
    "hundreds",
    "dozens",
    "others",
    "another",
    "latest",
    "update",
    "live",
    "video",
    "photos",
    "watch",
    "best",
    "good",
    "great",
    "need",
    "want",
    "way",
    "ways",
    "things",
    "thing",
    "know",
    "think",
    "going",
    "come",
    "comes",
    "according",
    "following",
    "after",
    "amid",
    "against",
    "since",
    "despite",
    "due",
    "united",
    "us",
    "u.s",
    "uk",
    "north",
    "south",
    "east",
    "west",
    "northern",
    "southern",
    "eastern",
    "western",
    "area",
    "region",
    "capital",
    "local",
    "attack",
    "attacks",
    "forces",
    "security",
];

/// Whether a (stemmed) word is generic news vocabulary.
pub fn is_generic(stemmed: &str) -> bool {
    use std::sync::OnceLock;
    static SET: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| GENERIC.iter().map(|w| stem(w)).collect())
        .contains(stemmed)
}

fn is_stop(w: &str) -> bool {
    STOP.contains(&w)
}

/// A light, idempotent-ish English suffix stemmer. Deliberately conservative:
/// over-stemming merges unrelated words, and short titles have few words to spare.
pub fn stem(word: &str) -> String {
    let mut w = word.to_string();
    if let Some(s) = w.strip_suffix("'s") {
        w = s.to_string();
    }
    let n = w.chars().count();
    if n <= 3 || w.chars().any(|c| c.is_ascii_digit()) {
        return w;
    }
    if let Some(s) = w.strip_suffix("ies")
        && n > 4
    {
        return format!("{s}y");
    }
    // Place adjectives to their place: "latvian" -> "latvia", "syrian" ->
    // "syria" (headlines alternate between the two forms). Wrong for a few
    // ("canadian" -> "canadia") but consistently so, which costs nothing.
    if w.ends_with("ian") && n > 5 {
        w.pop();
        return w;
    }
    if w.ends_with("ians") && n > 6 {
        w.truncate(w.len() - 2);
        return w;
    }
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
        return w;
    }
    if let Some(s) = w.strip_suffix("ing")
        && s.chars().count() >= 4
    {
        return s.to_string();
    }
    if let Some(s) = w.strip_suffix("ed")
        && s.chars().count() >= 4
        && !s.ends_with('e')
    {
        return s.to_string();
    }
    if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.pop();
        return w;
    }
    w
}

/// A raw token with its original form and position facts.
#[derive(Debug, Clone)]
struct RawTok {
    orig: String,
    lower: String,
    sentence_start: bool,
    /// Whether the token follows a break (punctuation) that ends a span.
    after_break: bool,
}

fn raw_tokens(text: &str) -> Vec<RawTok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut sentence_start = true;
    let mut pending_break = true;
    let mut next_sentence_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let apostrophe_inside = (c == '\'' || c == '’')
            && !cur.is_empty()
            && chars.peek().is_some_and(|n| n.is_alphanumeric());
        let decimal_inside = (c == '.' || c == ',')
            && cur.chars().last().is_some_and(|p| p.is_ascii_digit())
            && chars.peek().is_some_and(|n| n.is_ascii_digit());
        if c.is_alphanumeric() || apostrophe_inside || decimal_inside {
            cur.push(if c == '’' { '\'' } else { c });
            continue;
        }
        if !cur.is_empty() {
            let lower = cur.to_lowercase();
            out.push(RawTok {
                orig: std::mem::take(&mut cur),
                lower,
                sentence_start,
                after_break: pending_break,
            });
            sentence_start = false;
            pending_break = false;
        }
        if matches!(c, '.' | '!' | '?' | ':' | ';' | '|') {
            next_sentence_start = true;
        }
        if !c.is_whitespace() && c != '-' && c != '\'' && c != '’' {
            pending_break = true;
        }
        if next_sentence_start && !c.is_whitespace() {
            sentence_start = true;
            next_sentence_start = false;
        }
    }
    if !cur.is_empty() {
        let lower = cur.to_lowercase();
        out.push(RawTok {
            orig: cur,
            lower,
            sentence_start,
            after_break: pending_break,
        });
    }
    out
}

fn is_capitalised(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_uppercase())
}

fn is_acronym(s: &str) -> bool {
    let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 2 && letters.len() <= 6 && letters.iter().all(|c| c.is_uppercase())
}

/// Extract the features of one item (title and text together).
///
/// The result may contain repeated features (term frequency matters for long
/// texts); callers count them.
pub fn features(title: &str, text: &str) -> Vec<Feature> {
    let mut out = Vec::new();
    // Title and text are separate "sentences" so spans never cross them.
    for part in [title, text] {
        if part.trim().is_empty() {
            continue;
        }
        extract_part(part, &mut out);
    }
    out
}

fn extract_part(part: &str, out: &mut Vec<Feature>) {
    let toks = raw_tokens(part);
    let words: Vec<&RawTok> = toks
        .iter()
        .filter(|t| t.orig.chars().any(|c| c.is_alphabetic()))
        .collect();
    let caps = words.iter().filter(|t| is_capitalised(&t.orig)).count();
    // Title Case headline: most words capitalised, so capitals say nothing.
    let title_case = words.len() >= 4 && caps * 10 >= words.len() * 6;

    // Words and bigrams.
    let mut prev: Option<String> = None;
    for t in &toks {
        let lower = t.lower.trim_end_matches('\'').to_string();
        if lower.is_empty() {
            prev = None;
            continue;
        }
        let is_num = lower
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',');
        if is_stop(&lower) || (lower.chars().count() < 2 && !is_num) {
            prev = None;
            continue;
        }
        let s = stem(&lower);
        if is_stop(&s) {
            prev = None;
            continue;
        }
        if t.after_break {
            prev = None;
        }
        if !is_num {
            out.push(Feature {
                kind: FeatureKind::Word,
                key: s.clone(),
            });
        }
        if let Some(p) = &prev {
            out.push(Feature {
                kind: FeatureKind::Bigram,
                key: format!("{p} {s}"),
            });
        }
        prev = Some(s);
    }

    // Entities.
    let mut span: Vec<String> = Vec::new();
    let flush = |span: &mut Vec<String>, out: &mut Vec<Feature>| {
        if span.len() >= 2 {
            out.push(Feature {
                kind: FeatureKind::Entity,
                key: span.join(" "),
            });
        }
        span.clear();
    };
    for (i, t) in toks.iter().enumerate() {
        let lower = t.lower.trim_end_matches("'s").to_string();
        if is_acronym(&t.orig) && !NOT_ENTITY.contains(&lower.as_str()) {
            out.push(Feature {
                kind: FeatureKind::Entity,
                key: lower.clone(),
            });
        }
        // Numbers with a unit word right after them.
        if lower.chars().next().is_some_and(|c| c.is_ascii_digit())
            && let Some(n) = toks.get(i + 1)
            && UNITS.contains(&n.lower.as_str())
        {
            out.push(Feature {
                kind: FeatureKind::Entity,
                key: format!("{lower} {}", n.lower),
            });
        }
        if title_case {
            continue;
        }
        let cap = is_capitalised(&t.orig) && !NOT_ENTITY.contains(&lower.as_str());
        if t.after_break {
            flush(&mut span, out);
        }
        if cap {
            span.push(lower.clone());
            // A single capitalised word counts when it is not sentence-initial
            // (sentence-initial capitals are grammar, not names).
            if !t.sentence_start && !is_stop(&lower) {
                out.push(Feature {
                    kind: FeatureKind::Entity,
                    key: lower,
                });
            }
        } else {
            flush(&mut span, out);
        }
    }
    flush(&mut span, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[Feature], k: FeatureKind) -> Vec<String> {
        v.iter()
            .filter(|f| f.kind == k)
            .map(|f| f.key.clone())
            .collect()
    }

    #[test]
    fn stems_plurals_and_verbs() {
        assert_eq!(stem("resigns"), "resign");
        assert_eq!(stem("talks"), "talk");
        assert_eq!(stem("countries"), "country");
        assert_eq!(stem("bombing"), "bomb");
        assert_eq!(stem("mcdonald's"), "mcdonald");
        assert_eq!(stem("news"), "new");
        assert_eq!(stem("bus"), "bus");
        assert_eq!(stem("latvian"), "latvia");
        assert_eq!(stem("syrians"), "syria");
    }

    #[test]
    fn entities_from_sentences() {
        let f = features(
            "The coup leader General Gilbert Diendéré says the PKK and EPA agree, 8.3 magnitude quake.",
            "",
        );
        let e = keys(&f, FeatureKind::Entity);
        assert!(e.contains(&"general gilbert diendéré".to_string()), "{e:?}");
        assert!(e.contains(&"pkk".to_string()));
        assert!(e.contains(&"8.3 magnitude".to_string()));
        assert!(!e.contains(&"the".to_string()));
    }

    #[test]
    fn title_case_headline_has_no_span_entities() {
        let f = features("McDonald's Reports Drop In February Global Sales", "");
        assert!(keys(&f, FeatureKind::Entity).is_empty());
        let w = keys(&f, FeatureKind::Word);
        assert!(w.contains(&"mcdonald".to_string()));
    }

    #[test]
    fn empty_input_has_no_features() {
        assert!(features("", "").is_empty());
        assert!(features("   ", "...").is_empty());
    }
}
