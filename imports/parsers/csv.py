"""Parser stub: implementation follows."""

from __future__ import annotations

from imports.parsers.report import ParsedMessage, ParseError


def parse_csv(raw: bytes | str) -> ParsedMessage:
    raise ParseError("not implemented yet")
