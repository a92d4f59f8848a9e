//! Bounded parallelism over a list: at most `workers` threads, each taking
//! the next item until none is left. Results come back in input order.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    run(items.len(), workers, &|index| {
        let result = f(&items[index]);
        results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

/// Calls `work` once for each index below `len`, on at most `workers`
/// threads. Not generic: the thread machinery is built once, not once per
/// caller of [`map`] (16 of them).
fn run(len: usize, workers: usize, work: &(dyn Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, len.max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= len {
                    break;
                }
                work(index);
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_bounds_threads() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..50).collect();
        let out = super::map(&items, 4, |n| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            n * 2
        });
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert!(super::map(&[] as &[u32], 4, |n| *n).is_empty());
    }
}
