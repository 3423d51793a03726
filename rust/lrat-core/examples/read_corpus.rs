//! Reads JSON-lines files through the core alone (the streaming pipeline, then the Arrow tables of
//! each batch), for profilers: `perf record`, or an exact instruction count with
//!
//!     cargo build --release --example read_corpus -p lrat-core
//!     LRAT_NUM_THREADS=1 valgrind --tool=cachegrind --cache-sim=no \
//!         target/release/examples/read_corpus bench-data/corpus-32MB.jsonl
//!
//! Arguments: FILE [REPEAT] [--no-tables]. Uses mimalloc, as the Python module does.

use std::time::Instant;

use lrat_core::pipeline::{ReadOptions, TrajectoryStream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first().cloned() else {
        eprintln!("usage: read_corpus FILE [REPEAT] [--no-tables]");
        std::process::exit(2);
    };
    let repeat: usize = match args.get(1).filter(|a| !a.starts_with("--")).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("read_corpus: REPEAT must be a number");
            std::process::exit(2);
        }
        None => 1,
    };
    let tables = !args.iter().any(|a| a == "--no-tables");
    for _ in 0..repeat {
        let start = Instant::now();
        let options = ReadOptions { batch_size: 256, ..ReadOptions::default() };
        let stream = match TrajectoryStream::open(std::slice::from_ref(&path), options) {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("read_corpus: {e}");
                std::process::exit(1);
            }
        };
        let (mut trajectories, mut errors, mut in_tables) = (0, 0, 0.0);
        for batch in stream {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    eprintln!("read_corpus: {e}");
                    std::process::exit(1);
                }
            };
            trajectories += batch.trajectories.len();
            errors += batch.issues.len();
            if tables {
                let t = Instant::now();
                let built = lrat_core::tables::build(&batch.trajectories, &batch.issues, true)
                    .expect("tables of a parsed batch");
                std::hint::black_box(&built);
                in_tables += t.elapsed().as_secs_f64();
            }
        }
        println!(
            "{trajectories} trajectories, {errors} issues in {:.3} s ({in_tables:.3} s building tables)",
            start.elapsed().as_secs_f64()
        );
    }
}
