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
pub mod ignore;
pub mod log;
pub mod meta;
pub mod pointers;
pub mod pull;
pub mod reach;
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

/// `items.iter().map(f)`, run on `worker_count()` threads, results in the order of `items`. Threads take small
/// runs of items in turn, so uneven costs balance out.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const RUN: usize = 8;
    let workers = worker_count().min(items.len().div_ceil(RUN));
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut runs: Vec<(usize, Vec<R>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(RUN, Ordering::Relaxed);
                        if start >= items.len() {
                            return done;
                        }
                        let end = (start + RUN).min(items.len());
                        done.push((start, items[start..end].iter().map(&f).collect()));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    runs.sort_unstable_by_key(|r| r.0);
    runs.into_iter().flat_map(|r| r.1).collect()
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
