"""The HTML report is one self-contained file: escaped text, tables, inline PNGs, in-page links."""

import base64
import re

from boostjet.analysis.document import Bullets, Figure, Heading, Table, Text
from boostjet.analysis.html import render_html

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def test_blocks_render_escaped_and_self_contained(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(PNG)
    second.write_bytes(PNG[::-1])
    html = render_html(
        [
            Heading("Report <run>", 1),
            Heading("Taggers"),
            Text("ε_S < 0.3 & more"),
            Table(["tagger", "AUC"], [["<dnn>", "0.97"]]),
            Figure(first, "ROC a"),
            Figure(second, "ROC b"),
            Heading("Taggers"),
            Text("WARNING: dnn does NOT beat cut_based_top."),
            Bullets(["top: dnn"]),
        ],
        title="Report <run>",
    )
    assert html.startswith("<!DOCTYPE html>") and "<title>Report &lt;run&gt;</title>" in html
    assert "ε_S &lt; 0.3 &amp; more" in html
    assert "<td>&lt;dnn&gt;</td><td>0.97</td>" in html and "<th>AUC</th>" in html
    # both figures side by side in one block, their bytes inline
    assert html.count('<div class="figures">') == 1
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert [base64.b64decode(i) for i in images] == [PNG, PNG[::-1]]
    # contents list linking unique heading ids; nothing outside the file
    assert re.findall(r'href="([^"]*)"', html) == ["#taggers", "#taggers-2"]
    assert 'id="taggers"' in html and 'id="taggers-2"' in html
    assert "://" not in html
    assert '<p class="warning">WARNING: dnn does NOT beat' in html
    assert "<ul><li>top: dnn</li></ul>" in html
