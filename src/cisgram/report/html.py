"""The pieces of a self-contained HTML page: figures as embedded base64 PNG (:func:`img_tag`),
tables of escaped text (:func:`html_table`) or of ready HTML (:func:`raw_html_table`), links,
number formats, and the page itself (:func:`page`, :func:`write_page`, written atomically). No
external file is ever referenced."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from cisgram.files import atomic_write

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:.9em}"""


def png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def img_tag(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png_base64(fig)}">'


def html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """A self-contained HTML page from ``(heading, html body)`` sections."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    return "".join(parts)


def fmt_num(v, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}f}"


def link_tag(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def raw_html_table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = ()) -> str:
    """A table whose cells are HTML already (escape text with ``html.escape`` first); columns
    ``left`` (besides the first) are aligned left, for sentences."""
    def cell(tag: str, i: int, v) -> str:
        return f"<{tag} style='text-align:left'>{v}</{tag}>" if i in left else f"<{tag}>{v}</{tag}>"

    head = "".join(cell("th", i, html.escape(str(h))) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def fmt_ci(v) -> str:
    return "" if not v or v[0] is None else f" [{fmt_num(v[0])}, {fmt_num(v[1])}]"


def write_page(path, title: str, sections: list[tuple[str, str]]) -> None:
    """Write :func:`page` to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(page(title, sections))
