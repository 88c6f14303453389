"""Regular expressions for the rules' text tests, compiled so that `re` can skip fast to where
they may match.

Job: `at_word(pattern)` compiles a pattern that begins with a word boundary and a literal word
(`\\bdef (\\w+)`, `\\bself\\.(\\w+)`) as the same test with the literal first and the boundary
checked behind it (`def(?<!\\wdef) (\\w+)`). Python's `re` finds a pattern's leading literal
with a fast scan, but a leading `\\b` hides that literal, so the engine tries the whole
pattern at every position of the file: over the 1,238 files of mlx-lm, mlx-lm-lora and
mlx-vlm that name mlx, `\\bdef (\\w+)` took 0.51 s and `def(?<!\\wdef) (\\w+)` 0.04 s,
`\\bself\\.(\\w+)\\(` 0.52 s against 0.06 s, `\\bfor\\s+...` 0.65 s against 0.03 s (this 2-core
machine, builders running). The matches are the same: `\\b` before a word character means
"no word character before it", which is what the look-behind says.

Why by hand: `re` has no option for it, and the third-party `regex` module's scans of such
patterns are no faster (it also tries each position).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import functools
import re

# A leading `\b`, then a literal word of letters and underscores, then the rest: escaped dots
# (`self\.`) stay in the rest.
LEADING_WORD = re.compile(r"\\b([A-Za-z_]+)")


@functools.lru_cache(maxsize=1024)
def at_word(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`pattern` compiled, with a leading `\\bWORD` moved behind its word (see the module's
    docstring); any other pattern compiled as it is."""
    found = LEADING_WORD.match(pattern)
    if found is None:
        return re.compile(pattern, flags)
    word = found.group(1)
    return re.compile(f"{word}(?<!\\w{word}){pattern[found.end():]}", flags)
