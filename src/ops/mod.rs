//! The operations behind each command. They take a repository, options and a progress sink, and return a
//! report for the CLI to render; none of them prints.

pub mod add;
pub mod checkout;
pub mod compare;
pub mod datasets;
pub mod du;
pub mod fsck;
pub mod gc;
pub mod hooks;
pub mod log;
pub mod meta;
pub mod reach;
pub mod run;
pub mod scope;
pub mod status;
pub mod steps;
pub mod table;
pub mod transfer;
pub mod treediff;
pub mod walk;

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// How many worker threads to use for CPU-bound work.
pub fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 16)
}
