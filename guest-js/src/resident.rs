//! Keeps a small heap resident in the host's instance slot, so a fresh
//! instance takes no copy-on-write page faults.
//!
//! Every invocation gets a fresh instance whose memory starts as the
//! snapshot. Between two instances the host (wasmtime's pooling allocator)
//! finds the pages the last one wrote with Linux's `PAGEMAP_SCAN` and copies
//! the snapshot's bytes back into them, so they stay mapped for the next
//! instance. But it reads at most 32 runs of written pages: everything past
//! the 32nd run is decommitted, and the next instance faults each page it
//! writes there back in (a copy-on-write fault, and a TLB shootdown when the
//! page is dropped again). QuickJS writes all over its heap (reference counts
//! of the objects a request touches, freed chunks reused by the allocator),
//! so a JS request wrote 40–340 such pages every time: ~30% of a hello's
//! CPU, and far more under concurrency, where the faults queue on the
//! process's memory map lock.
//!
//! Writing every page of the heap once per instance makes the heap one run:
//! it stays resident in the slot and is restored by a copy (about 40 µs per
//! MiB) instead of faulted in page by page. That copy grows with the heap
//! while the faults it saves do not, so a heap larger than
//! [`MAX_RESIDENT_HEAP`] is left as it was (the AI SDK's 13 MiB heap was
//! slower touched: 1,300–1,450 → 600–1,150 req/s).
//!
//! Only the heap the snapshot holds is written: up to its last page that is
//! not all zeros ([`note_heap_end`]). The memory beyond it is free space
//! (the allocator's top chunk), which a request's new allocations fill from
//! its start, one run next to the heap; written, it would be zeroed again
//! after every instance (the JS hello's snapshot is 2 MiB; its instances'
//! memory reaches 3 MiB).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The largest heap kept resident: a 4.8 MiB one (a bundle with the Stripe
/// SDK) went from 320–390 to 2,000–3,100 req/s at concurrency 32; a 13 MiB
/// one lost (above).
pub const MAX_RESIDENT_HEAP: usize = 6 << 20;

const PAGE: usize = 4096;

extern "C" {
    /// Where the linker put the start of the heap (after data and stack).
    static __heap_base: u8;
}

/// False in the snapshot; set by an instance's first export call, so a
/// reused instance (opt-in `reuse`) writes its heap once.
static DONE: AtomicBool = AtomicBool::new(false);

/// The end of the snapshot's last page that is not all zeros (0: not known,
/// the memory's size is used).
static HEAP_END: AtomicUsize = AtomicUsize::new(0);

/// Notes where the snapshot's heap ends, just before the snapshot is taken
/// (`wizer-initialize`, after the last garbage collection).
pub fn note_heap_end() {
    let start = heap_start();
    let mut end = memory_end();
    while end > start {
        let page = end - PAGE;
        // SAFETY: the page is below the memory's size, so valid to read, and
        // aligned for u64.
        let words = unsafe { core::slice::from_raw_parts(page as *const u64, PAGE / 8) };
        if words.iter().any(|&w| w != 0) {
            break;
        }
        end = page;
    }
    HEAP_END.store(end, Ordering::Relaxed);
}

fn heap_start() -> usize {
    // Only the symbol's address is taken (no read): safe.
    core::ptr::addr_of!(__heap_base) as usize & !(PAGE - 1)
}

fn memory_end() -> usize {
    core::arch::wasm32::memory_size::<0>().saturating_mul(65536)
}

/// Writes each page of the heap once in this instance (a read and a write of
/// the same byte: nothing changes), unless the heap is too large.
pub fn keep_heap_resident() {
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let start = heap_start();
    let end = match HEAP_END.load(Ordering::Relaxed) {
        0 => memory_end(),
        end => end,
    };
    if end.saturating_sub(start) > MAX_RESIDENT_HEAP {
        return;
    }
    for page in (start..end).step_by(PAGE) {
        let byte = page as *mut u8;
        // SAFETY: every address below the memory's size is valid to read and
        // write in WebAssembly; the byte written is the byte read, and no
        // other code runs meanwhile (one thread).
        unsafe { core::ptr::write_volatile(byte, core::ptr::read_volatile(byte)) };
    }
}
