//! Allocations per event: a counting global allocator around one steady 5-server write load
//! (three clients, 60 s simulated), with the checkers on and off. The event loop should
//! allocate next to nothing per event; this is the number to watch when it slows down.
//! Run with `cargo bench -p sim --bench allocs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SCENARIO: &str = r#"
name = "write-load"
[cluster]
servers = 5
snap_count = 100000
[network]
delay_ms = [1, 5]
[disk]
fsync_ms = [1, 3]
[clients]
workload = "kv"
count = 3
ops = 1000000
write_ratio = 1.0
think_ms = [0, 1]
[run]
duration_ms = 60000
liveness_ms = 10000
"#;

fn main() {
    let sc = scenario::parse(SCENARIO, std::path::Path::new("write-load.toml")).expect("valid");
    for checkers in [true, false] {
        let mut opts = sim::Options::new(1);
        opts.checkers = checkers;
        let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
        let o = sim::run(&sc, opts);
        let (a, b) = (ALLOCS.load(Relaxed) - a0, BYTES.load(Relaxed) - b0);
        println!(
            "write load, 5 servers, 3 clients, 60 s, checkers {}: {} events, {} committed txns, {:.2} allocations and {:.0} bytes per event, {:.1} allocations per txn",
            if checkers { "on " } else { "off" },
            o.events,
            o.committed,
            a as f64 / o.events as f64,
            b as f64 / o.events as f64,
            a as f64 / o.committed.max(1) as f64,
        );
    }
}
