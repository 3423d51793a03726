"""The evaluation harness, apart from the library: a synthetic knowledge base (`synthetic`), the
simulated search agent (`simulate`) and its calibration to real logs (`calibration`), and the loops
built on them (`demo`, `flywheel`). The agent searches through the library's `CorpusSearch`. `lrat bench`
and the `demo` and `flywheel` commands run on it; nothing in the library imports it."""
