//! `Hello` on WASI 0.2.0 exactly: see `common/versioned_hello.rs`.

// Without std: see `common/versioned_hello.rs`.
#![no_std]

const VERSION: &str = "0.2.0";

include!("../../common/versioned_hello.rs");

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
