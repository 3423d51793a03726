"""The commands' flags come from the configs (TrainingConfig, MiningConfig, ReadOptions): every setting
has one, defaults agree, values arrive."""

from __future__ import annotations

import argparse
import dataclasses

import lrat
import pytest
from lrat.commands import mine as mine_command
from lrat.commands import train as train_command
from lrat.options import options_from_args
from lrat.training import TrainingConfig


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lrat")
    train_command.register(parser.add_subparsers())
    return parser.parse_args(["train", "data.parquet", "-o", "out", *argv])


def test_every_setting_has_a_flag_and_the_defaults_are_the_configs() -> None:
    from lrat.options import options_from_args

    values = options_from_args(TrainingConfig, _parse())
    flagged = {f.name for f in dataclasses.fields(TrainingConfig)} - {"output_dir", "model", "normalize"}
    assert set(values) == flagged
    defaults = TrainingConfig(output_dir="out")
    assert values == {name: getattr(defaults, name) for name in flagged}


def test_flags_reach_the_config_with_their_conversions() -> None:
    from lrat.options import options_from_args

    args = _parse(
        "--lr",
        "1e-4",
        "--no-shuffle",
        "--no-fn-filter",
        "--max-grad-norm",
        "0",
        "--resume",
        "--negative-weights",
        "iter",
        "--quiet",
        "--max-steps",
        "7",
        "--precision",
        "fp32",
    )
    values = options_from_args(TrainingConfig, args)
    assert values["learning_rate"] == 1e-4 and values["max_steps"] == 7 and values["precision"] == "fp32"
    assert values["shuffle"] is False and values["show_progress"] is False
    assert values["false_negative_margin"] is None and values["max_grad_norm"] is None
    assert values["resume"] is True and values["negative_weights"] == "iter"
    config = TrainingConfig(output_dir="out", **values)
    config.check()
    assert config.negative_weights is not None and config.negative_weights.rejected == 3.0
    assert options_from_args(TrainingConfig, _parse("--resume", "ckpt/step-4"))["resume"] == "ckpt/step-4"
    assert options_from_args(TrainingConfig, _parse("--fn-margin", "0.9"))["false_negative_margin"] == 0.9


def _parse_mine(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lrat")
    mine_command.register(parser.add_subparsers())
    return parser.parse_args(["mine", "logs/", "-o", "out.parquet", *argv])


def test_mining_and_reading_flags_come_from_their_configs() -> None:
    for config in (lrat.MiningConfig, lrat.ReadOptions):
        values = options_from_args(config, _parse_mine())
        assert set(values) <= {f.name for f in dataclasses.fields(config)}
        assert config(**values) == config()
    assert set(options_from_args(lrat.MiningConfig, _parse_mine())) == {
        f.name for f in dataclasses.fields(lrat.MiningConfig)
    }
    args = _parse_mine(
        "--all-outcomes",
        "--keep-accepted-negatives",
        "--clip",
        ",2.5",
        "--rule",
        "per_search",
        "--search-tools",
        "find, lookup",
        "--log-format",
        "browsecomp",
        "--strict",
    )
    mining = lrat.MiningConfig(**options_from_args(lrat.MiningConfig, args))
    assert (mining.outcomes, mining.exclude_accepted, mining.clip, mining.rule) == (
        "all",
        False,
        (None, 2.5),
        "per_search",
    )
    reading = lrat.ReadOptions(**options_from_args(lrat.ReadOptions, args))
    assert (reading.search_tools, reading.format, reading.strict) == (("find", "lookup"), "browsecomp", True)


def test_mining_settings_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="weighting must be one of intensity, none, got 'dwell'"):
        lrat.MiningConfig(weighting="dwell")
    with pytest.raises(ValueError, match="rule must be one of segment, per_search, got 'click'"):
        lrat.MiningConfig().replace(rule="click")
    with pytest.raises(TypeError, match="unknown MiningConfig setting rules"):
        lrat.MiningConfig().replace(rules="segment")


def test_lrat_mine_end_to_end_matches_the_library_call(lrat_trajectories, tmp_path) -> None:
    import json

    import polars as pl
    from lrat.cli import main

    out, report = tmp_path / "train.parquet", tmp_path / "report.json"
    code = main(
        [
            "mine",
            str(lrat_trajectories),
            "-o",
            str(out),
            "--no-filter",
            "--all-outcomes",
            "--tokenizer",
            "whitespace",
            "--report",
            str(report),
            "--no-progress",
        ]
    )
    assert code == 0
    expected = lrat.mine(lrat_trajectories, judge="none", outcomes="all", tokenizer="whitespace")
    written = pl.read_parquet(out)
    assert written.height == expected.height > 0
    assert written["pos_id"].to_list() == expected["pos_id"].to_list()
    assert written["weight"].to_list() == pytest.approx(expected["weight"].to_list())
    assert json.loads(report.read_text())["kept"] == expected.height


def test_training_settings_with_choices_are_checked() -> None:
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        TrainingConfig(output_dir="out", precision="fp8").check()
    with pytest.raises(ValueError, match="pooling must be one of mean, cls, last, got 'max'"):
        TrainingConfig(output_dir="out", pooling="max").check()
    TrainingConfig(output_dir="out", pooling=None).check()
