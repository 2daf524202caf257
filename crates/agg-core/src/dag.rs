//! The pipeline as a petgraph DAG: edges run from an input to its consumer.

use std::collections::HashSet;
use std::fmt::Write;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::agent::Role;
use crate::pipeline::Pipeline;

/// A validated pipeline's graph. Node weights index `Pipeline::agents`.
pub struct Dag {
    pub graph: DiGraph<usize, ()>,
    nodes: Vec<NodeIndex>,
}

impl Dag {
    /// Builds the graph. Validation has already rejected cycles and unknown
    /// inputs, so this cannot fail.
    pub fn build(p: &Pipeline) -> Dag {
        let mut graph = DiGraph::new();
        let nodes: Vec<_> = (0..p.agents.len()).map(|i| graph.add_node(i)).collect();
        for (i, a) in p.agents.iter().enumerate() {
            for input in &a.inputs {
                if let Some(j) = p.agents.iter().position(|b| &b.name == input) {
                    graph.add_edge(nodes[j], nodes[i], ());
                }
            }
        }
        Dag { graph, nodes }
    }

    /// Agents in an order where every agent comes after its inputs (file
    /// order among independent agents, so output is stable).
    pub fn order(&self) -> Vec<usize> {
        let mut done = HashSet::new();
        let mut out = Vec::new();
        while out.len() < self.nodes.len() {
            let before = out.len();
            for (i, n) in self.nodes.iter().enumerate() {
                if done.contains(&i) {
                    continue;
                }
                let ready = self
                    .graph
                    .neighbors_directed(*n, Direction::Incoming)
                    .all(|m| done.contains(&self.graph[m]));
                if ready {
                    done.insert(i);
                    out.push(i);
                }
            }
            if out.len() == before {
                break; // a cycle; validation prevents it
            }
        }
        out
    }

    /// Indices of the agents that feed `i`, directly or not, plus `i`.
    pub fn ancestors(&self, i: usize) -> HashSet<usize> {
        let mut seen = HashSet::from([i]);
        let mut stack = vec![self.nodes[i]];
        while let Some(n) = stack.pop() {
            for m in self.graph.neighbors_directed(n, Direction::Incoming) {
                if seen.insert(self.graph[m]) {
                    stack.push(m);
                }
            }
        }
        seen
    }

    /// Indices of the agents that consume `i`'s output.
    pub fn consumers(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .graph
            .neighbors_directed(self.nodes[i], Direction::Outgoing)
            .map(|m| self.graph[m])
            .collect();
        v.sort_unstable();
        v
    }
}

/// Output formats of `agg graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// Renders the pipeline's graph for people (text), Graphviz (dot) or
/// Markdown/web pages (mermaid).
pub fn render(p: &Pipeline, format: GraphFormat) -> String {
    let dag = Dag::build(p);
    let mut s = String::new();
    match format {
        GraphFormat::Text => {
            let _ = writeln!(s, "pipeline {}", p.name);
            for i in dag.order() {
                let a = &p.agents[i];
                let _ = write!(s, "  {} ({} {})", a.name, a.role.as_str(), a.kind);
                if !a.inputs.is_empty() {
                    let _ = write!(s, " <- {}", a.inputs.join(", "));
                }
                s.push('\n');
            }
        }
        GraphFormat::Dot => {
            let _ = writeln!(s, "digraph \"{}\" {{\n  rankdir=LR;", escape_dot(&p.name));
            for a in &p.agents {
                let shape = match a.role {
                    Role::Source => "invhouse",
                    Role::Transform => "box",
                    Role::Sink => "house",
                };
                let _ = writeln!(
                    s,
                    "  \"{}\" [label=\"{}\\n{}\", shape={shape}];",
                    escape_dot(&a.name),
                    escape_dot(&a.name),
                    escape_dot(&a.kind)
                );
            }
            for a in &p.agents {
                for i in &a.inputs {
                    let _ = writeln!(s, "  \"{}\" -> \"{}\";", escape_dot(i), escape_dot(&a.name));
                }
            }
            s.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            s.push_str("flowchart LR\n");
            for a in &p.agents {
                let (open, close) = match a.role {
                    Role::Source => ("[/", "/]"),
                    Role::Transform => ("[", "]"),
                    Role::Sink => ("[\\", "\\]"),
                };
                let _ = writeln!(s, "  {}{open}\"{}<br/>{}\"{close}", a.name, a.name, a.kind);
            }
            for a in &p.agents {
                for i in &a.inputs {
                    let _ = writeln!(s, "  {i} --> {}", a.name);
                }
            }
        }
    }
    s
}

fn escape_dot(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
