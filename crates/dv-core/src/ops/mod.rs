//! The operations behind each command. They take a repository, options and a progress sink, and return a
//! report for the CLI to render; none of them prints.

pub mod add;
pub mod checkout;
pub mod compare;
pub mod config;
pub mod datasets;
pub mod du;
pub mod format;
pub mod fsck;
pub mod gc;
pub mod get;
pub mod hooks;
pub mod ignore;
pub mod import;
pub mod log;
pub mod ls;
pub mod merge;
pub mod meta;
pub mod partial;
pub mod pointers;
pub mod pull;
pub mod reach;
pub mod read;
pub mod run;
pub mod scope;
pub mod status;
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

/// Below this many entries in a folder, one thread stats them quicker than handing the work to [`par_map`]
/// (`compare::list_dir`, `walk::walk`).
pub(crate) const PARALLEL_STAT_FROM: usize = 256;

/// `items.iter().map(f)`, run on dv's thread pool (`pool`), results in the order of `items`. Threads take
/// small runs of items, so uneven costs balance out; a slice of one run is mapped on the calling thread.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    const RUN: usize = 8;
    match pool() {
        Some(pool) if items.len() > RUN && pool.current_num_threads() > 1 => {
            pool.install(|| items.par_iter().with_min_len(RUN).map(&f).collect())
        }
        _ => items.iter().map(f).collect(),
    }
}

/// Sorts `items` by the name `name` gives, bytewise; a folder's worth of a million names on all cores. Names in
/// a folder are unique, so an unstable sort gives the one order.
pub fn sort_by_name<T: Send>(items: &mut [T], name: impl Fn(&T) -> &str + Sync) {
    use rayon::slice::ParallelSliceMut;
    let by_name = |a: &T, b: &T| name(a).as_bytes().cmp(name(b).as_bytes());
    match pool() {
        Some(pool) if items.len() >= PARALLEL_SORT_FROM && pool.current_num_threads() > 1 => {
            pool.install(|| items.par_sort_unstable_by(by_name))
        }
        _ => items.sort_unstable_by(by_name),
    }
}

/// From this many names, [`sort_by_name`] sorts on all cores.
const PARALLEL_SORT_FROM: usize = 16_384;

/// Runs `f` on dv's thread pool while the caller goes on; the receiver gets its result. On the calling thread
/// (done when this returns) when the pool cannot start or the caller is one of its threads, so a pool thread
/// never waits on a job queued behind it.
pub fn spawn<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> std::sync::mpsc::Receiver<R> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    match pool() {
        Some(pool) if pool.current_thread_index().is_none() => pool.spawn(move || {
            let _ = tx.send(f());
        }),
        _ => {
            let _ = tx.send(f());
        }
    }
    rx
}

/// The process's pool for CPU-bound work: [`worker_count`] threads, started on first use and shared by every
/// caller, so two operations at once (or a thread of one) do not each start a pool of their own. `None` when
/// the threads cannot be started: work then runs on the calling thread.
///
/// One pool per process id: a forked child (a Python data loader's worker, when the core is embedded) inherits
/// the parent's pool without its threads, and a job queued there would wait forever. The child starts a pool of
/// its own; the parent's is left alone (leaked: dropping it would wait for threads the child does not have).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::Mutex<Option<(u32, Option<&'static rayon::ThreadPool>)>> =
        std::sync::Mutex::new(None);
    let pid = std::process::id();
    // A panic while holding the lock leaves a valid value: take it.
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match *guard {
        Some((owner, pool)) if owner == pid => pool,
        _ => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(worker_count())
                .thread_name(|i| format!("dv-worker-{i}"))
                .build()
                .ok()
                .map(|p| &*Box::leak(Box::new(p)));
            *guard = Some((pid, pool));
            pool
        }
    }
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn par_map_keeps_the_order_of_its_items() {
        for n in [0usize, 1, 7, 8, 9, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            // Uneven costs, so threads finish out of order.
            let out = par_map(&items, |&i| {
                if i % 13 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                i * 3
            });
            assert_eq!(out, (0..n).map(|i| i * 3).collect::<Vec<_>>());
        }
    }
}
