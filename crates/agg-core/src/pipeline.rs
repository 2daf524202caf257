//! Loading a pipeline file: parse, resolve `use:` and `${ENV}`, check
//! everything, build every agent — and report all problems at once.
//!
//! Loading is all-or-nothing: a pipeline with any error yields no
//! [`Pipeline`], so a bad file can never half-apply.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;

use crate::agent::{Agent, BuildCtx, OptionsError, Registry, Role};
use crate::diag::{Diagnostic, SourceMap, did_you_mean};
use crate::yaml::{Loc, Node, PathSeg, Value};

/// Keys allowed at the top of a pipeline file.
const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "schedule",
    "timezone",
    "store",
    "retention_days",
    "backlog",
    "max_attempts",
    "agents",
];
/// The default `backlog:` window: a week of outages is caught up.
pub const DEFAULT_BACKLOG: chrono::Duration = chrono::Duration::days(7);
/// The default `max_attempts:` per item and stage.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A duration as people write it in a pipeline or on the command line:
/// `90s`, `36h`, `7d`, `2w`, `1h 30m` (humantime's syntax).
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    chrono::Duration::from_std(d).ok()
}

/// Keys every agent has, whatever its kind; the rest are the kind's options.
const COMMON_KEYS: &[&str] = &["kind", "inputs", "use", "description"];
/// `use:` files may pull in other files; this bounds the chain.
const MAX_USE_DEPTH: usize = 8;

/// A validated pipeline, ready to run.
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub schedule: Option<Schedule>,
    pub timezone: Tz,
    /// Store URL or path given in the file (the CLI's `--db` wins over it).
    pub store: Option<String>,
    pub retention_days: Option<u32>,
    /// How far back a run looks for stored items still pending for a stage
    /// (`backlog:`, default 7 days): a stage that failed catches up within it.
    pub backlog: chrono::Duration,
    /// Failures of one item in one stage before it is parked (`max_attempts:`).
    pub max_attempts: u32,
    /// Agents in file order.
    pub agents: Vec<AgentDecl>,
}

/// A crontab schedule, kept with its text for display.
pub struct Schedule {
    pub expr: String,
    pub cron: croner::Cron,
}

/// One agent of a pipeline, built and checked.
pub struct AgentDecl {
    pub name: String,
    pub kind: String,
    pub role: Role,
    pub inputs: Vec<String>,
    pub options: serde_json::Value,
    pub agent: Box<dyn Agent>,
    /// Where the agent's name is, for messages about it.
    pub loc: Loc,
}

impl Pipeline {
    pub fn agent(&self, name: &str) -> Option<&AgentDecl> {
        self.agents.iter().find(|a| a.name == name)
    }
}

/// The result of loading: the pipeline if there were no errors, and every
/// diagnostic (warnings come with a valid pipeline too).
pub struct Loaded {
    pub pipeline: Option<Pipeline>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// `use:` files are agent definitions of a few lines: one larger than this
/// (or endless, like `/dev/zero`) is refused, not read into memory.
pub const MAX_USE_FILE_BYTES: u64 = 1024 * 1024;

/// A `use:` file's text, at most [`MAX_USE_FILE_BYTES`] of it (an error of
/// kind `FileTooLarge` beyond).
fn read_use_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_USE_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_USE_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_USE_FILE_BYTES} bytes, the limit for a `use:` file"),
        ));
    }
    Ok(text)
}

/// Reads and validates a pipeline file. `env` resolves `${VAR}` references
/// (the process environment in the CLI; a map in tests).
pub fn load(
    path: &Path,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::io::Result<Loaded> {
    let text = std::fs::read_to_string(path)?;
    Ok(load_str(path, text, registry, env))
}

/// Like [`load`], for text already in memory (`path` names it in messages
/// and anchors relative paths).
pub fn load_str(
    path: &Path,
    text: String,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Loaded {
    let mut l = Loader {
        registry,
        env,
        sources: SourceMap::default(),
        diags: Vec::new(),
    };
    let pipeline = l.load(path, text);
    // Report in reading order: file, then line, then column.
    l.diags.sort_by_key(|d| (d.source, d.line, d.column));
    let pipeline = if l.diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        pipeline
    };
    Loaded {
        pipeline,
        diagnostics: l.diags,
        sources: l.sources,
    }
}

struct Loader<'a> {
    registry: &'a Registry,
    env: &'a dyn Fn(&str) -> Option<String>,
    sources: SourceMap,
    diags: Vec<Diagnostic>,
}

/// An agent's merged definition before building: each option keeps the node
/// it came from (pipeline file or `use:` file) for locating errors.
struct RawAgent {
    name: String,
    key: Node,
    entries: Vec<(Node, Node)>,
    base_dir: PathBuf,
}

impl Loader<'_> {
    fn err(&mut self, code: &'static str, msg: impl Into<String>, loc: Loc) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::error(code, msg, loc, &self.sources));
        self.diags.last_mut().expect("just pushed")
    }

    fn warn(&mut self, code: &'static str, msg: impl Into<String>, loc: Loc) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::warning(code, msg, loc, &self.sources));
        self.diags.last_mut().expect("just pushed")
    }

    /// Parses one file into a node tree, reporting syntax errors located.
    fn parse_file(&mut self, path: &Path, text: String) -> Option<Node> {
        let id = self.sources.add(path, text);
        let text = self.sources.text(id).to_string();
        match Node::parse(&text, id) {
            Ok(mut node) => {
                self.interpolate(&mut node);
                Some(node)
            }
            Err(e) => {
                let loc = e.location().map_or(
                    Loc {
                        source: id,
                        line: 1,
                        column: 1,
                    },
                    |l| Loc {
                        source: id,
                        line: l.line() as u32,
                        column: l.column() as u32,
                    },
                );
                let msg = yaml_message(&e);
                let hint = if msg.contains("duplicate") {
                    "each key may appear once in a mapping; remove or rename one"
                } else {
                    "check indentation, quoting and that `key: value` pairs have a space after the colon"
                };
                self.err("yaml-syntax", msg, loc).hint = Some(hint.into());
                None
            }
        }
    }

    /// Replaces `${VAR}` (and `${VAR:-default}`) in every string scalar. An
    /// unset variable without a default is an error at that scalar: secrets
    /// live in the environment, and `agg validate` must say which are missing.
    fn interpolate(&mut self, node: &mut Node) {
        match &mut node.value {
            Value::Str(s) if s.contains("${") => match expand_env(s, self.env) {
                Ok(v) => *s = v,
                Err(var) => {
                    let loc = node.loc;
                    self.err(
                        "unset-env",
                        format!("environment variable `{var}` is not set"),
                        loc,
                    )
                    .hint = Some(format!(
                        "export {var}=… before running, or write ${{{var}:-default}}"
                    ));
                }
            },
            Value::Seq(items) => items.iter_mut().for_each(|n| self.interpolate(n)),
            Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| self.interpolate(v)),
            _ => {}
        }
    }

    fn load(&mut self, path: &Path, text: String) -> Option<Pipeline> {
        let root = self.parse_file(path, text)?;
        let Some(entries) = root.as_map() else {
            self.err(
                "not-a-mapping",
                format!(
                    "a pipeline file must be a mapping, found {}",
                    root.type_name()
                ),
                root.loc,
            )
            .hint = Some("start with `name:` and `agents:`".into());
            return None;
        };
        for (k, _) in entries {
            let key = k.key_text();
            if !TOP_KEYS.contains(&key.as_str()) {
                let hint = did_you_mean(&key, TOP_KEYS.iter().copied())
                    .unwrap_or_else(|| format!("top-level keys are: {}", TOP_KEYS.join(", ")));
                self.err(
                    "unknown-key",
                    format!("unknown top-level key `{key}`"),
                    k.loc,
                )
                .hint = Some(hint);
            }
        }

        let name = match root.entry("name") {
            Some((_, v)) => match v.as_str() {
                Some(s) if !s.trim().is_empty() => s.to_string(),
                _ => {
                    self.err("wrong-type", "`name` must be a non-empty string", v.loc);
                    String::new()
                }
            },
            None => {
                self.err("missing-key", "the pipeline has no `name`", root.loc)
                    .hint = Some("add `name: my-pipeline` at the top".into());
                String::new()
            }
        };
        let description = root
            .get("description")
            .and_then(|n| n.as_str())
            .map(String::from);
        let timezone = self.timezone(&root);
        let schedule = self.schedule(&root);
        let store = self.opt_string(&root, "store");
        let retention_days = root.get("retention_days").and_then(|n| match n.value {
            Value::Int(d) if d > 0 => u32::try_from(d).ok(),
            _ => {
                self.err(
                    "wrong-type",
                    "`retention_days` must be a positive whole number of days",
                    n.loc,
                );
                None
            }
        });

        let backlog = root
            .get("backlog")
            .and_then(|n| match n.as_str().map(parse_duration) {
                Some(Some(d)) if d > chrono::Duration::zero() => Some(d),
                _ => {
                    self.err(
                        "wrong-type",
                        "`backlog` must be a duration such as 7d, 36h or 2w",
                        n.loc,
                    );
                    None
                }
            })
            .unwrap_or(DEFAULT_BACKLOG);
        let max_attempts = root
            .get("max_attempts")
            .and_then(|n| match n.value {
                Value::Int(a) if a > 0 => u32::try_from(a).ok(),
                _ => {
                    self.err(
                        "wrong-type",
                        "`max_attempts` must be a positive whole number",
                        n.loc,
                    );
                    None
                }
            })
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);

        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // Every declared name counts as an agent for `inputs`, even one whose
        // own definition failed: one mistake should produce one error.
        let declared: Vec<String> = root
            .get("agents")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, _)| k.key_text()).collect())
            .unwrap_or_default();
        let raw = self.raw_agents(&root, &base_dir);
        let agents = self.build_agents(&name, timezone.unwrap_or(Tz::UTC), raw, &declared);
        self.check_graph(&agents);

        Some(Pipeline {
            name,
            description,
            file: path.to_path_buf(),
            schedule,
            timezone: timezone.unwrap_or(Tz::UTC),
            store,
            retention_days,
            backlog,
            max_attempts,
            agents,
        })
    }

    fn opt_string(&mut self, root: &Node, key: &str) -> Option<String> {
        let n = root.get(key)?;
        match n.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                let msg = format!("`{key}` must be a string, found {}", n.type_name());
                self.err("wrong-type", msg, n.loc);
                None
            }
        }
    }

    fn timezone(&mut self, root: &Node) -> Option<Tz> {
        let n = root.get("timezone")?;
        let loc = n.loc;
        let s = self.opt_string(root, "timezone")?;
        match s.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                let hint = did_you_mean(&s, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
                    .unwrap_or_else(|| "use an IANA name such as `Europe/Paris` or `UTC`".into());
                self.err("bad-timezone", format!("unknown time zone `{s}`"), loc)
                    .hint = Some(hint);
                None
            }
        }
    }

    fn schedule(&mut self, root: &Node) -> Option<Schedule> {
        let n = root.get("schedule")?;
        let loc = n.loc;
        let expr = self.opt_string(root, "schedule")?;
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            self.err(
                "bad-cron",
                format!("`{expr}` has {fields} fields; a schedule has 5 (minute hour day-of-month month day-of-week)"),
                loc,
            )
            .hint = Some("for example `0 7 * * *` is every day at 07:00".into());
            return None;
        }
        match expr.parse::<croner::Cron>() {
            Ok(cron) => Some(Schedule { expr, cron }),
            Err(e) => {
                self.err("bad-cron", format!("invalid schedule `{expr}`: {e}"), loc)
                    .hint = Some(
                    "5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12) day-of-week (0-6, 0 = Sunday)"
                        .into(),
                );
                None
            }
        }
    }

    /// Collects each agent's entries, following `use:` chains.
    fn raw_agents(&mut self, root: &Node, base_dir: &Path) -> Vec<RawAgent> {
        let Some((akey, agents)) = root.entry("agents") else {
            self.err("missing-key", "the pipeline has no `agents`", root.loc)
                .hint = Some("add an `agents:` mapping of name → { kind: …, … }".into());
            return Vec::new();
        };
        let Some(entries) = agents.as_map() else {
            let msg = format!(
                "`agents` must be a mapping of names to agents, found {}",
                agents.type_name()
            );
            let loc = if matches!(agents.value, Value::Null) {
                akey.loc
            } else {
                agents.loc
            };
            self.err("wrong-type", msg, loc);
            return Vec::new();
        };
        if entries.is_empty() {
            self.err("no-agents", "the pipeline defines no agents", akey.loc)
                .hint = Some("add at least a source and a sink under `agents:`".into());
            return Vec::new();
        }
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = k.key_text();
            if !valid_name(&name) {
                self.err(
                    "bad-name",
                    format!("agent name `{name}` may only use letters, digits, `-` and `_`"),
                    k.loc,
                );
            }
            let Some(own) = v.as_map() else {
                let msg = format!(
                    "agent `{name}` must be a mapping such as {{ kind: rss, feeds: [...] }}, found {}",
                    v.type_name()
                );
                let loc = if matches!(v.value, Value::Null) {
                    k.loc
                } else {
                    v.loc
                };
                self.err("wrong-type", msg, loc);
                continue;
            };
            let mut entries: Vec<(Node, Node)> = Vec::new();
            if let Some((_, used)) = v.entry("use") {
                match self.resolve_use(used, base_dir, 0) {
                    Some(base) => entries = base,
                    None => continue,
                }
            }
            // The pipeline's own keys override the used definition's.
            for (ok, ov) in own {
                if ok.key_text() == "use" {
                    continue;
                }
                entries.retain(|(ek, _)| ek.key_text() != ok.key_text());
                entries.push((ok.clone(), ov.clone()));
            }
            // Relative paths in options resolve against the pipeline file,
            // also for options inherited from a `use:` file: one rule that a
            // reader of the pipeline can apply without opening other files.
            out.push(RawAgent {
                name,
                key: k.clone(),
                entries,
                base_dir: base_dir.to_path_buf(),
            });
        }
        out
    }

    /// Reads a `use:` file: an agent definition (a mapping), possibly itself
    /// using another. Problems are located in the file that has them.
    fn resolve_use(
        &mut self,
        used: &Node,
        base_dir: &Path,
        depth: usize,
    ) -> Option<Vec<(Node, Node)>> {
        let Some(rel) = used.as_str() else {
            let msg = format!(
                "`use` must be a path to an agent file, found {}",
                used.type_name()
            );
            self.err("wrong-type", msg, used.loc);
            return None;
        };
        if depth >= MAX_USE_DEPTH {
            self.err(
                "use-too-deep",
                format!("`use` files nest more than {MAX_USE_DEPTH} deep (a loop?)"),
                used.loc,
            );
            return None;
        }
        let path = base_dir.join(rel);
        let text = match read_use_file(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                self.err(
                    "use-too-large",
                    format!("`{}` is {e}", path.display()),
                    used.loc,
                )
                .hint = Some("`use` names a file with one agent's definition".into());
                return None;
            }
            Err(e) => {
                self.err(
                    "use-missing",
                    format!("cannot read `{}`: {e}", path.display()),
                    used.loc,
                )
                .hint = Some("`use` paths are relative to the file that names them".into());
                return None;
            }
        };
        let node = self.parse_file(&path, text)?;
        let Some(map) = node.as_map() else {
            let msg = format!(
                "an agent file must be a mapping (kind and options), found {}",
                node.type_name()
            );
            self.err("wrong-type", msg, node.loc);
            return None;
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut entries = Vec::new();
        if let Some((_, inner)) = node.entry("use") {
            entries = self.resolve_use(inner, &dir, depth + 1)?;
        }
        for (k, v) in map {
            if k.key_text() == "use" {
                continue;
            }
            entries.retain(|(ek, _): &(Node, Node)| ek.key_text() != k.key_text());
            entries.push((k.clone(), v.clone()));
        }
        Some(entries)
    }

    fn build_agents(
        &mut self,
        pipeline: &str,
        timezone: Tz,
        raw: Vec<RawAgent>,
        names: &[String],
    ) -> Vec<AgentDecl> {
        let roles: HashMap<String, Role> = raw
            .iter()
            .filter_map(|r| {
                let kind = r.entries.iter().find(|(k, _)| k.key_text() == "kind")?;
                let def = self.registry.get(kind.1.as_str()?)?;
                Some((r.name.clone(), def.role))
            })
            .collect();
        let mut out = Vec::new();
        for r in raw {
            let node = Node::new(Value::Map(r.entries.clone()), r.key.loc);
            let kind = match node.entry("kind") {
                None => {
                    self.err(
                        "missing-kind",
                        format!("agent `{}` has no `kind`", r.name),
                        r.key.loc,
                    )
                    .hint = Some(format!("known kinds: {}", self.kind_list()));
                    continue;
                }
                Some((_, kn)) => match kn.as_str() {
                    Some(k) => (k.to_string(), kn.loc),
                    None => {
                        let msg = format!("`kind` must be a string, found {}", kn.type_name());
                        self.err("wrong-type", msg, kn.loc);
                        continue;
                    }
                },
            };
            let Some(def) = self.registry.get(&kind.0).copied() else {
                let hint = did_you_mean(&kind.0, self.registry.kinds().map(|k| k.name))
                    .unwrap_or_else(|| format!("known kinds: {}", self.kind_list()));
                self.err(
                    "unknown-kind",
                    format!("unknown agent kind `{}`", kind.0),
                    kind.1,
                )
                .hint = Some(hint);
                continue;
            };

            let inputs = self.inputs(&r, &node, def.role, names, &roles);

            // Everything but the common keys is the kind's options.
            let options = Node::new(
                Value::Map(
                    r.entries
                        .iter()
                        .filter(|(k, _)| !COMMON_KEYS.contains(&k.key_text().as_str()))
                        .cloned()
                        .collect(),
                ),
                r.key.loc,
            );
            let json = options.to_json();
            let ctx = BuildCtx {
                pipeline: pipeline.to_string(),
                agent: r.name.clone(),
                base_dir: r.base_dir.clone(),
                timezone,
            };
            match (def.build)(&json, &ctx) {
                Ok(agent) => {
                    for w in agent.warnings() {
                        self.option_warning(&options, w);
                    }
                    out.push(AgentDecl {
                        name: r.name.clone(),
                        kind: def.name.to_string(),
                        role: def.role,
                        inputs,
                        options: json,
                        agent,
                        loc: r.key.loc,
                    })
                }
                Err(e) => self.option_error(&r, def.name, &options, e),
            }
        }
        out
    }

    fn kind_list(&self) -> String {
        self.registry
            .kinds()
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn inputs(
        &mut self,
        r: &RawAgent,
        node: &Node,
        role: Role,
        names: &[String],
        roles: &HashMap<String, Role>,
    ) -> Vec<String> {
        let Some((ikey, inode)) = node.entry("inputs") else {
            if role != Role::Source {
                self.err(
                    "missing-inputs",
                    format!(
                        "agent `{}` is a {} and needs `inputs`",
                        r.name,
                        role.as_str()
                    ),
                    r.key.loc,
                )
                .hint = Some("add `inputs: [some-source]`".into());
            }
            return Vec::new();
        };
        if role == Role::Source {
            self.err(
                "source-with-inputs",
                format!("agent `{}` is a source and takes no `inputs`", r.name),
                ikey.loc,
            )
            .hint = Some("sources fetch from outside; remove `inputs`".into());
            return Vec::new();
        }
        let list: Vec<&Node> = match &inode.value {
            Value::Str(_) => vec![inode],
            Value::Seq(items) => items.iter().collect(),
            _ => {
                let msg = format!(
                    "`inputs` must be a list of agent names, found {}",
                    inode.type_name()
                );
                self.err("wrong-type", msg, inode.loc);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for n in list {
            let Some(name) = n.as_str() else {
                let msg = format!("an input must be an agent name, found {}", n.type_name());
                self.err("wrong-type", msg, n.loc);
                continue;
            };
            if !names.iter().any(|x| x == name) {
                let hint = did_you_mean(name, names.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("agents in this pipeline: {}", names.join(", ")));
                self.err(
                    "unknown-input",
                    format!("input `{name}` names no agent"),
                    n.loc,
                )
                .hint = Some(hint);
                continue;
            }
            if roles.get(name) == Some(&Role::Sink) {
                self.err(
                    "sink-as-input",
                    format!("`{name}` is a sink: it produces no items and cannot be an input"),
                    n.loc,
                )
                .hint = Some("use the agent that feeds the sink instead".into());
                continue;
            }
            if !seen.insert(name.to_string()) {
                self.warn(
                    "duplicate-input",
                    format!("input `{name}` is listed twice"),
                    n.loc,
                );
                continue;
            }
            out.push(name.to_string());
        }
        out
    }

    /// A build warning, at the option it names (or the nearest node there).
    fn option_warning(&mut self, options: &Node, w: OptionsError) {
        let (node, key) = options.locate(&w.path);
        let loc = key.map_or(node.loc, |k| k.loc);
        self.warn("option-warning", w.message, loc).hint = w.hint;
    }

    fn option_error(&mut self, r: &RawAgent, kind: &str, options: &Node, e: OptionsError) {
        let (node, key) = options.locate(&e.path);
        let msg = e.message;
        // serde phrases: "unknown field `x`, expected one of `a`, `b`" /
        // "missing field `x`" / "invalid type: …". Rephrase in our terms and
        // point at the key for unknown options.
        if let Some(field) = between(&msg, "unknown field `", "`") {
            let expected: Vec<&str> = msg
                .split("expected one of ")
                .nth(1)
                .or_else(|| msg.split("expected ").nth(1))
                .map(|s| s.split(", ").map(|x| x.trim_matches('`')).collect())
                .unwrap_or_default();
            // The path may end at the unknown key itself or at its parent.
            let loc = match key {
                Some(k) if k.key_text() == field => k.loc,
                _ => node.entry(field).map_or(node.loc, |(k, _)| k.loc),
            };
            let hint = did_you_mean(field, expected.iter().copied())
                .unwrap_or_else(|| format!("options of `{kind}`: {}", expected.join(", ")));
            self.err(
                "unknown-option",
                format!(
                    "unknown option `{field}` for agent `{}` (kind `{kind}`)",
                    r.name
                ),
                loc,
            )
            .hint = Some(hint);
        } else if let Some(field) = between(&msg, "missing field `", "`") {
            let loc = key.map_or(r.key.loc, |k| k.loc);
            let loc = if e.path.is_empty() { r.key.loc } else { loc };
            self.err(
                "missing-option",
                format!("agent `{}` (kind `{kind}`) needs option `{field}`", r.name),
                loc,
            )
            .hint = Some(e.hint.unwrap_or_else(|| format!("add `{field}: …`")));
        } else {
            let what = e
                .path
                .iter()
                .map(PathSeg::to_string)
                .collect::<Vec<_>>()
                .join(".");
            let msg = if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
                format!("option `{what}` of agent `{}`: {}", r.name, msg)
            } else if what.is_empty() {
                format!("agent `{}`: {msg}", r.name)
            } else {
                format!("option `{what}` of agent `{}`: {msg}", r.name)
            };
            let code = if msg.contains("invalid type") {
                "wrong-type"
            } else {
                "bad-option"
            };
            let loc = if e.path.is_empty() {
                r.key.loc
            } else {
                node.loc
            };
            let d = self.err(code, msg, loc);
            d.hint = e.hint;
        }
    }

    fn check_graph(&mut self, agents: &[AgentDecl]) {
        use petgraph::graph::DiGraph;
        let mut g = DiGraph::<usize, ()>::new();
        let idx: Vec<_> = (0..agents.len()).map(|i| g.add_node(i)).collect();
        let by_name: HashMap<&str, usize> = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        for (i, a) in agents.iter().enumerate() {
            for input in &a.inputs {
                if let Some(&j) = by_name.get(input.as_str()) {
                    g.add_edge(idx[j], idx[i], ());
                }
            }
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            let cyclic = scc.len() > 1 || g.contains_edge(scc[0], scc[0]);
            if !cyclic {
                continue;
            }
            let path = cycle_path(&g, &scc);
            let first = agents[g[path[0]]].loc;
            let names: Vec<&str> = path.iter().map(|n| agents[g[*n]].name.as_str()).collect();
            self.err(
                "cycle",
                format!("agents form a cycle: {} → {}", names.join(" → "), names[0]),
                first,
            )
            .hint = Some("items flow one way; remove one of these inputs".into());
        }
        let consumed: HashSet<&str> = agents
            .iter()
            .flat_map(|a| a.inputs.iter().map(String::as_str))
            .collect();
        for a in agents {
            if a.role != Role::Sink && !consumed.contains(a.name.as_str()) {
                self.warn(
                    "unused-output",
                    format!("nothing consumes the output of `{}`", a.name),
                    a.loc,
                )
                .hint = Some(
                    "its items are still stored; add it to a sink's inputs to use them".into(),
                );
            }
        }
        if !agents.is_empty() && !agents.iter().any(|a| a.role == Role::Sink) {
            let loc = agents[0].loc;
            self.warn(
                "no-sink",
                "the pipeline has no sink: items are stored but delivered nowhere",
                loc,
            )
            .hint =
                Some("add e.g. `out: { kind: jsonl, inputs: [...], path: items.jsonl }`".into());
        }
    }
}

/// The nodes of one cycle inside a strongly connected component, in edge
/// order, starting from the component's first node in file order.
fn cycle_path(
    g: &petgraph::graph::DiGraph<usize, ()>,
    scc: &[petgraph::graph::NodeIndex],
) -> Vec<petgraph::graph::NodeIndex> {
    let set: HashSet<_> = scc.iter().copied().collect();
    let start = *scc.iter().min_by_key(|n| g[**n]).expect("non-empty scc");
    // Breadth-first search back to `start` within the component gives the
    // shortest cycle through it.
    let mut prev = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<_> = g.neighbors(n).filter(|m| set.contains(m)).collect();
        next.sort_by_key(|m| g[*m]);
        for m in next {
            if m == start {
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    vec![start]
}

fn between<'s>(s: &'s str, start: &str, end: &str) -> Option<&'s str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The message of a YAML error without the position (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or(&s).trim();
    let first = match first.find(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.trim_start_matches("error: ");
    // Drop advice aimed at programmers using the library.
    match first.find(", set DuplicateKeyPolicy") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// Expands `${VAR}` and `${VAR:-default}`; `$${` is a literal `${`. Returns
/// the name of the first unset variable without a default.
pub fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            match env(name)
                .filter(|v| !v.is_empty())
                .or(default.map(String::from))
            {
                Some(v) => out.push_str(&v),
                None => return Err(name.to_string()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = |k: &str| (k == "A").then(|| "x".to_string());
        assert_eq!(expand_env("a${A}b", &env).unwrap(), "axb");
        assert_eq!(expand_env("${B:-d}", &env).unwrap(), "d");
        assert_eq!(expand_env("$${A} $5", &env).unwrap(), "${A} $5");
        assert_eq!(expand_env("${B}", &env).unwrap_err(), "B");
    }
}
