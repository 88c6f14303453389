"""A rule's anchors are a promise: whenever its `may_fire` accepts a text, the text holds one
of them. Checked on every script of the corpus, the catalogue and the examples (the rule
tests check the same through `lint_source` on each rule's own snippets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.lint import anchors
from mlxprobe.lint.rules import ALL
from mlxprobe.lint.rules.axes import ONE_ARGUMENT, one_argument_call
from mlxprobe.lint.rules.base import UPDATE, optimizer_update_in
from mlxprobe.lint.rules.tracing import MX_COMPILE, mx_compiles

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [p.read_text(encoding="utf-8") for folder in ("corpus", "scenarios", "examples")
         for p in sorted((ROOT / folder).rglob("*.py"))
         if not (p.parent / "UNSCORED").exists()]  # a held-out half waits for its one score
ANCHORED = [r for r in ALL if r.anchors]


def test_most_rules_name_anchors():
    assert len(TEXTS) > 300 and len(ANCHORED) >= 80


@pytest.mark.parametrize("rule", ANCHORED, ids=lambda r: r.id)
def test_may_fire_implies_an_anchor(rule):
    accepted = [t for t in TEXTS if rule.may_fire(t)]
    assert all(any(a in t for a in rule.anchors) for t in accepted)


def test_present_finds_overlapping_words():
    words = frozenset({"grad(", "and_grad", "grad", ".update(", "absent"})
    found = anchors.present("loss, g = nn.value_and_grad(m, f)(m, x)", words)
    assert found == {"grad(", "and_grad", "grad"}
    assert anchors.present("", words) == set() and anchors.present("x", frozenset()) == set()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["opt", "OPT", "Optim", "x", "_", "1", " ", ".", "\n", "(",
                                 ".update(", "update"]), max_size=20).map("".join))
def test_the_optimizer_update_scan_is_the_regex(text):
    """`optimizer_update_in` (a `str.find` scan) says what `UPDATE.search` says."""
    assert optimizer_update_in(text) == (UPDATE.search(text) is not None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["compile", ".", "re", "mx", "_", "x", " ", "\n", "import ",
                                 "from "]), max_size=20).map("".join))
def test_the_compile_scan_accepts_whatever_the_regex_does(text):
    """`mx_compiles` accepts every text `MX_COMPILE` matches (a prefilter may say more)."""
    assert mx_compiles(text) or MX_COMPILE.search(text) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["softmax(", "logsumexp(", "mx.", "x", "_", ",", "(", ")", "[",
                                 "]", " ", "=", "axis=1"]), max_size=20).map("".join))
def test_the_one_argument_scan_is_the_regex(text):
    """`one_argument_call` (the regex tried where the word starts) says what
    `ONE_ARGUMENT.search` says."""
    assert one_argument_call(text) == (ONE_ARGUMENT.search(text) is not None)
