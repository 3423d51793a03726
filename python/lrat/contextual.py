"""Contextual queries: a search query joined with the reasoning the agent wrote right before it.

An agent's query is terse ("Fleetwood Mac 1975 guitarist"); the reasoning before it says what it is
after and why. ITER (arXiv 2608.27912) trains and searches with the two joined, and reports most of its
gain over LRAT from that. The query comes first, so that an encoder's length limit cuts the context and
never the query. Mining (`contextual_queries`), the simulator, the bench and `lrat serve` all join them
here, so a model trained on contextual queries is searched with the same form.
"""

from __future__ import annotations

import polars as pl

SEPARATOR = "\n"


def contextual_query(query: str, context: str | None) -> str:
    """`query`, then the separator and the stripped `context` when it holds any text."""
    context = (context or "").strip()
    return f"{query}{SEPARATOR}{context}" if context else query


def contextual_query_expr(query: str = "query", context: str = "context") -> pl.Expr:
    """`contextual_query` over two string columns (a null context counts as empty)."""
    stripped = pl.col(context).fill_null("").str.strip_chars()
    return (
        pl.when(stripped != "")
        .then(pl.concat_str([pl.col(query), pl.lit(SEPARATOR), stripped]))
        .otherwise(pl.col(query))
        .alias(query)
    )
