//! The pipeline's DAG drawn as SVG on the server.
//!
//! The UI has no front-end build step and the reader's browser may have no
//! network (no CDN for a diagram library), so the picture is computed here:
//! a layered (Sugiyama-style) layout that is small enough to read and
//! deterministic, so the same pipeline always draws the same picture.
//!
//! 1. **Layers**: longest path from the sources, so every edge points down
//!    at least one layer and a sink sits below everything that feeds it.
//! 2. **Long edges** get a virtual point in every layer they cross. The
//!    virtual points take horizontal room like thin nodes, so an edge never
//!    runs through a box of a layer it passes.
//! 3. **Order within a layer**: a few down/up sweeps of the barycenter
//!    heuristic (each vertex moves to the mean position of its neighbours in
//!    the adjacent layer), which removes most crossings; ties keep file order.
//! 4. **Coordinates**: each vertex wants to sit under the mean of its
//!    predecessors; a left-to-right pass then pushes vertices apart so boxes
//!    never overlap.

use std::fmt::Write;

use agg_core::{Pipeline, Role};

/// Box height: two lines of text.
const NODE_H: f32 = 44.0;
/// Room between layers (where the edges bend).
const LAYER_GAP: f32 = 46.0;
/// Room between neighbours in a layer.
const H_GAP: f32 = 24.0;
/// Width a virtual point of a long edge takes.
const VIRTUAL_W: f32 = 8.0;
const MARGIN: f32 = 16.0;
const PAD_X: f32 = 12.0;
/// Monospace glyph advance at the font sizes used (0.6 em), so widths can be
/// computed without font metrics.
const NAME_CHAR_W: f32 = 13.0 * 0.6;
const KIND_CHAR_W: f32 = 11.0 * 0.6;
/// Labels longer than this are cut with an ellipsis (the full text stays in
/// the node's tooltip).
const MAX_LABEL: usize = 40;
/// Barycenter sweeps (down then up); a handful is enough for pipelines.
const SWEEPS: usize = 4;

/// What a node shows.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub kind: String,
    pub role: Role,
}

/// A placed box (top-left corner, size) and its layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub layer: usize,
}

/// An edge as a polyline from the bottom of `from` to the top of `to`,
/// through the virtual points of the layers it crosses.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub from: usize,
    pub to: usize,
    pub points: Vec<(f32, f32)>,
}

/// The computed picture, in SVG user units.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// One per node, in input order.
    pub nodes: Vec<Placed>,
    pub edges: Vec<Routed>,
    pub width: f32,
    pub height: f32,
}

fn label(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_LABEL - 1).collect();
        t.push('…');
        t
    }
}

fn node_width(n: &NodeSpec) -> f32 {
    let name = label(&n.name).chars().count() as f32 * NAME_CHAR_W;
    let kind = label(&n.kind).chars().count() as f32 * KIND_CHAR_W;
    name.max(kind).max(40.0) + 2.0 * PAD_X
}

/// Longest-path layer of every node. `edges` must form a DAG (validation
/// guarantees it); nodes on a cycle, should one slip through, stay in
/// layer 0 rather than looping.
pub fn layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        indegree[b] += 1;
        out[a].push(b);
    }
    let mut layer = vec![0usize; n];
    // Kahn's algorithm, lowest index first, so the result never depends on
    // hash order.
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop_first() {
        for &j in &out[i] {
            layer[j] = layer[j].max(layer[i] + 1);
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert(j);
            }
        }
    }
    layer
}

/// Lays out `nodes` with `edges` (from, to) as node indices.
pub fn layout(nodes: &[NodeSpec], edges: &[(usize, usize)]) -> Layout {
    let n = nodes.len();
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| a < n && b < n && a != b)
        .collect();
    let node_layer = layers(n, &edges);
    let mut g = Vertices::new(nodes, &edges, &node_layer);
    g.order_layers();
    let cx = g.centres();
    let nv = g.layer.len();
    let right = (0..nv)
        .map(|v| cx[v] + g.width[v] / 2.0)
        .fold(0f32, f32::max);
    let placed: Vec<Placed> = (0..n)
        .map(|v| Placed {
            x: cx[v] - g.width[v] / 2.0,
            y: top(g.layer[v]),
            w: g.width[v],
            h: NODE_H,
            layer: g.layer[v],
        })
        .collect();
    let routed = route(&edges, &g, &cx, &placed);
    let depth = g.rows.len();
    Layout {
        nodes: placed,
        edges: routed,
        width: right + MARGIN,
        height: if depth == 0 {
            2.0 * MARGIN
        } else {
            top(depth - 1) + NODE_H + MARGIN
        },
    }
}

/// The top of layer `l`.
fn top(l: usize) -> f32 {
    MARGIN + l as f32 * (NODE_H + LAYER_GAP)
}

/// The graph the layout works on: the real nodes, then one virtual vertex
/// per layer a long edge crosses (steps 1 and 2), so that every segment
/// joins adjacent layers.
struct Vertices {
    /// Each vertex's layer.
    layer: Vec<usize>,
    /// Each vertex's width (a box's, or `VIRTUAL_W`).
    width: Vec<f32>,
    /// Per edge, the vertices it runs through, its two ends included.
    chains: Vec<Vec<usize>>,
    /// The vertices of each layer, in their order within it.
    rows: Vec<Vec<usize>>,
    preds: Vec<Vec<usize>>,
    succs: Vec<Vec<usize>>,
}

impl Vertices {
    fn new(nodes: &[NodeSpec], edges: &[(usize, usize)], node_layer: &[usize]) -> Self {
        let mut layer = node_layer.to_vec();
        let mut width: Vec<f32> = nodes.iter().map(node_width).collect();
        let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
        let mut segments: Vec<(usize, usize)> = Vec::new();
        for &(a, b) in edges {
            let mut chain = vec![a];
            // An edge the layering could not point down (a cycle) is drawn
            // straight, without virtual points.
            if node_layer[b] > node_layer[a] {
                for l in node_layer[a] + 1..node_layer[b] {
                    layer.push(l);
                    width.push(VIRTUAL_W);
                    chain.push(layer.len() - 1);
                }
            }
            chain.push(b);
            segments.extend(chain.windows(2).map(|w| (w[0], w[1])));
            chains.push(chain);
        }
        let nv = layer.len();
        let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
        for v in 0..nv {
            rows[layer[v]].push(v);
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nv];
        let mut succs: Vec<Vec<usize>> = vec![Vec::new(); nv];
        for &(a, b) in &segments {
            succs[a].push(b);
            preds[b].push(a);
        }
        Vertices {
            layer,
            width,
            chains,
            rows,
            preds,
            succs,
        }
    }

    /// Step 3, order within layers: down/up sweeps of the barycenter
    /// heuristic, which remove most crossings.
    fn order_layers(&mut self) {
        let depth = self.rows.len();
        let mut pos = vec![0f32; self.layer.len()];
        let set_pos = |rows: &[Vec<usize>], pos: &mut [f32]| {
            for row in rows {
                for (k, &v) in row.iter().enumerate() {
                    pos[v] = k as f32;
                }
            }
        };
        set_pos(&self.rows, &mut pos);
        let reorder = |row: &mut [usize], neighbours: &[Vec<usize>], pos: &[f32]| {
            let key = |v: usize| -> f32 {
                let ns = &neighbours[v];
                if ns.is_empty() {
                    pos[v]
                } else {
                    ns.iter().map(|&u| pos[u]).sum::<f32>() / ns.len() as f32
                }
            };
            // Stable sort: equal keys keep their current (initially file) order.
            row.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
        };
        for _ in 0..SWEEPS {
            for l in 1..depth {
                reorder(&mut self.rows[l], &self.preds, &pos);
                set_pos(&self.rows, &mut pos);
            }
            for l in (0..depth.saturating_sub(1)).rev() {
                reorder(&mut self.rows[l], &self.succs, &pos);
                set_pos(&self.rows, &mut pos);
            }
        }
    }

    /// Step 4, each vertex's horizontal centre, the picture shifted to its
    /// left margin.
    ///
    /// Each vertex wants its centre at the mean of its predecessors'
    /// (sources are packed left to right). One pass from the left pushes
    /// vertices right until they clear their left neighbour, one from the
    /// right pushes them left; the average of the two is as close to the
    /// wishes on both sides (a group of siblings stays centred under its
    /// parent) and still clears every neighbour, since both passes do and
    /// the spacing constraints are linear.
    fn centres(&self) -> Vec<f32> {
        let (preds, v_width) = (&self.preds, &self.width);
        let nv = v_width.len();
        let mut cx = vec![0f32; nv];
        for row in &self.rows {
            let mut packed = 0f32;
            let want: Vec<f32> = row
                .iter()
                .map(|&v| {
                    if preds[v].is_empty() {
                        let c = packed + v_width[v] / 2.0;
                        packed += v_width[v] + H_GAP;
                        c
                    } else {
                        packed += v_width[v] + H_GAP;
                        preds[v].iter().map(|&u| cx[u]).sum::<f32>() / preds[v].len() as f32
                    }
                })
                .collect();
            let mut from_left = want.clone();
            for k in 1..row.len() {
                let min = from_left[k - 1] + (v_width[row[k - 1]] + v_width[row[k]]) / 2.0 + H_GAP;
                from_left[k] = from_left[k].max(min);
            }
            let mut from_right = want;
            for k in (0..row.len().saturating_sub(1)).rev() {
                let max = from_right[k + 1] - (v_width[row[k + 1]] + v_width[row[k]]) / 2.0 - H_GAP;
                from_right[k] = from_right[k].min(max);
            }
            for (k, &v) in row.iter().enumerate() {
                cx[v] = (from_left[k] + from_right[k]) / 2.0;
            }
        }
        let left = (0..nv)
            .map(|v| cx[v] - v_width[v] / 2.0)
            .fold(f32::INFINITY, f32::min);
        let shift = if left.is_finite() { MARGIN - left } else { 0.0 };
        for c in &mut cx {
            *c += shift;
        }
        cx
    }
}

/// Each edge as a polyline through its virtual points.
///
/// Ports: a node's outgoing edges leave from points spread along its
/// bottom, ordered by where they go (and incoming ones arrive along its
/// top), so parallel edges do not sit on top of each other.
fn route(edges: &[(usize, usize)], g: &Vertices, cx: &[f32], placed: &[Placed]) -> Vec<Routed> {
    let (chains, v_layer) = (&g.chains, &g.layer);
    let port = |ends: &[(usize, f32)], node: usize, target_x: f32| -> f32 {
        let mut xs: Vec<f32> = ends.iter().map(|e| e.1).collect();
        xs.sort_by(f32::total_cmp);
        let k = xs.iter().position(|&x| x == target_x).unwrap_or(0);
        let w = placed[node].w * 0.6;
        if xs.len() <= 1 {
            cx[node]
        } else {
            cx[node] - w / 2.0 + w * k as f32 / (xs.len() - 1) as f32
        }
    };
    let mut routed = Vec::with_capacity(edges.len());
    for (e, chain) in edges.iter().zip(chains) {
        let (a, b) = *e;
        let first_hop = chain[1];
        let last_hop = chain[chain.len() - 2];
        let outs: Vec<(usize, f32)> = chains
            .iter()
            .filter(|c| c[0] == a)
            .map(|c| (c[1], cx[c[1]]))
            .collect();
        let ins: Vec<(usize, f32)> = chains
            .iter()
            .filter(|c| c[c.len() - 1] == b)
            .map(|c| (c[c.len() - 2], cx[c[c.len() - 2]]))
            .collect();
        let mut points = vec![(port(&outs, a, cx[first_hop]), top(v_layer[a]) + NODE_H)];
        for &v in &chain[1..chain.len() - 1] {
            points.push((cx[v], top(v_layer[v])));
            points.push((cx[v], top(v_layer[v]) + NODE_H));
        }
        points.push((port(&ins, b, cx[last_hop]), top(v_layer[b])));
        routed.push(Routed {
            from: a,
            to: b,
            points,
        });
    }
    routed
}

fn esc(s: &str) -> String {
    crate::feeds::esc(s)
}

/// Fill and stroke by role: sources green, transforms blue, sinks amber.
fn colours(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Source => ("#e3f4e1", "#3d8b37"),
        Role::Transform => ("#e2ecfa", "#3b6bb5"),
        Role::Sink => ("#fdf0d9", "#b7791f"),
    }
}

/// The SVG document for a layout (inline in a page: no XML prolog).
pub fn render(title: &str, nodes: &[NodeSpec], l: &Layout) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="dag" role="img" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"><title>{t}</title>"#,
        w = l.width,
        h = l.height,
        t = esc(title)
    );
    s.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>"##,
    );
    for e in &l.edges {
        // Vertical cubic curves between consecutive points: smooth, and
        // always heading down.
        let mut d = String::new();
        let (x0, y0) = e.points[0];
        let _ = write!(d, "M{x0:.1},{y0:.1}");
        for w in e.points.windows(2) {
            let ((xa, ya), (xb, yb)) = (w[0], w[1]);
            if (xa - xb).abs() < 0.05 {
                let _ = write!(d, " L{xb:.1},{yb:.1}");
            } else {
                let my = (ya + yb) / 2.0;
                let _ = write!(d, " C{xa:.1},{my:.1} {xb:.1},{my:.1} {xb:.1},{yb:.1}");
            }
        }
        let _ = write!(
            s,
            r##"<path class="edge" data-from="{f}" data-to="{t}" d="{d}" fill="none" stroke="#667" stroke-width="1.4" marker-end="url(#arrow)"/>"##,
            f = esc(&nodes[e.from].name),
            t = esc(&nodes[e.to].name),
        );
    }
    for (n, p) in nodes.iter().zip(&l.nodes) {
        let (fill, stroke) = colours(n.role);
        let _ = write!(
            s,
            r##"<g class="node {role}" data-agent="{name}"><title>{name}: {kind} ({role})</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/><text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" font-size="13" font-weight="700" fill="#222">{short}</text><text x="{cx:.1}" y="{ky:.1}" text-anchor="middle" font-size="11" fill="#555">{kind_short}</text></g>"##,
            role = n.role.as_str(),
            name = esc(&n.name),
            kind = esc(&n.kind),
            x = p.x,
            y = p.y,
            w = p.w,
            h = p.h,
            cx = p.x + p.w / 2.0,
            ty = p.y + 19.0,
            ky = p.y + 35.0,
            short = esc(&label(&n.name)),
            kind_short = esc(&label(&n.kind)),
        );
    }
    s.push_str("</svg>");
    s
}

/// The pipeline's DAG as an inline SVG element.
pub fn pipeline_svg(p: &Pipeline) -> String {
    let dag = agg_core::dag::Dag::build(p);
    let nodes: Vec<NodeSpec> = p
        .agents
        .iter()
        .map(|a| NodeSpec {
            name: a.name.clone(),
            kind: a.kind.clone(),
            role: a.role,
        })
        .collect();
    let mut edges: Vec<(usize, usize)> = dag
        .graph
        .raw_edges()
        .iter()
        .map(|e| (dag.graph[e.source()], dag.graph[e.target()]))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    render(
        &format!("pipeline {}", p.name),
        &nodes,
        &layout(&nodes, &edges),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: &str, role: Role) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            kind: kind.into(),
            role,
        }
    }

    /// The shape of `pipelines/morning.yaml`: four sources into dedupe,
    /// then a chain, then two sinks; plus a long edge (tech → page) that
    /// skips layers.
    fn morning() -> (Vec<NodeSpec>, Vec<(usize, usize)>) {
        let nodes = vec![
            spec("tech", "file", Role::Source),
            spec("world", "file", Role::Source),
            spec("sport", "file", Role::Source),
            spec("science", "file", Role::Source),
            spec("fresh", "dedupe", Role::Transform),
            spec("scored", "score", Role::Transform),
            spec("sagas", "saga", Role::Transform),
            spec("page", "html", Role::Sink),
            spec("items", "jsonl", Role::Sink),
        ];
        let edges = vec![
            (0, 4),
            (1, 4),
            (2, 4),
            (3, 4),
            (4, 5),
            (5, 6),
            (6, 7),
            (6, 8),
            (0, 7),
        ];
        (nodes, edges)
    }

    fn overlaps(a: &Placed, b: &Placed) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    #[test]
    fn layers_are_longest_paths() {
        let (nodes, edges) = morning();
        assert_eq!(layers(nodes.len(), &edges), vec![0, 0, 0, 0, 1, 2, 3, 4, 4]);
    }

    #[test]
    fn boxes_never_overlap_and_edges_go_down() {
        let (nodes, edges) = morning();
        let l = layout(&nodes, &edges);
        assert_eq!(l.nodes.len(), nodes.len());
        for (i, a) in l.nodes.iter().enumerate() {
            assert!(a.x >= 0.0 && a.y >= 0.0, "{a:?}");
            assert!(a.x + a.w <= l.width && a.y + a.h <= l.height, "{a:?} fits");
            for b in &l.nodes[i + 1..] {
                assert!(!overlaps(a, b), "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(l.edges.len(), edges.len());
        for e in &l.edges {
            let (from, to) = (&l.nodes[e.from], &l.nodes[e.to]);
            assert!(to.layer > from.layer, "{e:?} goes down a layer");
            assert_eq!(e.points.first().unwrap().1, from.y + from.h);
            assert_eq!(e.points.last().unwrap().1, to.y);
            // Monotone: never climbs back up.
            assert!(e.points.windows(2).all(|w| w[1].1 >= w[0].1), "{e:?}");
            // A long edge passes through no box of the layers it crosses.
            for w in e.points.windows(2).filter(|w| w[0].0 == w[1].0) {
                let (x, y0, y1) = (w[0].0, w[0].1, w[1].1);
                for (k, b) in l.nodes.iter().enumerate() {
                    if k != e.from && k != e.to && b.y < y1 && y0 < b.y + b.h {
                        assert!(x < b.x || x > b.x + b.w, "edge {e:?} crosses box {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_long_edge_gets_a_point_per_layer_it_crosses() {
        let (nodes, edges) = morning();
        let l = layout(&nodes, &edges);
        let long = l.edges.iter().find(|e| (e.from, e.to) == (0, 7)).unwrap();
        // tech (layer 0) → page (layer 4): three layers crossed, two points
        // (top and bottom of the layer band) each, plus both ends.
        assert_eq!(long.points.len(), 2 + 3 * 2);
        let short = l.edges.iter().find(|e| (e.from, e.to) == (4, 5)).unwrap();
        assert_eq!(short.points.len(), 2);
    }

    #[test]
    fn children_sit_centred_under_their_parent() {
        // sagas → page, items: the two sinks straddle sagas' centre.
        let nodes = vec![
            spec("sagas", "saga", Role::Transform),
            spec("page", "html", Role::Sink),
            spec("items", "jsonl", Role::Sink),
        ];
        let l = layout(&nodes, &[(0, 1), (0, 2)]);
        let centre = |p: &Placed| p.x + p.w / 2.0;
        let mid = (centre(&l.nodes[1]) + centre(&l.nodes[2])) / 2.0;
        assert!((mid - centre(&l.nodes[0])).abs() < 1.0, "{l:?}");
    }

    #[test]
    fn deterministic_and_escaped() {
        let (mut nodes, edges) = morning();
        nodes[8].name = "<items & co>".into();
        let a = render("p", &nodes, &layout(&nodes, &edges));
        let b = render("p", &nodes, &layout(&nodes, &edges));
        assert_eq!(a, b);
        assert!(a.contains("&lt;items &amp; co&gt;") && !a.contains("<items"));
        assert_eq!(a.matches("<g class=\"node ").count(), nodes.len());
        assert_eq!(a.matches("<path class=\"edge\"").count(), edges.len());
        assert!(a.contains("class=\"node source\"") && a.contains("class=\"node sink\""));
    }

    #[test]
    fn empty_and_single_and_wide() {
        let l = layout(&[], &[]);
        assert!(l.nodes.is_empty() && l.width > 0.0 && l.height > 0.0);
        let one = [spec("only", "file", Role::Source)];
        let l = layout(&one, &[]);
        assert_eq!(l.nodes[0].layer, 0);
        // Twenty sources into one sink: one row of twenty boxes, no overlap,
        // and the sink sits under them.
        let mut nodes: Vec<_> = (0..20)
            .map(|i| spec(&format!("feed{i}"), "rss", Role::Source))
            .collect();
        nodes.push(spec("out", "jsonl", Role::Sink));
        let edges: Vec<_> = (0..20).map(|i| (i, 20)).collect();
        let l = layout(&nodes, &edges);
        let mut row: Vec<&Placed> = l.nodes[..20].iter().collect();
        row.sort_by(|a, b| a.x.total_cmp(&b.x));
        assert!(row.windows(2).all(|w| w[0].x + w[0].w <= w[1].x));
        let sink = &l.nodes[20];
        assert!(sink.x > row[0].x && sink.x + sink.w < row[19].x + row[19].w);
    }

    #[test]
    fn long_labels_are_cut() {
        let long = "a".repeat(200);
        let nodes = [spec(&long, "file", Role::Source)];
        let l = layout(&nodes, &[]);
        assert!(l.nodes[0].w < 400.0);
        let svg = render("p", &nodes, &l);
        assert!(svg.contains('…') && svg.contains(&long), "tooltip keeps it");
    }
}
