//! The shared real data beside the repository (`../shared/data/`). CI always has it, so a test that
//! needs it fails when it is missing; `LRAT_SKIP_SHARED_DATA=1` skips such tests instead, saying so.

use std::path::PathBuf;

/// `../shared/data/<name>`, or `None` (with a message) when it is absent and skipping is allowed.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name);
    if dir.exists() {
        return Some(dir);
    }
    if std::env::var_os("LRAT_SKIP_SHARED_DATA").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED (LRAT_SKIP_SHARED_DATA=1): {} is absent", dir.display());
        return None;
    }
    panic!(
        "{} is absent; the shared data must sit beside the repository (set LRAT_SKIP_SHARED_DATA=1 to skip)",
        dir.display()
    );
}
