"""Markdown text of report blocks; figures are linked (PNG, with their PDF twin) relative to the
report's directory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from boostjet.analysis.document import Block, Bullets, Heading, Table, Text


def to_markdown(blocks: Sequence[Block], directory: Path) -> str:
    """Markdown text of ``blocks``; figure links are relative to ``directory``."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [*(f"- {item}" for item in block.items), ""]
        elif isinstance(block, Table):
            lines.append(_markdown_row(block.header))
            lines.append(_markdown_row(["---"] * len(block.header)))
            lines += [_markdown_row(row) for row in block.rows]
            lines.append("")
        else:
            png = _relative(block.path, directory)
            pdf = _relative(block.path.with_suffix(".pdf"), directory)
            lines += [f"![{block.caption}]({png})", f"*{block.caption}* ([PDF]({pdf}))", ""]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _relative(path: Path, directory: Path) -> str:
    return Path(os.path.relpath(path.resolve(), directory.resolve())).as_posix()
