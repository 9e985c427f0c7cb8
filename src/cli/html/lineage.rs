//! `dv lineage --format svg|html`: the step graph as a picture, laid out here (no Graphviz needed). Columns by
//! dependency depth, left to right: data no step wrote, then each step one column right of the deepest path it
//! reads, its outputs one column right of it. Steps are blue boxes, paths white, the path asked about yellow.

use std::collections::HashMap;
use std::fmt::Write;

use super::{escape, page, path};
use dv_core::ops::run::Lineage;

const BOX_H: f64 = 28.0;
const ROW_GAP: f64 = 14.0;
const COL_GAP: f64 = 70.0;
const MARGIN: f64 = 16.0;
/// The width of a character of the 12 px monospace font, with room to spare.
const CHAR_W: f64 = 7.4;
/// Longer labels are cut (the whole name is the box's tooltip).
const MAX_LABEL: usize = 48;

struct Node {
    id: String,
    label: String,
    step: bool,
    x: f64,
    y: f64,
    w: f64,
}

/// The graph as a standalone SVG document.
pub fn svg(l: &Lineage) -> String {
    if l.steps.is_empty() {
        let text = format!(
            "No recorded step reads or writes {}",
            dv_core::paths::quoted(&l.path)
        );
        let w = text.chars().count() as f64 * CHAR_W + 2.0 * MARGIN;
        return format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"60\" viewBox=\"0 0 {w:.0} 60\" \
             role=\"img\"><text x=\"{MARGIN}\" y=\"34\" font-size=\"12\" font-family=\"monospace\">{}</text></svg>\n",
            escape(&text)
        );
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut depth: Vec<usize> = Vec::new();
    let mut add = |nodes: &mut Vec<Node>, depth: &mut Vec<usize>, id: &str, d: usize| -> usize {
        if let Some(&i) = index.get(id) {
            depth[i] = depth[i].max(d);
            return i;
        }
        let step = id.strip_prefix("step:");
        let full = match step {
            Some(name) => name.to_string(),
            None => dv_core::paths::quoted(id).into_owned(),
        };
        let label = if full.chars().count() > MAX_LABEL {
            let tail: String = full
                .chars()
                .rev()
                .take(MAX_LABEL - 1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            full
        };
        let w = label.chars().count() as f64 * CHAR_W + 20.0;
        nodes.push(Node {
            id: id.to_string(),
            label,
            step: step.is_some(),
            x: 0.0,
            y: 0.0,
            w,
        });
        depth.push(d);
        index.insert(id.to_string(), nodes.len() - 1);
        nodes.len() - 1
    };
    // The steps come in dependency order, so what a step reads has its depth before the step is placed.
    for s in &l.steps {
        let me = format!("step:{}", s.name);
        let mut d = 0;
        for e in l.edges.iter().filter(|e| e.to == me) {
            let i = add(&mut nodes, &mut depth, &e.from, 0);
            d = d.max(depth[i] + 1);
        }
        add(&mut nodes, &mut depth, &me, d);
        for e in l.edges.iter().filter(|e| e.from == me) {
            add(&mut nodes, &mut depth, &e.to, d + 1);
        }
    }
    let columns = depth.iter().max().map_or(0, |m| m + 1);
    let mut col_nodes: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, d) in depth.iter().enumerate() {
        col_nodes[*d].push(i);
    }
    let tallest = col_nodes.iter().map(Vec::len).max().unwrap_or(0) as f64;
    let height = tallest * (BOX_H + ROW_GAP) - ROW_GAP + 2.0 * MARGIN;
    let mut x = MARGIN;
    for col in &col_nodes {
        let w = col.iter().map(|&i| nodes[i].w).fold(0.0, f64::max);
        let col_h = col.len() as f64 * (BOX_H + ROW_GAP) - ROW_GAP;
        let mut y = (height - col_h) / 2.0;
        for &i in col {
            nodes[i].x = x + (w - nodes[i].w) / 2.0;
            nodes[i].y = y;
            y += BOX_H + ROW_GAP;
        }
        x += w + COL_GAP;
    }
    let width = x - COL_GAP + MARGIN;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" font-family=\"ui-monospace, Menlo, Consolas, monospace\" \
         font-size=\"12\">\n<title>Lineage of {}</title>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#6e7781\"/></marker></defs>\n",
        escape(&dv_core::paths::quoted(&l.path))
    );
    for e in &l.edges {
        let (Some(&a), Some(&b)) = (index.get(&e.from), index.get(&e.to)) else {
            continue;
        };
        let (a, b) = (&nodes[a], &nodes[b]);
        let (x1, y1, x2, y2) = (a.x + a.w, a.y + BOX_H / 2.0, b.x, b.y + BOX_H / 2.0);
        let dx = ((x2 - x1) / 2.0).max(20.0);
        let _ = writeln!(
            s,
            "<path class=\"edge\" d=\"M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}\" fill=\"none\" \
             stroke=\"#6e7781\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>",
            x1 + dx,
            x2 - dx
        );
    }
    for n in &nodes {
        let focus = !n.step && n.id == l.path;
        let (fill, stroke, weight, rx) = if n.step {
            ("#ddf4ff", "#0550ae", "bold", 8)
        } else if focus {
            ("#fff8c5", "#9a6700", "bold", 2)
        } else {
            ("#ffffff", "#8c959f", "normal", 2)
        };
        let kind = if n.step { "step" } else { "path" };
        let title = if n.step {
            format!("step {}", n.label)
        } else {
            dv_core::paths::quoted(&n.id).into_owned()
        };
        let _ = writeln!(
            s,
            "<g class=\"{kind}\"><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BOX_H}\" \
             rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"{weight}\" fill=\"#1f2328\">{}</text></g>",
            escape(&title),
            n.x,
            n.y,
            n.w,
            if focus { 2 } else { 1 },
            n.x + n.w / 2.0,
            n.y + BOX_H / 2.0 + 4.0,
            escape(&n.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The graph in a page, with each step's command, inputs and outputs below it.
pub fn html(l: &Lineage) -> String {
    let mut b = format!(
        "<h1>Lineage of <code>{}</code></h1>\n<p class=\"muted\">Recorded steps (<code>dv run</code>) that made \
         this path and that read it: blue boxes are steps, white boxes the files and folders they read and write, \
         left to right.</p>\n<div class=\"scroll\">\n{}</div>\n",
        path(&l.path),
        svg(l)
    );
    if !l.steps.is_empty() {
        b.push_str(
            "<h3>Steps</h3>\n<div class=\"scroll\"><table class=\"steps\">\n<tr><th>Step</th><th>Command</th>\
             <th>Reads</th><th>Writes</th><th>Last run</th></tr>\n",
        );
        for s in &l.steps {
            let list = |items: Vec<String>| items.join("<br>");
            let reads = s
                .deps
                .iter()
                .map(|d| format!("<code>{}</code>", path(&d.path)))
                .chain(
                    s.params
                        .iter()
                        .map(|p| format!("<code>{}</code>", escape(&p.label()))),
                )
                .collect();
            let writes = s
                .outs
                .iter()
                .map(|o| format!("<code>{}</code>", path(&o.path)))
                .collect();
            let run = match &s.run {
                Some(r) => format!(
                    "commit <code>{}</code>, exit status {}, {:.1} s",
                    escape(
                        r.git_commit
                            .as_deref()
                            .map_or("(none)", |c| &c[..c.len().min(10)])
                    ),
                    r.exit_status,
                    r.duration_ms as f64 / 1000.0
                ),
                None => "has not run".into(),
            };
            let _ = writeln!(
                b,
                "<tr><td><code>{}</code></td><td class=\"v cmd\">{}</td><td>{}</td><td>{}</td><td>{run}</td></tr>",
                escape(&s.name),
                escape(&dv_core::ops::run::shell_words(&s.command)),
                list(reads),
                list(writes)
            );
        }
        b.push_str("</table></div>\n");
    }
    page(
        &format!("dv lineage {}", dv_core::paths::quoted(&l.path)),
        &b,
    )
}
