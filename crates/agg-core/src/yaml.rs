//! A YAML tree that remembers where every node came from.
//!
//! Pipeline validation has to point at the exact line and column of a mistake,
//! including mistakes that are only visible after parsing (an input naming no
//! agent, a bad cron string, an unknown option of one agent kind). serde-saphyr
//! reports positions for syntax errors, and its [`Spanned`] wrapper carries the
//! position of any value; we deserialize the whole document into [`Node`]s built
//! from `Spanned` values so every later check can still name a location.
//!
//! Typed options are then obtained by turning a node into `serde_json::Value`
//! and deserializing that with `serde_path_to_error`; the error's path leads back
//! to the node, hence to the location.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Index of a file in a [`crate::diag::SourceMap`].
pub type SourceId = usize;

/// A position in one source file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub source: SourceId,
    pub line: u32,
    pub column: u32,
}

/// A YAML node and its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

/// The shapes a YAML node can take. Maps keep their keys' order and positions
/// because diagnostics and `agg graph` both follow the file's order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(value: Value, loc: Loc) -> Self {
        Node { value, loc }
    }

    /// Parses one YAML document. Duplicate keys are errors (serde-saphyr's
    /// default policy), which is what a pipeline author wants: a second
    /// `feeds:` silently winning would hide a mistake. Booleans follow YAML
    /// 1.2 (`true`/`false` only), so an agent named `y` or an option value
    /// `no` stays a string instead of turning into a boolean.
    pub fn parse(text: &str, source: SourceId) -> Result<Node, serde_saphyr::Error> {
        let options = serde_saphyr::options! {
            strict_booleans: true,
            with_snippet: false,
        };
        let mut node: Node = serde_saphyr::from_str_with_options(text, options)?;
        node.set_source(source);
        Ok(node)
    }

    fn set_source(&mut self, source: SourceId) {
        self.loc.source = source;
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.set_source(source)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.set_source(source);
                v.set_source(source);
            }),
            _ => {}
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The entry of a map whose key is `key`, with the key node (for locating
    /// "unknown option" errors on the key itself).
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(k, v)| (k, v))
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// A map key as text; YAML allows `1:` or `true:` as keys, and we treat them
    /// by their printed form.
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "~".into(),
            Value::Seq(_) | Value::Map(_) => "<complex key>".into(),
        }
    }

    /// What kind of node this is, in the words an error message uses.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON for typed deserialization of agent options.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Follows a serde path (map keys and sequence indices) as far as it goes
    /// and returns the deepest node reached, plus the key node of the last map
    /// step (errors about a key, such as "unknown field", point at the key).
    pub fn locate<'a>(&'a self, path: &[PathSeg]) -> (&'a Node, Option<&'a Node>) {
        let mut node = self;
        let mut key = None;
        for seg in path {
            let next = match (seg, &node.value) {
                (PathSeg::Key(k), Value::Map(entries)) => entries
                    .iter()
                    .find(|(kn, _)| &kn.key_text() == k)
                    .map(|(kn, v)| (Some(kn), v)),
                (PathSeg::Index(i), Value::Seq(items)) => items.get(*i).map(|n| (None, n)),
                _ => None,
            };
            match next {
                Some((k, n)) => {
                    key = k;
                    node = n;
                }
                None => break,
            }
        }
        (node, key)
    }
}

/// One step of a path into a node tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl fmt::Display for PathSeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSeg::Key(k) => write!(f, "{k}"),
            PathSeg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Converts a `serde_path_to_error` path into our segments.
pub fn path_from_serde(path: &serde_path_to_error::Path) -> Vec<PathSeg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|seg| match seg {
            Segment::Map { key } => Some(PathSeg::Key(key.clone())),
            Segment::Seq { index } => Some(PathSeg::Index(*index)),
            Segment::Enum { variant } => Some(PathSeg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

fn loc_of(l: &serde_saphyr::Location) -> Loc {
    Loc {
        source: 0,
        line: l.line() as u32,
        column: l.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            loc: loc_of(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_positions() {
        let doc = "name: x\nagents:\n  a: { kind: rss, feeds: [u1, u2] }\n";
        let n = Node::parse(doc, 3).unwrap();
        let agents = n.get("agents").unwrap();
        let (key, a) = agents.entry("a").unwrap();
        assert_eq!((key.loc.line, key.loc.column), (3, 3));
        let feeds = a.get("feeds").unwrap();
        let Value::Seq(items) = &feeds.value else {
            panic!()
        };
        assert_eq!(items[1].as_str(), Some("u2"));
        assert_eq!(items[1].loc.line, 3);
        assert_eq!(items[1].loc.source, 3);
        assert!(items[1].loc.column > key.loc.column);
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let n = Node::parse("y: on\nno: yes\n", 0).unwrap();
        assert_eq!(n.get("y").unwrap().as_str(), Some("on"));
        assert_eq!(n.get("no").unwrap().as_str(), Some("yes"));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = Node::parse("a: 1\na: 2\n", 0).unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn locate_follows_paths() {
        let n = Node::parse("x:\n  y: [1, {z: true}]\n", 0).unwrap();
        let (node, key) = n.locate(&[
            PathSeg::Key("x".into()),
            PathSeg::Key("y".into()),
            PathSeg::Index(1),
            PathSeg::Key("z".into()),
        ]);
        assert_eq!(node.value, Value::Bool(true));
        assert_eq!(key.unwrap().key_text(), "z");
    }
}
