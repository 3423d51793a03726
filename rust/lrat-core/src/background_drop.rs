//! Freeing large values (a batch of trajectories holds millions of small allocations) on a
//! background thread, so that the thread that lets go of them does not wait. Like the pool, the
//! thread is started again in a forked child, where the parent's thread does not exist.

use std::sync::Mutex;

use crossbeam_channel::{bounded, Sender};

type Garbage = Box<dyn Send>;

static DROPPER: Mutex<Option<(u32, Sender<Garbage>)>> = Mutex::new(None);

/// At most this many values wait to be freed; a caller that outruns the thread frees its value
/// itself, so memory stays bounded.
const QUEUE: usize = 2;

/// Drops `value` on the background thread, or here when that thread cannot take it.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let pid = std::process::id();
    let mut slot = DROPPER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !matches!(slot.as_ref(), Some((owner, _)) if *owner == pid) {
        let (tx, rx) = bounded::<Garbage>(QUEUE);
        let started =
            std::thread::Builder::new().name("lrat-dropper".into()).spawn(move || rx.into_iter().for_each(drop));
        if started.is_err() {
            return;
        }
        if let Some((_, inherited)) = slot.replace((pid, tx)) {
            // Its receiver lives only in the parent; dropping the sender is harmless but pointless.
            std::mem::forget(inherited);
        }
    }
    let (_, tx) = slot.as_ref().expect("set above");
    // A full queue or a stopped thread hands the value back, and it is dropped here.
    let _ = tx.try_send(Box::new(value));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::drop_in_background;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn every_value_is_dropped() {
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            drop_in_background(Counted(Arc::clone(&dropped)));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while dropped.load(Ordering::SeqCst) < 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 100);
    }
}
