"""`patterns.at_word`: the rewritten pattern finds exactly what the pattern as written finds."""

import re

from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.lint.patterns import at_word

PATTERNS = [r"\bdef (\w+)", r"\bself\.(\w+)\(", r"\bfor\s+([\w\s,()]+?)\s+in\s+([^\n]+)",
            r"\bif [^\n]*rank", r"\bx2\s*(?:[-+*/]=)", r"\bargs\.(\w+)"]
# texts made of the pieces those patterns look for, glued in any order
PIECES = st.sampled_from(["def ", "self.", "for ", " in ", "if ", "rank", "x2", "ax2", "args.",
                          "a", "_", "(", ")", "\n", " ", "+=", "=", "def", "ifrank", "9"])


@given(st.lists(PIECES, max_size=30).map("".join), st.sampled_from(PATTERNS),
       st.sampled_from([0, re.IGNORECASE]))
def test_same_matches_as_written(text: str, pattern: str, flags: int) -> None:
    written = re.compile(pattern, flags)
    assert [m.span() for m in at_word(pattern, flags).finditer(text)] == \
        [m.span() for m in written.finditer(text)]


def test_leading_word_moves_behind() -> None:
    assert at_word(r"\bdef (\w+)").pattern == r"def(?<!\wdef) (\w+)"
    assert at_word(r"(\w+)\(").pattern == r"(\w+)\("  # no leading word: as written
