"""One self-contained HTML page of a campaign: sections of figures, tables and text (no AiiDA).

The page must open anywhere, years later, without the database or the network: figures are
embedded as ``data:`` URIs (PNG or SVG), the style sheet is inline, there is no script and the
only links are anchors within the page. Every figure and table names the node it came from (UUID
and pk) in its caption, so a reader can go from the page back to the provenance graph
(``verdi node show UUID``); :class:`Figure` and :class:`Table` refuse to exist without one.
"""

from __future__ import annotations

import base64
import html
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

#: Image types a figure may carry, by the signature of their bytes.
MIME_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"<svg": "image/svg+xml", b"<?xml": "image/svg+xml"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;
  line-height:1.45;background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em 4em}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.3em;border-bottom:1px solid #ccc;padding-bottom:.2em;
  margin-top:2.2em}h3{font-size:1.05em;margin-top:1.6em}
nav ol{columns:2;font-size:.95em}a{color:#0b5394;text-decoration:none}a:hover{text-decoration:underline}
figure{margin:1.2em 0;padding:.6em;border:1px solid #e3e3e3;border-radius:4px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption,caption{font-size:.88em;color:#444;text-align:left;margin-top:.4em}
caption{caption-side:bottom;padding-top:.4em}
table{border-collapse:collapse;margin:1em 0;font-size:.88em;width:auto;min-width:50%;max-width:100%}
th,td{border:1px solid #ddd;padding:.25em .55em;vertical-align:top}th{background:#f3f5f7;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.uuid{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.8em 0}
.problem{background:#fdecea;border-left:4px solid #d93025;padding:.4em .8em;margin:.8em 0}
.meta{color:#555;font-size:.9em}
"""


@dataclass(frozen=True)
class Source:
    """A node a figure or table came from: its UUID (always) and pk, and what it is."""

    uuid: str
    pk: int | None = None
    what: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", str(self.uuid)):
            raise ValueError(f"a source needs a node UUID, got {self.uuid!r}")

    def cite(self) -> str:
        pk = f", pk {self.pk}" if self.pk is not None else ""
        what = f"{html.escape(self.what)} " if self.what else ""
        return f'{what}<span class="uuid">{self.uuid}</span>{pk}'


def _require_sources(sources, kind: str) -> tuple[Source, ...]:
    sources = tuple(sources)
    if not sources:
        raise ValueError(f"a {kind} needs at least one source node (its caption cites the UUID)")
    return sources


@dataclass(frozen=True)
class Figure:
    """An image (PNG or SVG bytes) with its caption and the node(s) it was drawn from."""

    image: bytes
    caption: str
    sources: tuple[Source, ...]

    def __post_init__(self):
        object.__setattr__(self, "sources", _require_sources(self.sources, "figure"))
        mime_type(self.image)  # refuse anything that is not an image now, not in the browser


@dataclass(frozen=True)
class Table:
    """Rows of cells (numbers are right-aligned) under ``header``, with a caption and its sources."""

    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    caption: str
    sources: tuple[Source, ...]

    def __post_init__(self):
        object.__setattr__(self, "sources", _require_sources(self.sources, "table"))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))
        object.__setattr__(self, "header", tuple(self.header))


@dataclass(frozen=True)
class Text:
    """A paragraph (``kind``: '' plain, 'note' for a skipped stage, 'problem' for a failure)."""

    text: str
    kind: str = ""


@dataclass
class Section:
    """A titled part of the report; ``anchor`` is its id in the page (table of contents links)."""

    title: str
    anchor: str
    items: list = field(default_factory=list)


@dataclass
class Report:
    """The whole page: title, lines under it (campaign node, date), sections in order."""

    title: str
    subtitle: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def mime_type(image: bytes) -> str:
    """The MIME type of PNG or SVG bytes; ValueError for anything else."""
    head = bytes(image[:8]).lstrip()
    for signature, mime in MIME_TYPES.items():
        if head.startswith(signature):
            return mime
    raise ValueError(f"figure bytes are neither PNG nor SVG (start {bytes(image[:8])!r})")


def data_uri(image: bytes) -> str:
    """``data:`` URI of PNG/SVG bytes (base64)."""
    return f"data:{mime_type(image)};base64,{base64.b64encode(image).decode('ascii')}"


def _cell(value) -> tuple[str, bool]:
    """HTML of one table cell and whether it is a number (right-aligned)."""
    if value is None:
        return "–", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}", True
    if isinstance(value, numbers.Real):
        value = float(value)
        if value != value:  # NaN
            return "–", False
        magnitude = abs(value)
        text = f"{value:.3g}" if magnitude and (magnitude < 1e-2 or magnitude >= 1e5) else f"{value:.4g}"
        return text, True
    return html.escape(str(value)), False


def _caption(number: str, caption: str, sources: tuple[Source, ...]) -> str:
    cites = "; ".join(s.cite() for s in sources)
    return f"<b>{number}.</b> {html.escape(caption)} <i>Source:</i> {cites}."


def render(report: Report, generated: datetime | None = None) -> str:
    """The page as one HTML string (UTF-8 text; figures and style inline, anchors only)."""
    generated = generated or datetime.now(timezone.utc)
    n_figure = n_table = 0
    anchors = [s.anchor for s in report.sections]
    if len(set(anchors)) != len(anchors):
        raise ValueError(f"section anchors must be unique, got {anchors}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(report.title)}</title><style>{STYLE}</style></head><body><main>",
             f'<h1 id="top">{html.escape(report.title)}</h1>']
    for line in report.subtitle:
        parts.append(f'<p class="meta">{html.escape(line)}</p>')
    parts.append(f'<p class="meta">Generated {generated:%Y-%m-%d %H:%M} UTC by aiida-bzs.</p>')
    parts.append('<nav><h2 id="contents">Contents</h2><ol>')
    parts += [f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>' for s in report.sections]
    parts.append("</ol></nav>")
    for section in report.sections:
        parts.append(f'<section><h2 id="{html.escape(section.anchor)}">{html.escape(section.title)}</h2>')
        for item in section.items:
            if isinstance(item, Figure):
                n_figure += 1
                parts.append(f'<figure id="figure-{n_figure}"><img src="{data_uri(item.image)}" '
                             f'alt="{html.escape(item.caption)}"><figcaption>'
                             f"{_caption(f'Figure {n_figure}', item.caption, item.sources)}</figcaption></figure>")
            elif isinstance(item, Table):
                n_table += 1
                head = "".join(f"<th>{html.escape(str(h))}</th>" for h in item.header)
                body = []
                for row in item.rows:
                    cells = [_cell(v) for v in row]
                    body.append("<tr>" + "".join(f'<td class="num">{c}</td>' if num else f"<td>{c}</td>"
                                                 for c, num in cells) + "</tr>")
                parts.append(f'<table id="table-{n_table}"><caption>'
                             f"{_caption(f'Table {n_table}', item.caption, item.sources)}</caption>"
                             f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
            elif isinstance(item, Text):
                cls = f' class="{item.kind}"' if item.kind else ""
                parts.append(f"<p{cls}>{html.escape(item.text)}</p>")
            elif isinstance(item, str):  # a sub-heading
                parts.append(f"<h3>{html.escape(item)}</h3>")
            else:
                raise TypeError(f"cannot render {type(item).__name__} in a report section")
        parts.append('<p class="meta"><a href="#top">back to top</a></p></section>')
    parts.append("</main></body></html>")
    return "\n".join(parts)
