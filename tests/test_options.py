"""`lrat train`'s flags come from TrainingConfig: every setting has one, defaults agree, values arrive."""

from __future__ import annotations

import argparse
import dataclasses

from lrat.commands import train as train_command
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

    args = _parse("--lr", "1e-4", "--no-shuffle", "--no-fn-filter", "--max-grad-norm", "0", "--resume",
                  "--negative-weights", "iter", "--quiet", "--max-steps", "7", "--precision", "fp32")
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
