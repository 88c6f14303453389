"""Stop 89's lint rule, each on the shape of the failure corpus script that showed it:
- MLX275: a name bound to an array's `.shape` and written by index (fresh336
  `cobweb_anchor_scatteradd`, mlx-graphs 3a3f68f).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

from mlxprobe.lint.rules import ALL

SCATTER = """
import mlx.core as mx


def scatter(values: mx.array, index: mx.array, out_size: int, axis: int = 0) -> mx.array:
    out_shape = values.shape
    out_shape[axis] = out_size
    return mx.zeros(out_shape).at[index].add(values)
"""


def test_a_shape_written_by_index_is_found() -> None:
    assert fired(SCATTER, "MLX275") == [7]


def test_a_list_of_the_shape_is_quiet() -> None:
    assert fired(SCATTER.replace("values.shape", "list(values.shape)"), "MLX275") == []


def test_a_shape_rebound_before_the_write_is_quiet() -> None:
    text = SCATTER.replace("    out_shape[axis]", "    out_shape = [*out_shape]\n"
                                                  "    out_shape[axis]")
    assert fired(text, "MLX275") == []


def test_a_slice_of_a_shape_written_by_index_is_found() -> None:
    assert fired(SCATTER.replace("values.shape", "values.shape[:-1] "), "MLX275") == [7]


def test_the_same_name_in_another_function_is_quiet() -> None:
    text = SCATTER.replace("    out_shape = values.shape\n", "    out_shape = [1, 2]\n") + (
        "\n\ndef size(x):\n    out_shape = x.shape\n    return out_shape[0]\n")
    assert fired(text, "MLX275") == []


def test_a_rule_whose_text_test_is_its_anchors_has_some() -> None:
    """The engine does not ask an anchored rule's `may_fire` again after finding its anchors
    (`engine.chosen`): that holds only for a rule that has anchors."""
    anchored = [r for r in ALL if r.anchored]
    assert {r.id for r in anchored} >= {"MLX273", "MLX274"}
    assert all(r.anchors for r in anchored)
