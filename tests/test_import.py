"""`import lrat` loads the compiled core and nothing heavy; every public name loads on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_lrat_loads_neither_polars_nor_torch():
    code = (
        "import sys, lrat\n"
        "heavy = [m for m in ('polars', 'torch', 'transformers', 'pyarrow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "lrat.read_trajectories\n"
        "assert 'polars' in sys.modules and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves_and_is_listed():
    import lrat

    for name in lrat.__all__:
        assert getattr(lrat, name) is not None, name
        assert name in dir(lrat)
    assert lrat.eval.query_metrics is not None
    assert lrat.read_trajectories.__module__ == "lrat.trajectories"


def test_an_unknown_name_is_an_attribute_error():
    import lrat

    with pytest.raises(AttributeError, match="no attribute 'read_trajectory'"):
        lrat.read_trajectory  # noqa: B018
