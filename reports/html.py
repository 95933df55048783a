"""The report as one HTML file, its figures inline (``report.html`` beside ``report.md``).

The report's Markdown uses a small subset: ``#`` headings, paragraphs, pipe tables, fenced code
blocks, ``-`` and ``*`` lists, images on a line of their own, inline code, bold, italics and
links. :func:`markdown_to_html` renders that subset; every text is escaped, and each image found
in the report folder is embedded as a ``data:`` URI, so the one file shows everything.
"""

import base64
import html
import re
from pathlib import Path

__all__ = ["markdown_to_html"]

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)$")
_INLINE = re.compile(r"`(?P<code>[^`]+)`|\*\*(?P<bold>[^*]+)\*\*|\*(?P<em>[^*\s][^*]*)\*"
                     r"|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)")
_STYLE = ("body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
          "line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}"
          "td,th{border:1px solid #ccc;padding:.2rem .5rem}td{text-align:right}"
          "td:first-child{text-align:left}pre{background:#f4f4f4;padding:.6rem;overflow:auto}"
          "code{background:#f4f4f4}img{max-width:100%}")


def _inline(text: str) -> str:
    """Escape ``text`` and render its inline code, bold, italics and links."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        if match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'])}</code>")
        elif match["bold"] is not None:
            out.append(f"<strong>{html.escape(match['bold'])}</strong>")
        elif match["em"] is not None:
            out.append(f"<em>{html.escape(match['em'])}</em>")
        else:
            out.append(f'<a href="{html.escape(match["href"])}">{html.escape(match["text"])}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _image(alt: str, src: str, folder: Path) -> str:
    path = folder / src
    if path.suffix == ".png" and path.is_file():  # inline: the file shows without its folder
        src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(alt)}" src="{html.escape(src)}"></p>'


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_to_html(text: str, folder: Path, *, title: str = "sparsa report") -> str:
    """The HTML page of the report's Markdown ``text``, its images read from ``folder``."""
    body: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")),
                       len(lines))
            body.append("<pre><code>" + html.escape("\n".join(lines[i + 1:end]))
                        + "</code></pre>")
            i = end + 1
        elif heading := re.match(r"^(#{1,6}) (.*)$", line):
            level = len(heading[1])
            body.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
            i += 1
        elif image := _IMAGE.match(line.strip()):
            body.append(_image(image["alt"], image["src"], folder))
            i += 1
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            rule = len(rows) > 1 and all(re.fullmatch(r":?-+:?", c) for c in rows[1])
            head, rest = (rows[0], rows[2:]) if rule else (None, rows)
            table = ["<table>"]
            if head is not None:
                table.append("<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
            table += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                      for row in rest]
            body.append("".join(table) + "</table>")
        elif re.match(r"^\s*[-*] ", line):
            items = []
            while i < len(lines) and lines[i].strip():
                if re.match(r"^\s*[-*] ", lines[i]):
                    items.append(re.sub(r"^\s*[-*] ", "", lines[i]))
                else:  # a continuation line of the item before
                    items[-1] += " " + lines[i].strip()
                i += 1
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items)
                        + "</ul>")
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not (
                    lines[i].startswith(("#", "```", "|")) or _IMAGE.match(lines[i].strip())
                    or re.match(r"^\s*[-*] ", lines[i])):
                paragraph.append(lines[i].strip())
                i += 1
            body.append("<p>" + _inline(" ".join(paragraph)) + "</p>")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")
