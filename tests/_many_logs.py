"""Many small log files in every format the fixtures hold, plain, gzip and zstd, some with bad
records: the input of the Ray equality tests and of `benches/bench_ray.py`."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import zstandard

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"
BAD_RECORD = b'{"id": "cut short", "messages": [\n'


def write_many_logs(root: Path, n_files: int, *, subdirs: int = 16) -> Path:
    """Writes `n_files` files under `root` (spread over `subdirs` directories): copies of the format
    fixtures in turn, each plain, `.gz` or `.zst` in turn, and every seventh JSON-lines file ending
    with a bad record. Returns `root`."""
    sources = sorted(p for p in FORMATS.iterdir() if p.is_file())
    contents = [(p.name, p.read_bytes()) for p in sources]
    compressor = zstandard.ZstdCompressor(level=3)
    for i in range(n_files):
        name, data = contents[i % len(contents)]
        if name.endswith(".jsonl") and i % 7 == 0:
            data = data + BAD_RECORD
        kind = (i // len(contents)) % 3
        directory = root / f"part-{i % subdirs:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{i:06d}-{name}"
        if kind == 1:
            path = path.with_name(path.name + ".gz")
            data = gzip.compress(data, compresslevel=1, mtime=0)
        elif kind == 2:
            path = path.with_name(path.name + ".zst")
            data = compressor.compress(data)
        path.write_bytes(data)
    return root


def total_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


if __name__ == "__main__":
    import sys

    out = write_many_logs(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{sum(1 for _ in out.rglob('*.*'))} files, {total_bytes(out) / 1e6:.1f} MB under {os.fspath(out)}")
