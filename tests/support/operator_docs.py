"""What the operator documentation in docs/ quotes: `portalctl` command lines, Temporal UI
searches (visibility queries) and the symptom sections of the runbooks."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from workflows import search_attributes

DOCS = Path(__file__).parents[2] / "docs"
SYSTEM_ATTRIBUTES = ("WorkflowType", "WorkflowId", "ExecutionStatus", "TaskQueue", "StartTime")
_CODE_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_QUERY = re.compile(
    r"^(?:{})\s*(?:=|!=|>|<|IN\b|STARTS_WITH\b)".format(
        "|".join([key.name for key in search_attributes.ALL] + list(SYSTEM_ATTRIBUTES))
    )
)


@dataclass(frozen=True)
class Section:
    document: str
    title: str
    text: str


def documents() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(DOCS.glob("*.md"))}


def portalctl_commands(text: str) -> list[list[str]]:
    """Every `portalctl ...` in a code span or as a line of a code block, as argv (sans name)."""
    spans = [" ".join(span.split()) for span in _CODE_SPAN.findall(_without_fences(text))]
    lines = [line.strip() for block in _FENCE.findall(text) for line in block.splitlines()]
    quoted = [*spans, *lines]
    return [
        shlex.split(command, comments=True)[1:]
        for command in quoted
        if command.startswith("portalctl ")
    ]


def visibility_queries(text: str) -> list[str]:
    spans = [" ".join(span.split()) for span in _CODE_SPAN.findall(_without_fences(text))]
    return [span for span in spans if _QUERY.match(span)]


def symptom_sections() -> list[Section]:
    """The `###` sections of the runbooks: one per symptom."""
    sections = []
    for name, text in documents().items():
        if not name.startswith("runbook-"):
            continue
        for part in re.split(r"^(?=#{2,3} )", text, flags=re.MULTILINE):
            if part.startswith("### "):
                title, _, body = part.partition("\n")
                sections.append(Section(name, title.removeprefix("### ").strip(), body))
    return sections


def _without_fences(text: str) -> str:
    return _FENCE.sub("", text)
