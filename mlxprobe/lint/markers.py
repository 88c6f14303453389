"""Words beside a marker in a module's text, found by `str.find` walks: the text tests of the
rules that need a name before they parse anything (a regex with no literal head tries every
position of a file; over the three packages such tests cost lint ~2 s).

Job: `occurrences(text, marker)`, where a marker stands; `word_before(text, at)`, the word
that ends just before a position (`y` of `y = self.ln2(x)`); `bound_before(text, marker)`,
that word for each occurrence of a marker; `read_once(text, name)`, `.name` only at its
binding and named in no string; `has_word(text, word)`, the word standing alone
(`\bword\b` without a pattern built per word: such patterns overflow `re`'s cache of 512
and are compiled again and again).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

WORD_END = re.compile(r"\w+$")
REACH = 40  # characters looked back for the word


def occurrences(text: str, marker: str) -> Iterator[int]:
    """Where `marker` starts, each occurrence in turn."""
    at = text.find(marker)
    while at != -1:
        yield at
        at = text.find(marker, at + len(marker))


def word_before(text: str, at: int) -> str | None:
    """The word ending right at `at` (no space between), else None."""
    found = WORD_END.search(text, max(0, at - REACH), at)
    return found.group() if found else None


def bound_before(text: str, marker: str) -> list[str]:
    """The word just before each occurrence of `marker`."""
    return [w for at in occurrences(text, marker) if (w := word_before(text, at))]


def has_word(text: str, word: str) -> bool:
    """`word` occurs in `text` with no word character on either side."""
    for at in occurrences(text, word):
        end = at + len(word)
        if (at == 0 or not is_word(text[at - 1])) and (end == len(text) or not is_word(text[end])):
            return True
    return False


def is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def read_once(text: str, name: str) -> bool:
    """`.name` occurs once in the text (its binding) and no string names it."""
    return text.count(f".{name}") == 1 and f"'{name}'" not in text and f'"{name}"' not in text
