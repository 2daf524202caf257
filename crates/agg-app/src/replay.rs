//! The pipeline `agg replay` runs: the reader's pipeline pointed at a
//! scratch folder, so that replaying a day writes nothing where the reader
//! looks and reaches nothing outside agg.
//!
//! This is the one place outside the agents' own kinds where a pipeline's
//! agents are rebuilt with changed options (the `path` of file sinks): each
//! through its kind's builder from the registry, as loading does, so the
//! replayed agent is checked exactly like the real one.

use std::path::{Path, PathBuf};

use agg_agents::email_digest::{self, Mode};
use agg_core::{BuildCtx, Pipeline, Role};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    #[error("agent `{agent}`: {message}")]
    Options { agent: String, message: String },
    /// The folder the replay writes into could not be made.
    #[error("cannot prepare the output folder: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Digest(#[from] crate::digest::Error),
}

/// What a replay changed in the pipeline before running it.
pub struct Plan {
    /// Agents not run: sources, and sinks that reach outside agg.
    pub left_out: Vec<String>,
    /// Files the redirected sinks write.
    pub files: Vec<PathBuf>,
    /// Each digest, rendered to `digest-NAME.html` and `.eml` in the
    /// folder, and the report it fills.
    pub digests: Vec<(String, email_digest::Report)>,
}

/// Points every file a sink writes into `out`, turns digests into
/// previews written there, and leaves out sources and every other sink.
/// Drops `retention_days`: a replay re-creates one day in a scratch store,
/// and retention (by today's clock) would delete what it copied there.
pub fn redirect(p: &mut Pipeline, out: &Path) -> Result<Plan, Error> {
    p.retention_days = None;
    let registry = agg_agents::registry();
    let base_dir = p
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut plan = Plan {
        left_out: Vec::new(),
        files: Vec::new(),
        digests: Vec::new(),
    };
    let (name, timezone) = (p.name.clone(), p.timezone);
    for decl in &mut p.agents {
        if decl.role == Role::Source {
            plan.left_out.push(decl.name.clone());
            continue;
        }
        if decl.role != Role::Sink {
            continue;
        }
        if decl.kind == email_digest::KIND.name {
            continue;
        }
        let ctx = BuildCtx {
            pipeline: name.clone(),
            agent: decl.name.clone(),
            base_dir: base_dir.clone(),
            timezone,
        };
        // A sink that writes a file names it with `path`; any other sink
        // talks to something outside agg and is left out.
        let Some(path) = decl.options.get("path").and_then(|v| v.as_str()) else {
            plan.left_out.push(decl.name.clone());
            continue;
        };
        let rel = Path::new(path);
        let target = if rel.is_absolute() {
            out.join(rel.file_name().unwrap_or(rel.as_os_str()))
        } else {
            out.join(rel)
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let target = std::path::absolute(&target)?;
        let mut options = decl.options.clone();
        options["path"] = serde_json::Value::String(target.display().to_string());
        let def = registry
            .get(&decl.kind)
            .ok_or_else(|| Error::UnknownKind(decl.kind.clone()))?;
        decl.agent = (def.build)(&options, &ctx).map_err(|e| Error::Options {
            agent: decl.name.clone(),
            message: e.message,
        })?;
        decl.options = options;
        plan.files.push(target);
    }
    plan.digests = crate::digest::set_mode(p, None, false, |name| Mode::Preview {
        html: Some(out.join(format!("digest-{name}.html"))),
        eml: Some(out.join(format!("digest-{name}.eml"))),
    })?;
    Ok(plan)
}
