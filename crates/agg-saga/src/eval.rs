//! The evaluation runner behind `agg eval sagas`: JSONL rows in, one
//! `id<TAB>saga` line per row out, metrics when gold labels are present.
//!
//! Rules (stated here so that review can check them):
//! - **Order**: rows are processed by date, ties (and rows without a usable
//!   date) kept in file order.
//! - **Dates**: RFC 3339 (`2015-09-01T00:00:00Z`), `YYYY-MM-DD HH:MM:SS` (UTC)
//!   or `YYYY-MM-DD`. A missing, unparsable, pre-1990 date, or one more than 48
//!   hours after the wall clock, is replaced by the date of the nearest earlier
//!   row in the file that has a usable one (or the first usable date in the file,
//!   or the Unix epoch if there is none). The evaluation stream is historical,
//!   so each row's own date is its "fetch time".
//! - **Gold**: the `story` field is copied aside before assignment and only
//!   read by the scorer; the engine never sees it.
//! - **Duplicate ids**: the first occurrence in processing order is assigned;
//!   later rows with the same id get the same saga. Every row still gets an
//!   output line (in file order). Metrics count each id once, with the gold
//!   label of its last row (as the reference scorer does).

use crate::engine::{SagaConfig, SagaEngine, SagaId, SagaItem};
use crate::metrics::{Metrics, score};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Write};

/// One input row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalRow {
    /// Item id (a JSON string or number).
    pub id: String,
    /// Raw date string, if any.
    pub date: Option<String>,
    /// Headline.
    pub title: String,
    /// Body text.
    pub text: String,
    /// Link.
    pub url: Option<String>,
    /// Outlet.
    pub source: Option<String>,
    /// Gold story label; never given to the engine.
    pub story: Option<String>,
    /// Sentence embedding (L2-normalised), when the caller computed one (or
    /// the row carries an `embedding` array). Rows without one are matched
    /// lexically only.
    pub embedding: Option<Vec<f32>>,
}

/// A malformed input line.
#[derive(Debug)]
pub enum EvalError {
    /// Reading failed.
    Io(std::io::Error),
    /// Line `line` (1-based) is not a JSON object with an `id`.
    BadRow { line: usize, why: String },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Io(e) => write!(f, "read error: {e}"),
            EvalError::BadRow { line, why } => write!(f, "line {line}: {why}"),
        }
    }
}

impl std::error::Error for EvalError {}

impl From<std::io::Error> for EvalError {
    fn from(e: std::io::Error) -> Self {
        EvalError::Io(e)
    }
}

fn as_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_vector(v: &Value) -> Option<Vec<f32>> {
    let a = v.as_array()?;
    let out: Vec<f32> = a
        .iter()
        .filter_map(|x| x.as_f64().map(|f| f as f32))
        .collect();
    (out.len() == a.len() && !out.is_empty()).then_some(out)
}

/// Parse one JSON object into a row.
pub fn parse_row(line: &str) -> Result<EvalRow, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let id = as_text(o.get("id")).ok_or("missing `id` (string or number)")?;
    Ok(EvalRow {
        id,
        date: as_text(o.get("date")),
        title: as_text(o.get("title")).unwrap_or_default(),
        text: as_text(o.get("text")).unwrap_or_default(),
        url: as_text(o.get("url")),
        source: as_text(o.get("source")),
        story: as_text(o.get("story")),
        embedding: o.get("embedding").and_then(as_vector),
    })
}

/// Read JSONL rows; blank lines are skipped, a malformed line is an error
/// naming its line number (nothing is half-evaluated).
pub fn read_rows<R: BufRead>(r: R) -> Result<Vec<EvalRow>, EvalError> {
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_row(&line).map_err(|why| EvalError::BadRow { line: i + 1, why })?);
    }
    Ok(out)
}

/// Parse a date in one of the accepted forms.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
}

/// The outcome of an evaluation run.
#[derive(Debug, Clone)]
pub struct EvalOutput {
    /// `(id, saga)` for every input row, in input order.
    pub assignments: Vec<(String, SagaId)>,
    /// Metrics over unique ids, when every row has a `story`.
    pub metrics: Option<Metrics>,
    /// The engine after the run (for inspection or persistence).
    pub engine: SagaEngine,
    /// Seconds spent assigning (parsing and scoring excluded).
    pub assign_seconds: f64,
}

/// The usable dates of the rows, after the rule in the module docs.
pub fn effective_dates(rows: &[EvalRow]) -> Vec<DateTime<Utc>> {
    let latest_ok = Utc::now() + chrono::Duration::hours(48);
    let min = Utc.with_ymd_and_hms(1990, 1, 1, 0, 0, 0).unwrap();
    let parsed: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|r| {
            r.date
                .as_deref()
                .and_then(parse_date)
                .filter(|d| *d >= min && *d <= latest_ok)
        })
        .collect();
    let first = parsed
        .iter()
        .flatten()
        .next()
        .copied()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let mut last = first;
    parsed
        .into_iter()
        .map(|d| {
            if let Some(d) = d {
                last = d;
            }
            last
        })
        .collect()
}

/// The saga `s` ended up in, through live merges and archived ones.
fn resolve(engine: &SagaEngine, archived: &HashMap<SagaId, Option<SagaId>>, s: SagaId) -> SagaId {
    let mut cur = s;
    for _ in 0..1_000 {
        if let Some(r) = engine.resolve(cur) {
            return r;
        }
        match archived.get(&cur) {
            Some(Some(next)) => cur = *next,
            _ => return cur,
        }
    }
    cur
}

/// Run the engine over `rows` in date order and score it when gold is present.
pub fn evaluate(rows: &[EvalRow], config: SagaConfig) -> EvalOutput {
    evaluate_as(rows, config, false)
}

/// [`evaluate`] as the saga agent runs: at the end of each day the engine
/// is saved in parts, and the next day's items are placed by an engine
/// that loaded only what they need ([`SagaEngine::needs`]). The output must
/// be the same as [`evaluate`]'s; a difference is a bug in what a run
/// loads (`agg eval sagas --in-runs`).
pub fn evaluate_in_runs(rows: &[EvalRow], config: SagaConfig) -> EvalOutput {
    evaluate_as(rows, config, true)
}

/// A store's rows of an engine saved in parts (for [`evaluate_in_runs`]).
#[derive(Default)]
struct Saved {
    core: String,
    sagas: std::collections::BTreeMap<u64, String>,
    feeds: std::collections::BTreeMap<String, String>,
    /// Vocabulary term → (id, document frequency).
    terms: HashMap<String, (u32, u32)>,
    /// Item key hash → saga index.
    items: HashMap<u64, u32>,
    /// Inverted index: term id → saga indices.
    postings: HashMap<u32, Vec<u32>>,
    /// Live saga id → when it may be archived.
    dues: HashMap<u64, i64>,
}

impl Saved {
    fn save(&mut self, engine: &mut SagaEngine) {
        let parts = engine.to_parts().expect("a state serialises");
        self.sagas.extend(parts.sagas);
        for id in parts.gone {
            self.sagas.remove(&id);
            self.dues.remove(&id);
        }
        if parts.dues_whole {
            self.dues.clear();
        }
        for (id, due) in parts.dues {
            match due {
                Some(d) => self.dues.insert(id, d),
                None => self.dues.remove(&id),
            };
        }
        self.feeds.extend(parts.feeds);
        if parts.terms_whole {
            self.terms.clear();
        }
        self.terms
            .extend(parts.terms.into_iter().map(|(t, id, df)| (t, (id, df))));
        if parts.items_whole {
            self.items.clear();
        }
        for (h, i) in parts.items {
            match i {
                Some(i) => self.items.insert(h, i),
                None => self.items.remove(&h),
            };
        }
        if parts.postings_whole {
            self.postings.clear();
        }
        for (t, l) in parts.postings {
            if l.is_empty() {
                self.postings.remove(&t);
            } else {
                self.postings.insert(t, l);
            }
        }
        self.core = parts.core;
    }

    /// Put in the stored lists of `asked`, as the store answers them.
    fn put_postings(&self, e: &mut SagaEngine, asked: Vec<u32>) {
        let rows = asked
            .iter()
            .filter_map(|t| Some((*t, self.postings.get(t)?.clone())))
            .collect();
        e.put_postings(asked, rows);
    }

    /// Put in the stored terms of `asked`, as the store answers them.
    fn put_terms(&self, e: &mut SagaEngine, asked: Vec<String>) {
        let rows = asked
            .iter()
            .filter_map(|t| self.terms.get(t).map(|&(id, df)| (t.clone(), id, df)))
            .collect();
        e.put_terms(asked, rows).expect("saved terms read");
    }

    /// The engine as a run that places `items` at `now` loads it.
    fn load_for(&self, items: &[SagaItem], now: DateTime<Utc>) -> SagaEngine {
        let mut e = SagaEngine::from_stored(&self.core).expect("a saved core reads");
        let keys = e.term_keys(items);
        self.put_terms(&mut e, keys);
        let lists = e.posting_terms();
        self.put_postings(&mut e, lists);
        let hashes = e.item_hashes(items);
        let rows = hashes
            .iter()
            .filter_map(|h| Some((*h, *self.items.get(h)?)))
            .collect();
        e.put_item_rows(hashes, rows);
        if e.due_in_rows() {
            let due = self.dues.iter().filter(|(_, d)| **d <= now.timestamp());
            e.put_due(due.map(|(id, _)| *id));
        }
        let need = e.needs(items, now).expect("a core saved in parts tells");
        let sagas: Vec<String> = need
            .sagas
            .iter()
            .filter_map(|id| self.sagas.get(id).cloned())
            .collect();
        let feeds: Vec<(String, String)> = need
            .feeds
            .iter()
            .filter_map(|f| Some((f.clone(), self.feeds.get(f)?.clone())))
            .collect();
        e.fill_some(None, sagas, feeds).expect("saved rows read");
        let keys = e.member_term_keys();
        self.put_terms(&mut e, keys);
        e
    }
}

fn evaluate_as(rows: &[EvalRow], config: SagaConfig, in_runs: bool) -> EvalOutput {
    let dates = effective_dates(rows);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| dates[i]); // stable: ties keep file order
    let mut engine = SagaEngine::new(config);
    let mut saga_of_row = vec![SagaId(0); rows.len()];
    // Archived sagas' merge targets, to resolve ids that left the engine.
    let mut archived_into: HashMap<SagaId, Option<SagaId>> = HashMap::new();
    let mut saved = Saved::default();
    let started = std::time::Instant::now();
    let item = |i: usize| {
        let r = &rows[i];
        SagaItem {
            id: r.id.clone(),
            time: Some(dates[i]),
            title: r.title.clone(),
            text: r.text.clone(),
            source: r.source.clone(),
            embedding: r.embedding.clone(),
            ..Default::default()
        }
    };
    for (d, day) in order
        .chunk_by(|&a, &b| dates[a].date_naive() == dates[b].date_naive())
        .enumerate()
    {
        // As the saga agent does after each (daily) run: long-quiet sagas
        // leave the engine, so a stream longer than the archive period is
        // judged as a person would see it.
        if d > 0 {
            // The lists that pushes of the last run wait for, before the
            // archive changes which sagas are live (as the saga step does).
            let pending = engine.pending_posting_terms();
            saved.put_postings(&mut engine, pending);
            engine.archive(dates[day[0]]);
            for a in engine.take_archived() {
                archived_into.insert(a.id(), a.saga.merged_into);
            }
        }
        let items: Vec<SagaItem> = day.iter().map(|&i| item(i)).collect();
        if in_runs && d > 0 {
            saved.save(&mut engine);
            engine = saved.load_for(&items, dates[day[day.len() - 1]]);
        }
        for (&i, it) in day.iter().zip(&items) {
            saga_of_row[i] = engine.assign(it, dates[i]).saga;
        }
        // Evaluation does not keep an event log.
        engine.take_events();
    }
    if in_runs {
        // The end state whole, for the caller (a partial engine lists
        // only what it loaded).
        let pending = engine.pending_posting_terms();
        saved.put_postings(&mut engine, pending);
        saved.save(&mut engine);
        engine = SagaEngine::from_parts(
            &saved.core,
            saved.sagas.values().cloned(),
            saved.feeds.clone(),
            saved.terms.iter().map(|(t, &(id, df))| (t.clone(), id, df)),
            saved.postings.iter().map(|(t, l)| (*t, l.clone())),
        )
        .expect("saved rows read");
    }
    let assign_seconds = started.elapsed().as_secs_f64();
    // Merges cannot happen during evaluation, but resolve anyway.
    let assignments: Vec<(String, SagaId)> = rows
        .iter()
        .zip(&saga_of_row)
        .map(|(r, s)| (r.id.clone(), resolve(&engine, &archived_into, *s)))
        .collect();
    let metrics = if rows.iter().all(|r| r.story.is_some()) && !rows.is_empty() {
        let mut gold: HashMap<&str, &str> = HashMap::new();
        let mut pred: HashMap<&str, SagaId> = HashMap::new();
        let mut ids: Vec<&str> = Vec::new();
        for (r, (_, s)) in rows.iter().zip(&assignments) {
            if gold
                .insert(&r.id, r.story.as_deref().unwrap_or(""))
                .is_none()
            {
                ids.push(&r.id);
            }
            pred.entry(&r.id).or_insert(*s);
        }
        let pairs: Vec<(&str, SagaId)> = ids.iter().map(|id| (gold[id], pred[id])).collect();
        Some(score(&pairs))
    } else {
        None
    };
    EvalOutput {
        assignments,
        metrics,
        engine,
        assign_seconds,
    }
}

/// Attach embeddings from JSONL lines `{"id": ..., "embedding": [...]}` (a
/// cache written by the embedding stage) to the rows with those ids; returns
/// how many rows got one.
pub fn attach_embeddings<R: BufRead>(rows: &mut [EvalRow], r: R) -> Result<usize, EvalError> {
    let mut map: HashMap<String, Vec<f32>> = HashMap::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| EvalError::BadRow {
            line: i + 1,
            why: why.to_string(),
        };
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let id = as_text(v.get("id")).ok_or_else(|| bad("missing `id`"))?;
        let e = v
            .get("embedding")
            .and_then(as_vector)
            .ok_or_else(|| bad("missing or non-numeric `embedding`"))?;
        map.insert(id, e);
    }
    let mut n = 0;
    for row in rows.iter_mut() {
        if let Some(e) = map.get(&row.id) {
            row.embedding = Some(e.clone());
            n += 1;
        }
    }
    Ok(n)
}

/// Write `id<TAB>saga` lines. Tabs and newlines inside ids are replaced by
/// spaces so that every row stays one line.
pub fn write_tsv<W: Write>(mut w: W, assignments: &[(String, SagaId)]) -> std::io::Result<()> {
    for (id, s) in assignments {
        let id: String = id
            .chars()
            .map(|c| {
                if c == '\t' || c == '\n' || c == '\r' {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        writeln!(w, "{id}\t{s}")?;
    }
    w.flush()
}
