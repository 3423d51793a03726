//! The rayon pool the core runs on. It is created lazily and created again after a fork: a forked
//! child (a torch DataLoader worker) inherits no threads, so the parent's pool would deadlock there.

use std::sync::{Arc, Mutex};

static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Threads to use: `LRAT_NUM_THREADS` when set to a positive number, else the available cores.
pub fn num_threads() -> usize {
    std::env::var("LRAT_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// The process's pool.
pub fn pool() -> Arc<rayon::ThreadPool> {
    let pid = std::process::id();
    let mut guard = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, pool)) = guard.as_ref() {
        if *owner == pid {
            return pool.clone();
        }
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(num_threads())
            .thread_name(|i| format!("lrat-{i}"))
            .build()
            .expect("building a rayon thread pool"),
    );
    *guard = Some((pid, pool.clone()));
    pool
}
