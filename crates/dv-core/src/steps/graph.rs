//! The graph the steps make through their paths: a step that reads a path another step writes depends on it.
//! Orders them (a cycle is an error naming it) and finds what a step reads from.

use std::collections::BTreeSet;

use super::Step;
use crate::{Error, Result};

/// The steps of a repository, with the graph their paths make.
#[derive(Clone, Debug, Default)]
pub struct Steps {
    /// Sorted by name.
    pub steps: Vec<Step>,
}

impl Steps {
    pub fn new(mut steps: Vec<Step>) -> Result<Steps> {
        steps.sort_by(|a, b| a.name.cmp(&b.name));
        // Two steps writing one path would make "what produced this" ambiguous.
        for (i, a) in steps.iter().enumerate() {
            for b in &steps[i + 1..] {
                for o in &a.outs {
                    if b.writes(&o.path) {
                        return Err(Error::Step {
                            name: b.name.clone(),
                            message: format!(
                                "it writes '{}', which step '{}' writes too",
                                o.path, a.name
                            ),
                        });
                    }
                }
            }
        }
        Ok(Steps { steps })
    }

    pub fn get(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The step that writes `path` (or a folder around it, or something inside it).
    pub fn producer_of(&self, path: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.writes(path))
    }

    /// Indexes of the steps `i` reads from (its inputs are their outputs).
    pub fn upstream_of(&self, i: usize) -> BTreeSet<usize> {
        let s = &self.steps[i];
        let mut out = BTreeSet::new();
        for (j, t) in self.steps.iter().enumerate() {
            if j != i
                && (s.deps.iter().any(|d| t.writes(&d.path))
                    || s.params.iter().any(|p| t.writes(&p.file)))
            {
                out.insert(j);
            }
        }
        out
    }

    /// Every step in an order where each comes after the steps it reads from; a cycle is an error naming it.
    pub fn order(&self) -> Result<Vec<usize>> {
        let ups: Vec<BTreeSet<usize>> =
            (0..self.steps.len()).map(|i| self.upstream_of(i)).collect();
        // Depth-first, so a cycle can be reported as the path that closes it.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; self.steps.len()];
        let mut order = Vec::with_capacity(self.steps.len());
        let mut stack: Vec<usize> = Vec::new();
        fn visit(
            i: usize,
            ups: &[BTreeSet<usize>],
            mark: &mut [Mark],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            steps: &[Step],
        ) -> Result<()> {
            match mark[i] {
                Mark::Done => return Ok(()),
                Mark::Open => {
                    let from = stack.iter().position(|&s| s == i).unwrap_or(0);
                    let mut names: Vec<&str> = stack[from..]
                        .iter()
                        .map(|&s| steps[s].name.as_str())
                        .collect();
                    names.push(&steps[i].name);
                    return Err(Error::Step {
                        name: steps[i].name.clone(),
                        message: format!(
                            "the steps form a cycle: {} (each reads what the next writes)",
                            names.join(" <- ")
                        ),
                    });
                }
                Mark::New => {}
            }
            mark[i] = Mark::Open;
            stack.push(i);
            for &u in &ups[i] {
                visit(u, ups, mark, stack, order, steps)?;
            }
            stack.pop();
            mark[i] = Mark::Done;
            order.push(i);
            Ok(())
        }
        for i in 0..self.steps.len() {
            visit(i, &ups, &mut mark, &mut stack, &mut order, &self.steps)?;
        }
        Ok(order)
    }

    /// `roots` and every step they read from, transitively.
    pub fn with_upstream(&self, roots: &[usize]) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = roots.to_vec();
        while let Some(i) = todo.pop() {
            if seen.insert(i) {
                todo.extend(self.upstream_of(i));
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::PathRecord;
    use crate::store::split::Layout;

    fn step(name: &str, deps: &[&str], outs: &[&str]) -> Step {
        Step {
            name: name.into(),
            command: vec!["true".into()],
            workdir: String::new(),
            deps: deps
                .iter()
                .map(|p| PathRecord {
                    path: p.to_string(),
                    node: None,
                })
                .collect(),
            params: vec![],
            outs: outs
                .iter()
                .map(|p| PathRecord {
                    path: p.to_string(),
                    node: None,
                })
                .collect(),
            run: None,
            layout: Layout::Flat,
        }
    }

    #[test]
    fn order_follows_paths_and_reports_cycles() {
        let steps = Steps::new(vec![
            step("train", &["data/prepared/part1", "train.py"], &["model"]),
            step("eval", &["model", "data/test"], &["metrics.json"]),
            step("prepare", &["data/raw.csv"], &["data/prepared"]),
        ])
        .unwrap();
        let names: Vec<&str> = steps
            .order()
            .unwrap()
            .iter()
            .map(|&i| steps.steps[i].name.as_str())
            .collect();
        assert_eq!(names, ["prepare", "train", "eval"]);
        let cyc = Steps::new(vec![step("a", &["y"], &["x"]), step("b", &["x"], &["y"])]).unwrap();
        let err = cyc.order().unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
        assert!(Steps::new(vec![step("a", &[], &["x"]), step("b", &[], &["x/y"])]).is_err());
    }
}
