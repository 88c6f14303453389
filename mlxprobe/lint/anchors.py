"""Which of the rules' anchor strings a text holds, found in one pass over it.

Job: the first cut of the text prefilter. A rule may name `anchors`: substrings of which a
text holds at least one whenever the rule's `may_fire` accepts it. One Aho-Corasick pass
finds which anchors of all enabled rules a file holds, and a rule none of whose anchors is
there is dropped without running its own text tests. Over mlx-lm, mlx-lm-lora and mlx-vlm
those tests made some 200 substring scans of each file (1.7 s of a 5.6 s lint); an anchor
absent from a file is what costs, since `in` must read the whole file to say no.

Why a library: pyahocorasick builds the automaton in C and reads each file once; Python's
`re` alternation of the same strings took 4 s here (it tries each one at each position).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ahocorasick

_AUTOMATA: dict[frozenset[str], ahocorasick.Automaton] = {}


def automaton(words: frozenset[str]) -> ahocorasick.Automaton:
    """The automaton that finds `words`, built once per set of words."""
    if words not in _AUTOMATA:
        built = ahocorasick.Automaton()
        for word in words:
            built.add_word(word, word)
        built.make_automaton()
        _AUTOMATA[words] = built
    return _AUTOMATA[words]


def present(text: str, words: frozenset[str]) -> set[str]:
    """The `words` that occur in `text`."""
    if not words:
        return set()
    return {word for _, word in automaton(words).iter(text)}
