"""A small HTML inspector on the standard library's parser, shared by the md and html tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"br", "meta", "img", "input", "hr", "link", "circle", "path", "line", "rect"}


@dataclass
class Element:
    tag: str
    attrs: list[tuple[str, str | None]]
    parents: tuple[str, ...]
    text: list[str] = field(default_factory=list)


class Inspector(HTMLParser):
    """Every element with its attributes and ancestors, and every text node with its ancestors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: list[tuple[str, tuple[str, ...]]] = []
        self.comments: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs, tuple(self._open)))
        if tag not in VOID:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs, tuple(self._open)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.texts.append((data, tuple(self._open)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    @property
    def text(self) -> str:
        return "".join(data for data, _ in self.texts)

    def tags(self) -> set[str]:
        return {e.tag for e in self.elements}


def inspect(html: str) -> Inspector:
    parser = Inspector()
    parser.feed(html)
    parser.close()
    return parser
