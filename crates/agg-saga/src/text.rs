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
    "two", "three", "many", "much", "least", "yet", "still", "like", "get", "gets", "episode",
    "episodes", "podcast",
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

/// Function words of the languages a reader's feeds most often mix with
/// English. They serve two purposes: telling the language of an item (so
/// that items in different languages join only on strong evidence), and
/// keeping a detected language's function words out of its features (a
/// Portuguese outlet's "de", "do", "em", "para" would otherwise make every
/// one of its same-day items look alike). Short on purpose: only words that
/// are frequent and unambiguous for their language.
const LANG_STOP: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "of", "to", "in", "is", "for", "on", "with", "that", "by", "from", "at",
            "as", "after", "over", "its", "are", "was", "has", "this", "will", "be",
        ],
    ),
    (
        "pt",
        &[
            "de", "do", "da", "dos", "das", "em", "no", "na", "nos", "nas", "para", "com", "um",
            "uma", "que", "não", "ao", "à", "pelo", "pela", "mais", "é", "são", "foi", "como",
            "sobre", "seu", "sua",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "de", "del", "en", "y", "que", "un", "una", "por", "para",
            "con", "al", "se", "es", "su", "sus", "más", "como", "sobre", "tras", "lo",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "de", "des", "du", "et", "en", "un", "une", "pour", "dans", "sur",
            "au", "aux", "est", "qui", "que", "par", "avec", "pas", "ne", "plus", "son", "sa",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "den", "dem", "des", "ein", "eine", "einen", "ist", "mit",
            "für", "auf", "von", "zu", "im", "nicht", "sich", "bei", "nach", "wie", "auch", "aus",
            "über",
        ],
    ),
    (
        "it",
        &[
            "il", "lo", "la", "gli", "le", "di", "del", "della", "dei", "delle", "che", "per",
            "con", "un", "una", "non", "sono", "è", "nel", "nella", "alla", "al", "da", "dopo",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "van", "op", "voor", "met", "niet", "zijn", "naar", "bij",
            "ook", "dat", "wordt", "uit", "aan", "nog",
        ],
    ),
];

/// The language of an item from its function words (one of `en`, `pt`, `es`,
/// `fr`, `de`, `it`, `nl`), or `None` when there is too little evidence (a
/// short headline, an already stop-worded stream, another language). Needs
/// at least two function words and a clear winner: guessing wrong would keep
/// apart items that belong together.
pub fn detect_language(title: &str, text: &str) -> Option<&'static str> {
    if let Some(script) = dominant_script(title, text) {
        return Some(script);
    }
    let mut hits = [0usize; LANG_STOP.len()];
    let mut seen = 0usize;
    for part in [title, text] {
        for t in raw_tokens(part) {
            if seen >= 120 {
                break;
            }
            seen += 1;
            for (i, (_, words)) in LANG_STOP.iter().enumerate() {
                if words.contains(&t.lower.as_str()) {
                    hits[i] += 1;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by(|a, b| hits[*b].cmp(&hits[*a]).then(a.cmp(b)));
    let (best, runner) = (hits[order[0]], hits[order[1]]);
    // Two function words at least, and more than the runner-up by a margin
    // (Spanish and Portuguese share "de", "que", "para").
    (best >= 2 && best * 2 > runner * 3).then_some(LANG_STOP[order[0]].0)
}

/// The writing system of a text whose letters are mostly not Latin, as a
/// language tag at script level ("zh" for Han, "ja" for kana, "ko", "ru" for
/// Cyrillic, "ar" for Arabic script, "el", "he", "hi" for Devanagari, "th").
/// Coarse on purpose (Urdu reads as "ar", Ukrainian as "ru"): enough to keep
/// apart what the word and embedding evidence cannot compare.
fn dominant_script(title: &str, text: &str) -> Option<&'static str> {
    let mut counts: [(usize, &str); 9] = [
        (0, "latin"),
        (0, "zh"),
        (0, "ja"),
        (0, "ko"),
        (0, "ru"),
        (0, "ar"),
        (0, "el"),
        (0, "he"),
        (0, "hi"),
    ];
    let mut thai = 0usize;
    for c in title.chars().chain(text.chars()).take(600) {
        if !c.is_alphabetic() {
            continue;
        }
        let u = c as u32;
        let slot = match u {
            0x0041..=0x024F => 0,
            0x4E00..=0x9FFF | 0x3400..=0x4DBF => 1,
            0x3040..=0x30FF => 2,
            0xAC00..=0xD7AF | 0x1100..=0x11FF => 3,
            0x0400..=0x04FF => 4,
            0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFEFF => 5,
            0x0370..=0x03FF => 6,
            0x0590..=0x05FF => 7,
            0x0900..=0x097F => 8,
            0x0E00..=0x0E7F => {
                thai += 1;
                continue;
            }
            _ => continue,
        };
        counts[slot].0 += 1;
    }
    // Japanese mixes kana with Han characters: any kana makes it Japanese.
    if counts[2].0 > 0 && counts[1].0 + counts[2].0 > counts[0].0 {
        return Some("ja");
    }
    let total: usize = counts.iter().map(|c| c.0).sum::<usize>() + thai;
    if thai * 2 > total && thai > 0 {
        return Some("th");
    }
    let best = counts.iter().skip(1).max_by_key(|c| c.0)?;
    (best.0 > 0 && best.0 * 2 > total).then_some(best.1)
}

fn foreign_stop(lang: Option<&str>) -> &'static [&'static str] {
    match lang {
        Some(l) if l != "en" => LANG_STOP
            .iter()
            .find(|(code, _)| *code == l)
            .map_or(&[], |(_, w)| *w),
        _ => &[],
    }
}

/// Words that mark an instalment of a series rather than a story
/// ("Episode 304", "Weekly review", "Part 3"): they are no evidence that two
/// instalments are one story.
const SERIES_WORDS: &[&str] = &[
    "episode", "episodes", "ep", "podcast", "chapter", "part", "issue", "vol", "volume", "no",
    "edition", "season", "day", "week", "round", "lesson", "session", "q1", "q2", "q3", "q4",
];

const SERIES_PERIODIC: &[&str] = &[
    "daily", "weekly", "monthly", "week", "weekend", "friday", "sunday",
];

const SERIES_KINDS: &[&str] = &[
    "review",
    "roundup",
    "round-up",
    "digest",
    "recap",
    "links",
    "newsletter",
    "update",
    "briefing",
    "reading",
    "notes",
    "thread",
    "open",
    "mailbag",
    "wrap",
];

/// Whether a headline is an instalment of a series: a number prefix
/// ("214: Christmas Phone"), a numbered instalment ("Episode 304", "Part 3",
/// "#12", "No. 7"), or a periodic column ("Weekly review", "Daily links",
/// "This week in Rust"). Instalments of one series share their series words
/// and their outlet, never a story; the engine keeps them from forming a saga
/// out of their own items.
pub fn is_series_title(title: &str) -> bool {
    let t = title.trim();
    let toks = raw_tokens(t);
    let lower: Vec<&str> = toks.iter().map(|x| x.lower.as_str()).collect();
    let is_num = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    // "214: Christmas Phone", "#12 …", "12. …"
    let head: String = t.chars().take_while(|c| !c.is_whitespace()).collect();
    let head_num = head.trim_start_matches('#');
    let digits: String = head_num
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if !digits.is_empty() && matches!(&head_num[digits.len()..], ":" | "." | ")" | "") {
        // A bare leading number is a count ("3 killed"), not an instalment,
        // unless it is marked (#, colon, dot) or the title is only a number.
        if head.starts_with('#') || head_num.len() > digits.len() || toks.len() == 1 {
            return true;
        }
    }
    // "#12" anywhere, "Episode 304", "Part 3", "No. 7", "Ep 12".
    if t.contains('#')
        && t.split('#')
            .skip(1)
            .any(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
    {
        return true;
    }
    for w in lower.windows(2) {
        if SERIES_WORDS.contains(&w[0]) && is_num(w[1]) {
            return true;
        }
    }
    // "Weekly review", "Daily links", "This week in Rust".
    for w in lower.windows(2) {
        if SERIES_PERIODIC.contains(&w[0]) && SERIES_KINDS.contains(&w[1]) {
            return true;
        }
    }
    // "Q2 2021 Product Updates": a quarter and a year.
    if lower
        .windows(2)
        .any(|w| matches!(w[0], "q1" | "q2" | "q3" | "q4") && w[1].len() == 4 && is_num(w[1]))
    {
        return true;
    }
    lower.windows(3).any(|w| w == ["this", "week", "in"])
}

/// Extract the features of one item (title and text together).
///
/// The result may contain repeated features (term frequency matters for long
/// texts); callers count them. When the item's language is detected (see
/// [`detect_language`]) and is not English, that language's function words
/// are dropped too.
pub fn features(title: &str, text: &str) -> Vec<Feature> {
    features_in(title, text, detect_language(title, text))
}

/// [`features`] for an item whose language is already known (`None`: only
/// the English stop words are dropped).
pub fn features_in(title: &str, text: &str, lang: Option<&str>) -> Vec<Feature> {
    let mut out = Vec::new();
    let extra = foreign_stop(lang);
    // Title and text are separate "sentences" so spans never cross them.
    for part in [title, text] {
        if part.trim().is_empty() {
            continue;
        }
        extract_part(part, extra, &mut out);
    }
    out
}

fn extract_part(part: &str, extra_stop: &[&str], out: &mut Vec<Feature>) {
    let is_stop = |w: &str| is_stop(w) || extra_stop.contains(&w);
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
    fn languages_are_told_by_function_words() {
        assert_eq!(
            detect_language("Putin's rival is barred from the election in Russia", ""),
            Some("en")
        );
        assert_eq!(
            detect_language("Sondagem dá vantagem ao PS nas eleições de domingo", ""),
            Some("pt")
        );
        assert_eq!(
            detect_language("Die Regierung will das Gesetz nach der Wahl ändern", ""),
            Some("de")
        );
        // Too little to tell: already stop-worded or a bare name.
        assert_eq!(
            detect_language("toyota recall vehicle quality woe", ""),
            None
        );
        assert_eq!(detect_language("Myanmar", ""), None);
        // Other scripts, at script level.
        assert_eq!(detect_language("泰山康银阁 红包卡拆箱", ""), Some("zh"));
        assert_eq!(
            detect_language("امریکہ اور پاکستان ایک دوسرے کا کیا بگاڑ سکتے ہیں؟", ""),
            Some("ar")
        );
        assert_eq!(
            detect_language("Путин встретился с лидерами", ""),
            Some("ru")
        );
        // A detected language's function words are not features.
        let f = features("Sondagem dá vantagem ao PS nas eleições de domingo", "");
        let w = keys(&f, FeatureKind::Word);
        assert!(
            !w.iter().any(|k| k == "de" || k == "ao" || k == "nas"),
            "{w:?}"
        );
        assert!(w.contains(&"sondagem".to_string()));
    }

    #[test]
    fn series_titles_are_recognised() {
        for t in [
            "214: Christmas Phone",
            "Episode 304: The Long Game",
            "Seattle Before the iPhone #3",
            "Weekly review: what we read",
            "This Week in Rust 512",
            "Q2 2021 RSS.com Product Updates",
            "Podcast Movement 2021: Day 3 Recap",
            "Part 2 of our interview",
            "#12 – the mailbag",
        ] {
            assert!(is_series_title(t), "{t}");
        }
        for t in [
            "3 killed in Lagos bus crash",
            "Apple fights FBI order to unlock iPhone",
            "G7 leaders meet in Japan",
            "2016 election: the first debate",
        ] {
            assert!(!is_series_title(t), "{t}");
        }
    }

    #[test]
    fn empty_input_has_no_features() {
        assert!(features("", "").is_empty());
        assert!(features("   ", "...").is_empty());
    }
}
