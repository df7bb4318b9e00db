"""Checks that figure content is safe to embed inline: SVG without scripts, real PNG."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

from PIL import Image, UnidentifiedImageError

from accord.core import DataError
from accord.report._images import png_data_uri

__all__ = ["embed_png", "embed_svg"]

_SVG_NS = "{http://www.w3.org/2000/svg}"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PROLOGUE = re.compile(r"^\s*(<\?xml[^>]*\?>)?\s*(<!--.*?-->\s*)*", re.DOTALL)
_FORBIDDEN_TAGS = {"script", "foreignObject", "iframe", "object", "embed"}


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def embed_svg(svg: str) -> str:
    """``svg`` without its XML prologue, after checking it is one well-formed ``<svg>``
    element with no scripts, event handlers, foreign objects or external references."""
    body = _PROLOGUE.sub("", svg, count=1)
    if "<!DOCTYPE" in body or "<!ENTITY" in body:
        raise DataError("figure SVG has a DOCTYPE or entity declaration; expected plain SVG")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DataError(f"figure SVG is not well-formed XML ({exc})") from exc
    if root.tag != f"{_SVG_NS}svg":
        raise DataError(f"figure SVG has root element {root.tag!r}; expected an SVG <svg>")
    for element in root.iter():
        if _local(element.tag) in _FORBIDDEN_TAGS:
            raise DataError(f"figure SVG has a <{_local(element.tag)}> element; expected none")
        for attribute, value in element.attrib.items():
            name = _local(attribute).lower()
            if name.startswith("on"):
                raise DataError(f"figure SVG has an event handler ({name}); expected none")
            if name == "href" and not value.startswith(("#", "data:image/")):
                raise DataError("figure SVG links to an external resource; expected none")
    return body


def embed_png(png: bytes) -> tuple[str, int, int]:
    """A data URI of ``png`` and its width and height, after checking it decodes."""
    if not png.startswith(_PNG_SIGNATURE):
        raise DataError("figure bytes do not start with the PNG signature; expected a PNG")
    try:
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError("figure PNG does not decode; expected a valid PNG") from exc
    return png_data_uri(png), width, height
