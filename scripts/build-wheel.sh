#!/usr/bin/env bash
# Builds the Linux wheel of this machine's architecture the way users get it, then checks it the way a
# user meets it:
#   1. `maturin build` with the `dist` profile (fat LTO, one codegen unit, no debug info), then
#      `auditwheel repair` (with patchelf) into a manylinux wheel under dist/, and `auditwheel show`;
#   2. a fresh virtualenv whose PATH holds no cargo or rustc: the light install (the wheel alone) and
#      `python -c "import lrat"`, each timed;
#   3. the extras the tests need, then the whole test suite against the installed package (run from the
#      repository root, where `lrat` is not importable from source: the script checks that it imports
#      from site-packages), and `lrat demo --quick` unless --no-demo.
#
#   scripts/build-wheel.sh [--no-tests] [--no-demo]
#
# PYTHON picks the interpreter (default python3). Tools and virtualenvs live under target/wheel-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run_tests=1
run_demo=1
for arg in "$@"; do
    case $arg in
        --no-tests) run_tests=0 ;;
        --no-demo) run_demo=0 ;;
        *) echo "build-wheel: unknown option $arg (expected --no-tests, --no-demo)" >&2; exit 2 ;;
    esac
done

python=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
work=$root/target/wheel-check
rm -rf "$work/raw" "$work/user"
mkdir -p "$work" dist

seconds_since() { python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.2f}')" "$1"; }

echo "== build"
if [ ! -x "$work/tools/bin/maturin" ]; then
    "$python" -m venv "$work/tools"
    "$work/tools/bin/pip" install -q "maturin>=1.7,<2" "auditwheel>=6" "patchelf>=0.17"
fi
"$work/tools/bin/maturin" build --auditwheel skip --out "$work/raw"
raw=$(ls "$work"/raw/lrat-*.whl)
PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$work/repaired" "$raw"
wheel=$(ls -t "$work"/repaired/lrat-*.whl | head -1)
cp "$wheel" dist/
wheel=$root/dist/$(basename "$wheel")
rm -rf "$work/repaired"
"$work/tools/bin/auditwheel" show "$wheel"
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
python3 -m zipfile -l "$wheel" | awk 'NR > 1 && $NF > 1000000 {print "  bundles " $1 " (" int($NF / 1048576) " MiB)"}'

echo "== a user's machine: a fresh virtualenv, no Rust toolchain on PATH"
user_path="$work/user/bin:/usr/local/bin:/usr/bin:/bin"
if PATH=$user_path command -v cargo >/dev/null || PATH=$user_path command -v rustc >/dev/null; then
    echo "build-wheel: cargo or rustc is on the system PATH ($user_path); the check needs a machine without them" >&2
    exit 1
fi
"$python" -m venv "$work/user"
export PATH=$user_path
start=$(python3 -c 'import time; print(time.time())')
pip install -q "$wheel"
echo "light install (pip install <wheel>, dependencies from pip's cache or the index): $(seconds_since "$start") s"
best=""
for _ in 1 2 3 4 5; do
    start=$(python3 -c 'import time; print(time.time())')
    python -c "import lrat"
    t=$(seconds_since "$start")
    best=$(python3 -c "import sys; print(min(float(a) for a in sys.argv[1:] if a))" "$t" $best)
done
echo "python -c 'import lrat': best of 5 $best s"
where=$(python -c "import lrat, lrat._core; print(lrat._core.__file__)")
case $where in
    "$work"/user/*) echo "imports from $where" ;;
    *) echo "build-wheel: lrat imports from $where, not from the fresh virtualenv" >&2; exit 1 ;;
esac

if [ "$run_tests" = 1 ]; then
    echo "== the test suite against the installed wheel"
    pip install -q "$wheel[train,serve,plots,dev]"
    HF_HUB_OFFLINE=1 python -m pytest -q -p no:cacheprovider tests
fi
if [ "$run_demo" = 1 ]; then
    echo "== lrat demo against the installed wheel"
    pip install -q "$wheel[train,plots]"
    out=$(mktemp -d)
    HF_HUB_OFFLINE=1 lrat demo --quick --out "$out/demo-out" --quiet
    rm -rf "$out"
fi
echo "build-wheel: $wheel passed"
