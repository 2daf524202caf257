//! Diagnostics: every problem found in a pipeline, located and explained.
//!
//! Validation never stops at the first problem: it collects [`Diagnostic`]s,
//! each pointing at a file, line and column, with an optional hint. They are
//! rendered either as miette reports with a source snippet (for people) or as
//! JSON (for editors and scripts).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use serde::Serialize;

use crate::yaml::Loc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a pipeline file (or a file it pulls in with `use:`).
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, machine-readable name (`unknown-kind`, `cycle`, …).
    pub code: &'static str,
    pub message: String,
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Source id, to find the text again when rendering.
    #[serde(skip)]
    pub source: usize,
    /// Length of the highlighted text, in bytes.
    #[serde(skip)]
    pub len: usize,
}

/// The files read while loading one pipeline, so diagnostics can quote them.
#[derive(Default, Debug, Clone)]
pub struct SourceMap {
    files: Vec<(PathBuf, Arc<String>)>,
}

impl SourceMap {
    pub fn add(&mut self, path: &Path, text: String) -> usize {
        self.files.push((path.to_path_buf(), Arc::new(text)));
        self.files.len() - 1
    }

    pub fn path(&self, id: usize) -> &Path {
        &self.files[id].0
    }

    pub fn text(&self, id: usize) -> &str {
        &self.files[id].1
    }

    /// Byte offset of a 1-based line and (character) column.
    pub fn offset(&self, id: usize, line: u32, column: u32) -> usize {
        let text = self.text(id);
        let mut offset = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i + 1 == line as usize {
                let col = column.saturating_sub(1) as usize;
                return offset + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
            }
            offset += l.len();
        }
        text.len()
    }

    /// Length of the token starting at `offset`: the rest of a scalar, so the
    /// underline covers the offending word rather than one character.
    fn token_len(&self, id: usize, offset: usize) -> usize {
        let rest = &self.text(id)[offset.min(self.text(id).len())..];
        let n = rest.find(['\n', ',', '}', ']', '#']).unwrap_or(rest.len());
        let token = rest[..n].trim_end();
        let token = token
            .split(": ")
            .next()
            .unwrap_or(token)
            .trim_end_matches(':');
        token.len().max(1)
    }
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        loc: Loc,
        map: &SourceMap,
    ) -> Self {
        Self::new(Severity::Error, code, message, loc, map)
    }

    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        loc: Loc,
        map: &SourceMap,
    ) -> Self {
        Self::new(Severity::Warning, code, message, loc, map)
    }

    fn new(
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        loc: Loc,
        map: &SourceMap,
    ) -> Self {
        let line = loc.line.max(1);
        let column = loc.column.max(1);
        let offset = map.offset(loc.source, line, column);
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: map.path(loc.source).to_path_buf(),
            line,
            column,
            hint: None,
            source: loc.source,
            len: map.token_len(loc.source, offset),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column: error[code]: message` — the one-line form, for logs
    /// and for grep.
    pub fn headline(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}:{}:{}: {sev}[{}]: {}",
            self.file.display(),
            self.line,
            self.column,
            self.code,
            self.message
        )
    }

    /// Renders the headline plus a miette snippet of the source (no colours,
    /// so the output is the same on a terminal, in a file and in a snapshot).
    pub fn render(&self, map: &SourceMap) -> String {
        let offset = map.offset(self.source, self.line, self.column);
        let mut d = MietteDiagnostic::new(self.message.clone())
            .with_code(self.code)
            .with_severity(match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
            .with_label(LabeledSpan::at(offset..offset + self.len, "here"));
        if let Some(h) = &self.hint {
            d = d.with_help(h.clone());
        }
        let source = NamedSource::new(
            format!("{}:{}:{}", self.file.display(), self.line, self.column),
            map.text(self.source).to_string(),
        );
        let report = miette::Report::new(d).with_source_code(source);
        let mut out = String::new();
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            return self.headline();
        }
        format!("{}\n{}", self.headline(), out)
    }
}

/// "did you mean `x`?" for a misspelt name, if some candidate is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_lines_and_columns() {
        let mut map = SourceMap::default();
        let id = map.add(Path::new("p.yaml"), "ab\ncdé f\n".into());
        assert_eq!(map.offset(id, 1, 1), 0);
        assert_eq!(map.offset(id, 2, 1), 3);
        assert_eq!(map.offset(id, 2, 5), 3 + "cdé ".len());
    }

    #[test]
    fn suggestions_only_when_close() {
        assert_eq!(
            did_you_mean("feds", ["feeds", "path"]).as_deref(),
            Some("did you mean `feeds`?")
        );
        assert_eq!(did_you_mean("zzz", ["feeds", "path"]), None);
    }
}
