"""Which of the rules' anchor strings a text holds, found in one pass over it.

Job: the first cut of the text prefilter. A rule may name `anchors`: substrings of which a
text holds at least one whenever the rule's `may_fire` accepts it. One Aho-Corasick pass
finds which anchors of all enabled rules a file holds, and a rule none of whose anchors is
there is dropped without running its own text tests. Over mlx-lm, mlx-lm-lora and mlx-vlm
those tests made some 200 substring scans of each file (1.7 s of a 5.6 s lint); an anchor
absent from a file is what costs, since `in` must read the whole file to say no.

Why a library: `ahocorasick_rs` (Python bindings of the Rust `aho-corasick` crate, with
its SIMD prefilters) reads each file once and hands back every match in one call. Over the
1,238 files of the three packages that name mlx (13 MB) it takes 0.15-0.23 s against
0.97-1.49 s for `pyahocorasick` (which walks its trie a character at a time and yields each
of the 91,000 matches to Python) and 2.3-3.2 s for a `word in text` per anchor (117 words),
this 2-core machine, loaded; Python's `re` alternation of the same strings took 4 s (it
tries each one at each position).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ahocorasick_rs

_AUTOMATA: dict[frozenset[str], tuple[ahocorasick_rs.AhoCorasick, list[str]]] = {}


def automaton(words: frozenset[str]) -> tuple[ahocorasick_rs.AhoCorasick, list[str]]:
    """The automaton that finds `words` (all of them, overlapping), built once per set of
    words, with the words in the order its matches index them."""
    if words not in _AUTOMATA:
        ordered = sorted(words)
        _AUTOMATA[words] = (ahocorasick_rs.AhoCorasick(ordered), ordered)
    return _AUTOMATA[words]


def present(text: str, words: frozenset[str]) -> set[str]:
    """The `words` that occur in `text`."""
    if not words:
        return set()
    found, ordered = automaton(words)
    return {ordered[i] for i, _, _ in found.find_matches_as_indexes(text, overlapping=True)}


def starts(text: str, words: frozenset[str]) -> list[int]:
    """Where in `text` each occurrence of one of `words` starts (character offsets)."""
    found, _ = automaton(words)
    return [start for _, start, _ in found.find_matches_as_indexes(text, overlapping=True)]


def matches(text: str, words: frozenset[str]) -> list[tuple[str, int, int]]:
    """Each occurrence of one of `words` in `text`: (word, start, end), overlapping ones too."""
    found, ordered = automaton(words)
    return [(ordered[i], start, end)
            for i, start, end in found.find_matches_as_indexes(text, overlapping=True)]
