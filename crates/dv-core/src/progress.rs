//! Progress reporting without a terminal dependency: the CLI supplies an implementation.

/// Receives progress from long operations. Implementations must be cheap: `inc` is called per file or chunk.
pub trait Progress: Sync {
    /// A new phase: `what` describes it, `total` is in `unit`s when known.
    fn start(&self, what: &str, total: Option<u64>, unit: Unit);
    fn inc(&self, n: u64);
    fn finish(&self);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Files,
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}
