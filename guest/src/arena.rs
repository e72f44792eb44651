//! A per-message bump allocator.
//!
//! Inside the sandbox every message runs in a fresh instance of the
//! pre-initialised snapshot, and the host resets every memory page the
//! message wrote before the slot is reused. Allocating per-message data
//! densely from one fresh region, instead of from the snapshot's
//! fragmented heap, keeps the number of written pages — and so the reset
//! cost — small. Frees inside the arena are no-ops (the instance is
//! discarded), except that the most recent block can shrink or grow in
//! place.
//!
//! Start-up (configure, warm-up) uses the system allocator; the end of
//! `configure` (and, for instances that were not configured, `check`)
//! turns the arena on, so the snapshot taken after `configure` starts every
//! message with it on — even the host's copy of the message goes there. A host that reuses an instance for many messages sees the
//! arena grow with each one; past [`MAX_ARENA`] the arena switches itself
//! off and later messages use the system allocator, so memory stays
//! bounded either way and nothing allocated earlier is ever reused.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Arena size after which the arena is abandoned for the system allocator.
const MAX_ARENA: usize = 64 << 20;
const WASM_PAGE: usize = 64 << 10;

pub struct MessageArena {
    on: Cell<bool>,
    start: Cell<usize>,
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: wasm32-unknown-unknown without threads: one thread only.
unsafe impl Sync for MessageArena {}

impl MessageArena {
    pub const fn new() -> Self {
        MessageArena {
            on: Cell::new(false),
            start: Cell::new(0),
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// Grows memory for an arena of `bytes` now, at start-up, so the pages
    /// are part of the pre-initialised snapshot: per-message instances
    /// then find them ready instead of growing memory (a system call and
    /// fresh page faults in the host) for every message.
    pub fn reserve(&self, bytes: usize) {
        if self.start.get() == 0
            && let Some(at) = self.grow(bytes)
        {
            self.start.set(at);
            self.next.set(at);
        }
    }

    /// Routes further allocations to the arena (idempotent).
    pub fn enable(&self) {
        if self.on.get() {
            if self.next.get() - self.start.get() > MAX_ARENA {
                self.on.set(false);
            }
            return;
        }
        if self.start.get() == 0 {
            let at = self.grow(1).unwrap_or(0);
            self.start.set(at);
            self.next.set(at);
        }
        if self.start.get() != 0 {
            self.on.set(true);
        }
    }

    /// Grows linear memory by enough pages for `bytes`; returns the old end.
    fn grow(&self, bytes: usize) -> Option<usize> {
        let pages = bytes.div_ceil(WASM_PAGE).max(16);
        let old = core::arch::wasm32::memory_grow(0, pages);
        if old == usize::MAX {
            return None;
        }
        let base = old * WASM_PAGE;
        if self.end.get() != base {
            // Someone else grew memory since: start a new run here.
            self.next.set(base);
        }
        self.end.set(base + pages * WASM_PAGE);
        Some(base)
    }

    fn contains(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        self.start.get() != 0 && p >= self.start.get() && p < self.end.get()
    }

    fn bump(&self, layout: Layout) -> *mut u8 {
        let align = layout.align();
        let mut at = (self.next.get() + align - 1) & !(align - 1);
        if at + layout.size() > self.end.get() {
            if self.grow(layout.size() + align).is_none() {
                return std::ptr::null_mut();
            }
            at = (self.next.get() + align - 1) & !(align - 1);
        }
        self.next.set(at + layout.size());
        at as *mut u8
    }
}

// SAFETY: blocks handed out never overlap (the bump pointer only moves
// forward past a live block, and back only over the last block when it is
// freed); system-allocator blocks are passed back to the system allocator.
unsafe impl GlobalAlloc for MessageArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.on.get() {
            self.bump(layout)
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.contains(ptr) {
            if ptr as usize + layout.size() == self.next.get() {
                self.next.set(ptr as usize);
            }
        } else if !self.on.get() {
            // SAFETY: a system block freed with its layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        // A system block freed while the arena is on is left alone: the
        // instance is discarded, and touching the system heap's free lists
        // would write to snapshot pages for nothing.
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.on.get()
            && self.contains(ptr)
            && ptr as usize + layout.size() == self.next.get()
            && ptr as usize + new_size <= self.end.get()
        {
            self.next.set(ptr as usize + new_size);
            return ptr;
        }
        if !self.on.get() && !self.contains(ptr) {
            // SAFETY: a system block resized by the system allocator.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_size` is non-zero and fits `layout.align()` (the
        // caller's contract for realloc).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not
            // overlap (the new one was just allocated).
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: the old block with its own layout.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}
