//! `dv lineage`: the steps upstream and downstream of a path, and the edges between paths and steps.

use std::collections::BTreeSet;

use crate::Result;
use crate::steps::{Step, Steps};

/// Which way `lineage` walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    /// A path, or `step:NAME`.
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Lineage {
    pub path: String,
    /// The steps reached, in dependency order.
    pub steps: Vec<Step>,
    /// Input → step and step → output edges of those steps.
    pub edges: Vec<Edge>,
}

/// The steps that produced `path` (upstream) and the steps that use it (downstream), transitively.
pub fn lineage(steps: &Steps, path: &str, direction: Direction) -> Result<Lineage> {
    let mut reached: BTreeSet<usize> = BTreeSet::new();
    if direction != Direction::Downstream {
        let mut todo: Vec<String> = vec![path.to_string()];
        let mut seen_paths = BTreeSet::new();
        while let Some(p) = todo.pop() {
            if !seen_paths.insert(p.clone()) {
                continue;
            }
            for (i, s) in steps.steps.iter().enumerate() {
                if s.writes(&p) && reached.insert(i) {
                    todo.extend(s.deps.iter().map(|d| d.path.clone()));
                    todo.extend(s.params.iter().map(|p| p.file.clone()));
                }
            }
        }
    }
    if direction != Direction::Upstream {
        let mut todo: Vec<String> = vec![path.to_string()];
        let mut seen_paths = BTreeSet::new();
        let mut down = BTreeSet::new();
        while let Some(p) = todo.pop() {
            if !seen_paths.insert(p.clone()) {
                continue;
            }
            for (i, s) in steps.steps.iter().enumerate() {
                if s.reads(&p) && down.insert(i) {
                    todo.extend(s.outs.iter().map(|o| o.path.clone()));
                }
            }
        }
        reached.extend(down);
    }
    let order = steps.order()?;
    let mut out = Lineage {
        path: path.to_string(),
        steps: Vec::new(),
        edges: Vec::new(),
    };
    for i in order.into_iter().filter(|i| reached.contains(i)) {
        let s = &steps.steps[i];
        let node = format!("step:{}", s.name);
        for d in &s.deps {
            out.edges.push(Edge {
                from: d.path.clone(),
                to: node.clone(),
            });
        }
        for p in &s.params {
            out.edges.push(Edge {
                from: p.label(),
                to: node.clone(),
            });
        }
        for o in &s.outs {
            out.edges.push(Edge {
                from: node.clone(),
                to: o.path.clone(),
            });
        }
        out.steps.push(s.clone());
    }
    Ok(out)
}
