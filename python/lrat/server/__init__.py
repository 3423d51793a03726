"""`lrat serve`: the search service agents call as their tool, logging every session as a trajectory
that `lrat mine` reads. The HTTP app needs the `serve` extra (FastAPI, uvicorn); the rest does not."""

from lrat.server.search import CorpusSearch, DocumentNotFound, Hit
from lrat.server.service import Limits, SearchService, ToolError, tool_schemas
from lrat.server.sessions import SessionLog, SessionNotFound

__all__ = [
    "CorpusSearch",
    "DocumentNotFound",
    "Hit",
    "Limits",
    "SearchService",
    "SessionLog",
    "SessionNotFound",
    "ToolError",
    "tool_schemas",
]
