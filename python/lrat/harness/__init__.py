"""The evaluation harness, apart from the library: a synthetic knowledge base (`synthetic`), the
simulated search agent (`simulate`) and its calibration to real logs (`calibration`), the dense
retriever it searches with (`retriever`), and the loops built on them (`demo`, `flywheel`). `lrat bench`
and the `demo` and `flywheel` commands run on it; nothing in the library imports it."""
