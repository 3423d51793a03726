//! The unescaped strings of one record, written one after another into a single allocation.
//!
//! A record's long texts (reasoning, search outputs, browsed pages) are JSON strings dense with
//! escapes, so each would otherwise be unescaped into its own `String`. Here they share one block,
//! sized to the record (unescaping never lengthens a string), which the model's texts and then the
//! Arrow tables point into: one allocation per record instead of one per string, and no copy.

use std::cell::Cell;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::Buffer;

use crate::model::SharedText;

/// The allocation; freed when the arena and every buffer shared from it are gone.
struct Block {
    ptr: NonNull<MaybeUninit<u8>>,
    capacity: usize,
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `capacity` are those of the `Vec` made in `TextArena::with_capacity`.
        unsafe { drop(Vec::from_raw_parts(self.ptr.as_ptr(), 0, self.capacity)) }
    }
}

// SAFETY: a block is plain bytes. The part shared as a `Buffer` (below the arena's length when it
// was shared) is never written again; the rest is written only through the arena, which is not
// `Sync`.
unsafe impl Send for Block {}
unsafe impl Sync for Block {}

pub struct TextArena {
    block: Arc<Block>,
    /// Bytes written; every `str` handed out lies below this.
    len: Cell<usize>,
    /// Set while a writer holds the free space, so that no two windows onto it exist at once.
    writing: Cell<bool>,
}

impl TextArena {
    pub fn with_capacity(capacity: usize) -> TextArena {
        let mut bytes = ManuallyDrop::new(Vec::<MaybeUninit<u8>>::with_capacity(capacity));
        let block = Block {
            ptr: NonNull::new(bytes.as_mut_ptr()).expect("a Vec's pointer is never null"),
            capacity: bytes.capacity(),
        };
        TextArena { block: Arc::new(block), len: Cell::new(0), writing: Cell::new(false) }
    }

    pub fn len(&self) -> usize {
        self.len.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes one string: `write` gets a window of exactly `room` free bytes and returns how many
    /// it filled, from the window's start. `None` (and `write` is not called) when `room` bytes
    /// are not free, or when called from inside another `write`.
    ///
    /// # Safety
    /// The bytes `write` reports as filled must be initialised and valid UTF-8.
    pub unsafe fn write_str<E>(
        &self,
        room: usize,
        write: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<usize, E>,
    ) -> Option<Result<&str, E>> {
        let len = self.len.get();
        if self.writing.get() || self.block.capacity - len < room {
            return None;
        }
        self.writing.set(true);
        // SAFETY: `len + room` is within the block; no `str` handed out reaches past `len`, and
        // `writing` makes this the only window onto the free space.
        let window = unsafe { std::slice::from_raw_parts_mut(self.block.ptr.as_ptr().add(len), room) };
        let filled = write(window);
        self.writing.set(false);
        Some(filled.map(|n| {
            let n = n.min(room);
            self.len.set(len + n);
            // SAFETY: the caller's promise: these `n` bytes are initialised UTF-8.
            unsafe {
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                    self.block.ptr.as_ptr().add(len).cast::<u8>(),
                    n,
                ))
            }
        }))
    }

    /// The bytes written so far, as one text that shares this arena's allocation. A `str` the
    /// arena handed out before lies inside it (see `SharedText::within`).
    pub fn share(&self) -> SharedText {
        let len = self.len.get();
        // SAFETY: the first `len` bytes are initialised (written by `write_str`) and never written
        // again; the `Arc` keeps the block alive as long as the buffer.
        let buffer = unsafe { Buffer::from_custom_allocation(self.block.ptr.cast::<u8>(), len, self.block.clone()) };
        // SAFETY: what `write_str` wrote is a sequence of whole UTF-8 strings.
        unsafe { SharedText::from_utf8_buffer_unchecked(buffer) }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;

    use super::TextArena;
    use crate::model::SharedText;

    fn put(window: &mut [MaybeUninit<u8>], text: &str) -> Result<usize, ()> {
        for (slot, &b) in window.iter_mut().zip(text.as_bytes()) {
            slot.write(b);
        }
        Ok(text.len())
    }

    #[test]
    fn strings_are_written_back_to_back_and_shared_as_one_buffer() {
        let arena = TextArena::with_capacity(32);
        // SAFETY: `put` fills the window with the UTF-8 bytes of its text.
        let a = unsafe { arena.write_str(10, |w| put(w, "héllo")) }.unwrap().unwrap();
        let b = unsafe { arena.write_str(20, |w| put(w, "world")) }.unwrap().unwrap();
        assert_eq!((a, b, arena.len()), ("héllo", "world", 11));
        assert_eq!(unsafe { arena.write_str(22, |w| put(w, "x")) }, None, "only 21 bytes are free");
        let nested = unsafe {
            arena.write_str(4, |_| if arena.write_str(1, |w| put(w, "y")).is_none() { Ok(0) } else { Err(()) })
        };
        assert_eq!(nested, Some(Ok("")), "a window is refused while another is open");

        let shared = arena.share();
        assert_eq!(shared.as_str(), "hélloworld");
        let view = SharedText::within(Some(&shared), b);
        assert_eq!((view.as_str(), view.buffer().1), ("world", 6));
        assert_eq!(view.buffer().0.as_ptr(), shared.buffer().0.as_ptr());
        drop(arena);
        assert_eq!(view.as_str(), "world", "the buffer outlives the arena");
    }
}
