"""Assemble the `cnndsl view` page: the template with the stylesheet, the script and the data inlined."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _asset(name: str) -> str:
    return resources.files("cnndsl.view").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(obj: Any) -> str:
    """JSON that is safe inside <script>: no `</script>`, `<!--` or line separators can end or bend it."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_page(data: dict[str, Any]) -> str:
    page = _asset("page.html")
    # replaced in this order, and each part only once, so no inlined text is read as a marker
    head, _, tail = page.partition("/*CSS*/")
    page = head + _asset("view.css") + tail
    head, _, tail = page.partition("/*DATA*/")
    head2, _, tail2 = tail.partition("/*JS*/")
    return head + script_json(data) + head2 + _asset("view.js") + tail2


def build(model) -> str:
    """A `cnndsl.Model` -> the HTML page."""
    from cnndsl.passes.manager import annotate
    from cnndsl.view.data import view_data

    return render_page(view_data(annotate(model.graph), model.report()))
