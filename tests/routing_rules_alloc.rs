//! Routing rules cost no heap allocation per request: `Rules::route` (feature scan included) and
//! `RuleTarget::pick`, counted by a global allocator. In its own test binary because a global
//! allocator applies to the whole binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shardgate::config::Config;
use shardgate::routing::rules::{RequestFeatures, RuleTarget, Rules};

/// Counts allocations of the current thread only, so that whatever the test harness does on
/// other threads meanwhile is not counted.
struct Counting;

thread_local! {
    // Const-initialised and without a destructor: using it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may run while the thread's locals are being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CONFIG: &str = r#"
[[providers]]
name = "openai"
api_key = "k"
[[providers]]
name = "anthropic"
api_key = "k"
[[models]]
name = "smart"
targets = ["openai/gpt-4o"]

[[routes]]
name = "team"
match = { headers = { "x-team" = "research", "x-trace" = "*" } }
to = { model = "smart" }
[[routes]]
name = "vision-long"
match = { model = ["gpt-4o*", "smart"], has_images = true, min_prompt_bytes = 100 }
to = { targets = ["openai/gpt-4o", { model = "anthropic/claude-sonnet-4-5", weight = 3 }] }
[[routes]]
name = "tools"
match = { has_tools = true, has_images = false }
to = { model = "anthropic/claude-sonnet-4-5" }
"#;

#[test]
fn routing_does_not_allocate() {
    let config = match Config::from_toml_str(CONFIG, &|_| None) {
        Ok(c) => c,
        Err(e) => panic!("{e:#?}"),
    };
    let rules = Rules::compile(&config.routes);
    let text = "x".repeat(2_000);
    let bodies = [
        format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":[{{"type":"text","text":"{text}"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,AAAA"}}}}]}}]}}"#
        ),
        format!(
            r#"{{"model":"claude","tools":[{{"name":"t"}}],"messages":[{{"role":"user","content":[{{"type":"image","source":{{"data":"{text}"}}}}]}}]}}"#
        ),
        format!(
            r#"{{"contents":[{{"parts":[{{"text":"{text}"}},{{"inlineData":{{"mimeType":"image/png","data":"AAAA"}}}}]}}],"tools":[{{"functionDeclarations":[]}}]}}"#
        ),
        format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"{text} \"tools\":[1]"}}],"tools":[{{"type":"function"}}]}}"#
        ),
    ];
    let headers: [(&[u8], &[u8]); 2] = [(b"X-Team", b"research"), (b"x-other", b"1")];
    let lookup = |name: &[u8]| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let mut run = |rounds: usize| {
        let mut picked = 0usize;
        for _ in 0..rounds {
            for (i, body) in bodies.iter().enumerate() {
                let model = if i == 0 { "gpt-4o-mini" } else { "smart" };
                let f = RequestFeatures::scan(body.as_bytes());
                picked += usize::from(f.has_images) + usize::from(f.has_tools);
                if let Some(m) = rules.route(model, lookup, body.as_bytes()) {
                    picked += m.target.pick(&mut rng).len() + m.index;
                    if let RuleTarget::Targets(ts) = m.target {
                        picked += ts.len();
                    }
                }
            }
        }
        picked
    };
    // Warm-up: anything lazily set up on first use (thread locals, the RNG) happens here.
    let warm = run(2);
    let before = allocations();
    let total = run(1_000);
    let after = allocations();
    assert!(warm > 0 && total > 0);
    assert_eq!(after - before, 0, "allocations during 4,000 route() calls");
}
