"""Self-contained HTML of report blocks: PNGs embedded as base64, inline CSS, no external URLs.

The file can be mailed or archived alone: the only links are in-page anchors of the contents list.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from html import escape

from boostjet.analysis.document import Block, Bullets, Figure, Heading, Table, Text

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #f8f8f8; }
.warning { background: #fff3cd; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; width: 48%; min-width: 360px; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
"""


def render_html(blocks: Sequence[Block], *, title: str) -> str:
    """A complete HTML document of ``blocks``; consecutive figures are laid out side by side."""
    anchors = _anchors(blocks)
    body: list[str] = []
    contents = [
        f'<li><a href="#{anchors[i]}">{escape(b.text)}</a></li>'
        for i, b in enumerate(blocks)
        if isinstance(b, Heading) and b.level == 2
    ]
    figures: list[str] = []
    for i, block in enumerate(blocks):
        if not isinstance(block, Figure) and figures:
            body.append(f'<div class="figures">{"".join(figures)}</div>')
            figures = []
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{anchors[i]}">{escape(block.text)}</h{block.level}>')
            if block.level == 1 and contents:
                body.append(f"<nav><ul>{''.join(contents)}</ul></nav>")
        elif isinstance(block, Text):
            css = ' class="warning"' if block.text.startswith("WARNING") else ""
            body.append(f"<p{css}>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append(f"<ul>{''.join(f'<li>{escape(item)}</li>' for item in block.items)}</ul>")
        elif isinstance(block, Table):
            body.append(_table(block))
        else:
            figures.append(_figure(block))
    if figures:
        body.append(f'<div class="figures">{"".join(figures)}</div>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _table(table: Table) -> str:
    header = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    caption = escape(figure.caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _anchors(blocks: Sequence[Block]) -> dict[int, str]:
    """A unique id for every heading, from its text."""
    anchors: dict[int, str] = {}
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        if isinstance(block, Heading):
            base = re.sub(r"[^a-z0-9]+", "-", block.text.lower()).strip("-") or "section"
            anchor, n = base, 1
            while anchor in seen:
                n += 1
                anchor = f"{base}-{n}"
            seen.add(anchor)
            anchors[i] = anchor
    return anchors
