"""Lone UTF-16 surrogates in client text.

JSON may spell a lone surrogate (`"\\ud800"`); Python decodes it into a `str` that cannot be encoded
as UTF-8, so it would fail the tokenizer, the log files and the response. Every text that enters the
service is cleaned here first: each lone surrogate becomes U+FFFD and is counted; a well-formed pair
(which `json.loads` already joins into one character) is left alone.
"""

from __future__ import annotations

import re
from typing import Any

_LONE = re.compile("[\ud800-\udfff]")
ESCAPED = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A surrogate escape in raw JSON bytes: a cheap test for whether a body needs parsing at all."""


def replace_lone_surrogates(value: Any) -> tuple[Any, int]:
    """`value` (a string, or lists and dicts holding strings, keys included) with every lone surrogate
    replaced by U+FFFD, and how many were replaced."""
    if isinstance(value, str):
        return _LONE.subn("\ufffd", value)
    if isinstance(value, list):
        out, total = [], 0
        for item in value:
            clean, n = replace_lone_surrogates(item)
            out.append(clean)
            total += n
        return out, total
    if isinstance(value, dict):
        cleaned: dict[Any, Any] = {}
        total = 0
        for key, item in value.items():
            clean_key, n_key = replace_lone_surrogates(key)
            clean_item, n_item = replace_lone_surrogates(item)
            cleaned[clean_key] = clean_item
            total += n_key + n_item
        return cleaned, total
    return value, 0
