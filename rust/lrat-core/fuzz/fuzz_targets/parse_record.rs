//! Feeds arbitrary bytes (as text) to `lrat_core::parse_record`, with format detection and with each
//! format forced: it must return a trajectory or an error, never panic.
//!
//! Run from `rust/lrat-core/fuzz` with a nightly toolchain and cargo-fuzz installed
//! (`cargo install cargo-fuzz`):
//!
//!     cargo +nightly fuzz run parse_record ../../../tests/fixtures/formats -- -max_total_time=60
//!
//! Passing the fixture folder seeds the corpus with one real record of each format. CI relies on the
//! proptest in `rust/lrat-core/tests/parse_never_panics.rs`, which runs on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrat_core::{parse_record, Format, FormatOptions, Location};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let location = Location { source: "fuzz".into(), line: 1, byte_offset: 0 };
    let forced = data.first().map_or(0, |b| *b as usize) % (Format::ALL.len() + 1);
    let format = Format::ALL.get(forced).copied();
    let options = FormatOptions { format, ..FormatOptions::default() };
    let _ = parse_record(&text, &location, &options);
});
