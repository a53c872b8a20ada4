"""FHIR's rules for a narrative (`Narrative.div`, R4 §2.4 "Narrative", invariants txt-1 and txt-2).

txt-1: only the basic HTML formatting elements and attributes of HTML 4.0 (chapters 7-11 and
15, less 9.4), `<a>` with `name` or `href`, images and inline `style`; no scripts, forms,
frames, objects, event attributes or active URLs. txt-2: some non-whitespace content. The root
is a `div` in the XHTML namespace. The text is parsed by a real XML parser (expat): no DTD, no
entity declarations, no processing instructions. The element and attribute lists are those
of the HL7 FHIR validator.
"""

from __future__ import annotations

import re
from typing import NoReturn
from xml.parsers import expat

XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_SEP = "\x1f"  # between namespace and local name in expat's names (never in a valid name)

ELEMENTS = frozenset(
    {
        "p",
        "br",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "a",
        "span",
        "b",
        "em",
        "i",
        "strong",
        "small",
        "big",
        "tt",
        "dfn",
        "q",
        "var",
        "abbr",
        "acronym",
        "cite",
        "blockquote",
        "hr",
        "address",
        "bdo",
        "kbd",
        "sub",
        "sup",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "pre",
        "table",
        "caption",
        "colgroup",
        "col",
        "thead",
        "tr",
        "tfoot",
        "tbody",
        "th",
        "td",
        "code",
        "samp",
        "img",
        "map",
        "area",
    }
)
COMMON_ATTRIBUTES = frozenset(
    {
        "title",
        "style",
        "class",
        "id",
        "lang",
        "dir",
        "accesskey",
        "tabindex",
        # tables
        "span",
        "width",
        "align",
        "valign",
        "char",
        "charoff",
        "abbr",
        "axis",
        "headers",
        "scope",
        "rowspan",
        "colspan",
        "border",
        "cellpadding",
        "cellspacing",
        "summary",
        "frame",
        "rules",
    }
)
ELEMENT_ATTRIBUTES = {
    "a": frozenset({"href", "name", "rel", "rev", "hreflang", "type", "shape", "coords"}),
    "img": frozenset({"src", "alt", "longdesc", "height", "usemap", "ismap"}),
    "area": frozenset({"href", "alt", "shape", "coords", "nohref"}),
    "map": frozenset({"name"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "ol": frozenset({"start", "type", "compact"}),
    "ul": frozenset({"type", "compact"}),
    "li": frozenset({"value", "type"}),
    "col": frozenset(),
    "colgroup": frozenset(),
    "td": frozenset({"nowrap", "bgcolor", "height"}),
    "th": frozenset({"nowrap", "bgcolor", "height"}),
    "tr": frozenset({"bgcolor"}),
    "table": frozenset({"bgcolor"}),
    "pre": frozenset({"xml:space"}),
}
URL_ATTRIBUTES = frozenset({"href", "src", "longdesc", "cite", "usemap"})
# Schemes that run code or stand in for a document: never in a narrative's links.
_ACTIVE_URL = re.compile(r"^(?:javascript|vbscript|livescript|data|file|blob):", re.IGNORECASE)
_IMAGE_DATA_URL = re.compile(r"^data:image/(?:png|gif|jpeg|webp)[;,]", re.IGNORECASE)
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")
_ACTIVE_STYLE = re.compile(r"url\s*\(|expression\s*\(|javascript:|@import|behavior\s*:|-moz-binding", re.IGNORECASE)


class _Unsafe(Exception):
    pass


def xhtml_fault(text: str) -> str | None:
    """Why the narrative breaks FHIR's rules (a sentence quoting nothing of it), or None."""
    parser = expat.ParserCreate("UTF-8", namespace_separator=_SEP)
    seen: dict[str, str | bool | None] = {"root": None, "content": False}  # root: the root element's name

    def refuse(*_: object) -> NoReturn:  # fits every expat handler (ExternalEntityRefHandler returns int)
        raise _Unsafe("A narrative must not hold a DTD, entity declarations or processing instructions.")

    def start(name: str, attributes: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(_SEP)
        if seen["root"] is None:
            seen["root"] = name
            if local != "div" or namespace != XHTML_NS:
                raise _Unsafe("A narrative's root must be a div in the XHTML namespace.")
        if namespace != XHTML_NS:
            raise _Unsafe("A narrative holds only XHTML elements.")
        if local not in ELEMENTS:
            raise _Unsafe(
                "A narrative holds only FHIR's basic XHTML formatting elements (no scripts, "
                "forms, frames, objects or style sheets)."
            )
        allowed = ELEMENT_ATTRIBUTES.get(local, frozenset())
        for attribute, value in attributes.items():
            attr_ns, _, attr = attribute.rpartition(_SEP)
            if attr_ns == XML_NS and attr in ("lang", "space"):
                continue
            if attr_ns or (attr not in COMMON_ATTRIBUTES and attr not in allowed):
                raise _Unsafe(
                    "A narrative's elements carry only FHIR's basic XHTML attributes "
                    "(no event handlers such as onclick)."
                )
            if attr in URL_ATTRIBUTES:
                url = _IGNORED_IN_URL.sub("", value)
                if _ACTIVE_URL.match(url) and not (local == "img" and attr == "src" and _IMAGE_DATA_URL.match(url)):
                    raise _Unsafe("A narrative's links must not use javascript:, data: or similar URLs.")
            elif attr == "style" and _ACTIVE_STYLE.search(value):
                raise _Unsafe("A narrative's inline styles must not load URLs or run expressions.")
        if local == "img":
            seen["content"] = True

    def characters(data: str) -> None:
        if not data.isspace():
            seen["content"] = True

    parser.StartElementHandler = start
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ProcessingInstructionHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(text.encode("utf-8"), True)
    except _Unsafe as unsafe:
        return str(unsafe)
    except expat.ExpatError:
        return "A narrative must be well-formed XHTML."
    if not seen["content"]:
        return "A narrative must have some non-whitespace content (txt-2)."
    return None
