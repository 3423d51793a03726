//! The process-wide rayon pool. Created on first use and created again when the process id changes,
//! so a child forked by a parent that had already used it (torch DataLoader workers, multiprocessing)
//! gets working threads instead of waiting forever on workers that exist only in the parent.
//! Its size is `LRAT_NUM_THREADS` when that is a positive integer, else the number of available cores.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

/// The number of threads the pool is built with.
pub fn num_threads() -> usize {
    std::env::var("LRAT_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

pub fn pool() -> Arc<ThreadPool> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, pool)) = slot.as_ref() {
        if *owner == pid {
            return Arc::clone(pool);
        }
    }
    if let Some((_, inherited)) = slot.take() {
        // Its worker threads were not copied by fork; dropping it would signal threads that do not exist.
        std::mem::forget(inherited);
    }
    let build = |n: usize| ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("lrat-worker-{i}")).build();
    let pool = build(num_threads()).or_else(|_| build(1)).expect("could not start even one worker thread");
    let pool = Arc::new(pool);
    *slot = Some((pid, Arc::clone(&pool)));
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_shared_within_a_process() {
        let a = pool();
        let b = pool();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.install(|| 21 * 2), 42);
    }
}
