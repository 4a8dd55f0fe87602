"""Runbooks as HTML: Markdown rendered with raw HTML off, then sanitized by an allow-list.

Knowledge entries are written by people and by a model; either may contain `<script>` or an
`<img onerror>`. Two walls keep them text: markdown-it never passes HTML through (`html` off:
it is escaped like any other text), and nh3 (Ammonia) drops any tag or attribute not listed
below from what markdown-it made. Images are not rendered at all (a picture from another host
would be a request leaving the operator's browser): `![alt](url)` shows as a link.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# What markdown-it produces for CommonMark plus tables and strikethrough, nothing more.
ALLOWED_TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "li",
        "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# No style attribute: the pages' policy (style-src 'self') would refuse it anyway.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Page headings are h1 and h2; a runbook's own `#` starts at h3 so the page outline stays true.
HEADING_SHIFT = 2


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.disable("image")
    return parser


def _shift_headings(tokens: list[Any]) -> None:
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            level = min(int(token.tag[1]) + HEADING_SHIFT, 6)
            token.tag = f"h{level}"


def markdown_html(text: str) -> Markup:
    """A Markdown text as safe HTML: no raw HTML, no images, links to http(s)/mailto only."""
    parser = _parser()
    tokens = parser.parse(text)
    _shift_headings(tokens)
    rendered = parser.renderer.render(tokens, parser.options, {})
    cleaned = nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - sanitized by nh3 just above
