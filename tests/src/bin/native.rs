//! Native tract on this machine, for scale beside the canister's instruction counts: wall
//! time to load (parse + optimise) and to run each model, through the same icinfer-core code
//! the canister runs, but compiled for the host CPU (tract's x86-64 or aarch64 kernels).
//!
//! ```text
//! cargo run --release -p icinfer-tests --bin native -- digits mobilenetv2 minilm
//! ```
//! Prints the median of 9 runs after one warm-up. A measurement, not a test.

use icinfer_core::runtime;
use icinfer_tests::models::load_model;
use std::time::{Duration, Instant};

const RUNS: usize = 9;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let models: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        !models.is_empty(),
        "usage: native MODEL... (ids from models/manifest.json)"
    );
    for id in models {
        let model = load_model(&id).unwrap_or_else(|e| panic!("{e}"));
        let declared = model.input_facts.clone().unwrap_or_default();
        let load = |_| {
            let start = Instant::now();
            let loaded = runtime::load(model.bytes.clone(), &declared).expect("the model loads");
            (start.elapsed(), loaded)
        };
        let loads: Vec<Duration> = (0..RUNS).map(|i| load(i).0).collect();
        let (_, loaded) = load(0);
        let inputs = runtime::match_inputs(&loaded.inputs, &model.cases[0].inputs)
            .expect("the reference inputs match the model");
        let infer = || {
            let start = Instant::now();
            runtime::run(&loaded.plan, &loaded.outputs, &inputs).expect("the model runs");
            start.elapsed()
        };
        infer();
        let infers: Vec<Duration> = (0..RUNS).map(|_| infer()).collect();
        println!(
            "{id:12} load {:>9.2} ms   infer {:>9.3} ms",
            median(loads).as_secs_f64() * 1e3,
            median(infers).as_secs_f64() * 1e3
        );
    }
}
