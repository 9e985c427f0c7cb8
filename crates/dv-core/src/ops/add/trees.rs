//! The nodes of what `dv add` stores: a file's node from its kind, id and stat, and each input's root (a
//! folder's trees built bottom-up and stored through the pipeline's sink).

use super::inputs::Input;
use super::pipeline::ObjectSink;
use crate::store::object::{Node, NodeKind};
use crate::store::split::Layout;
use crate::store::statedb::Stat;
use crate::{ObjectId, Result};

pub(super) fn file_node_of(kind: NodeKind, id: ObjectId, stat: &Stat) -> Node {
    Node {
        kind,
        id,
        size: stat.size,
        files: 1,
        exec: stat.exec,
    }
}
/// The node of each input, in input order: a file's own, or a folder's root tree, built bottom-up from its
/// files' `nodes` (those of every input, in input order) and stored through `sink`.
pub(super) fn build_roots(
    inputs: &[(String, Input)],
    nodes: &[Option<Node>],
    layout: Layout,
    sink: &mut ObjectSink<'_>,
) -> Result<Vec<Node>> {
    let mut roots: Vec<Node> = Vec::with_capacity(inputs.len());
    let mut offset = 0usize;
    for (_, input) in inputs {
        match input {
            Input::File(_) => {
                roots.push(nodes[offset].expect("every file has a node"));
                offset += 1;
            }
            Input::Dir(w) => {
                roots.push(w.build_trees(&nodes[offset..offset + w.files.len()], |t| {
                    sink.store_tree(t, layout)
                })?);
                offset += w.files.len();
            }
        }
    }
    Ok(roots)
}
