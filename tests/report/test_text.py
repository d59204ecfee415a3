"""visible(): what a reader sees instead of invisible or control characters."""

from __future__ import annotations

from auditor.report.text import visible


def test_controls_and_bidi_are_escaped() -> None:
    assert visible("\x1b[31mred\x07") == "\\x1b[31mred\\x07"
    assert visible("invoice\u202egnp.exe") == "invoice\\u202egnp.exe"
    assert visible("a\u2066b\u2069c\u200bd") == "a\\u2066b\\u2069c\\u200bd"
    assert visible("line\u2028sep") == "line\\u2028sep"
    assert visible("\ud800") == "\\ud800"  # a lone surrogate cannot even be encoded
    assert visible("\U000e0001tag") == "\\U000e0001tag"


def test_letters_and_marks_drawn_as_nothing_are_escaped() -> None:
    """Default-ignorable code points that are letters or marks, not format characters: a
    subject name `kernel` followed by Hangul fillers read as `kernel`."""
    assert visible("kernel\u3164\uffa0\u115f") == "kernel\\u3164\\uffa0\\u115f"
    assert visible("a\u034fb\ufe0fc\U000e0100d\u17b4") == \
        "a\\u034fb\\ufe0fc\\U000e0100d\\u17b4"


def test_printable_text_is_untouched() -> None:
    text = "kernel_cmd_line — Größe 𝔘 日本 <b>&"
    assert visible(text) == text


def test_newline_and_tab_kept_unless_asked() -> None:
    assert visible("a\nb\tc") == "a\nb\tc"
    assert visible("a\nb\tc", keep="") == "a\\x0ab\\x09c"
    assert visible("a\r\n", keep="\n") == "a\\x0d\n"
