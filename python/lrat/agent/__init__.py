"""`lrat agent run`: a search agent over any OpenAI-compatible chat endpoint (`lrat.agent.loop`), with
the tools of `lrat serve` (`lrat.agent.tools`), native or text-mode tool calls (`lrat.agent.text_calls`),
questions from BEIR, TSV or BrowseComp-Plus files (`lrat.agent.questions`) and graded answers
(`lrat.agent.grading`). Its run files read back through `read_trajectories` and `mine`."""

from lrat.agent.loop import AgentSettings, RunSummary, run_question, run_questions
from lrat.agent.questions import Question, QuestionsError, read_questions
from lrat.agent.tools import HttpTools, LocalTools

__all__ = [
    "AgentSettings",
    "HttpTools",
    "LocalTools",
    "Question",
    "QuestionsError",
    "RunSummary",
    "read_questions",
    "run_question",
    "run_questions",
]
