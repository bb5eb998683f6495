"""Text from files shown as text: Streamlit renders markdown (and LaTeX between ``$``) in messages, captions
and labels, so a file named ``**x**.pt`` or a class ``$x^2$`` would be formatted, and a link could be made.

:func:`literal` escapes every character that markdown, Streamlit's directives (``:red[...]``) and its math
give meaning to; use it for every name that comes from a file, an upload or a model (figures are plain text
already: see ``analysis.figures._style.PlainTextFigure``).
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=\"'&^])")
# Streamlit links "http://...", "www.x" and "a@b.c" found in the text after parsing (escapes do not stop it):
# an invisible word joiner breaks each pattern without changing what is shown.
_WORD_JOINER = "\u2060"
_AUTOLINK_BREAKS = {":": ":" + _WORD_JOINER, "@": _WORD_JOINER + "@", ".": _WORD_JOINER + "."}


def literal(text: object) -> str:
    """``text`` (``str()`` of it) with every markdown-special character backslash-escaped, an invisible word
    joiner (U+2060) beside ``:``, ``.`` and ``@`` (no automatic links), and line breaks as spaces, so that
    Streamlit shows it exactly as written."""
    escaped = "".join(_AUTOLINK_BREAKS.get(character, character) for character in str(text))
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", escaped)
    return " ".join(escaped.splitlines())
