#!/usr/bin/env bash
# The long fuzz runs of the reliability suite; the test suite runs short versions of both.
#   parser: 3 proptest properties (arbitrary strings, token soups, mutated fixtures) under format
#           detection and every forced format, PARSE_CASES cases each (default 350,000: > 1,000,000 inputs);
#   index files: INDEX_CASES crafted index files with recomputed checksums (default 50,000), each
#           loaded and memory-mapped, and searched when it loads.
# Usage: benches/fuzz.sh [PARSE_CASES] [INDEX_CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
parse_cases=${1:-350000}
index_cases=${2:-50000}
start=$(date +%s)
LRAT_FUZZ_PARSE_CASES=$parse_cases cargo test --release -p lrat-core --test parse_never_panics -- --test-threads 2
middle=$(date +%s)
LRAT_FUZZ_INDEX_CASES=$index_cases cargo test --release -p lrat-core --test crafted_index_files -- --nocapture
end=$(date +%s)
echo "parser: 3 x $parse_cases = $((3 * parse_cases)) inputs in $((middle - start)) s; index files: $index_cases in $((end - middle)) s; 0 crashes"
