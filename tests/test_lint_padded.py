"""MLX104 (rules/padded.py) on small programs: a batch padded to its own longest sequence in a
module that compiles without shapeless=True fires; a fixed width, a shapeless compile, no
compile at all, and a longest length only printed stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
MAX_LEN = 64

def batches(data, size):
    for i in range(0, len(data), size):
        seqs = data[i:i + size]
        {width}
        yield mx.array([s + [0] * (width - len(s)) for s in seqs])

model = nn.Linear(4, 4)
step = mx.compile(lambda x: model(x).sum(){shapeless})
"""


def code(width: str, shapeless: str = "") -> str:
    return CODE.replace("{width}", width).replace("{shapeless}", shapeless)


@pytest.mark.parametrize("width", ["width = max(len(s) for s in seqs)",
                                   "width = max(map(len, seqs))",
                                   "width = max([len(s) for s in seqs])"])
def test_mlx104_width_of_each_batch_into_a_compiled_step(width: str) -> None:
    assert fired(code(width), "MLX104") == [7]


@pytest.mark.parametrize("source", [
    code("width = MAX_LEN"),
    code("width = max(len(s) for s in seqs)", ", shapeless=True"),
    code("width = max(len(s) for s in seqs)").replace("step = mx.compile(", "step = ("),
    code("width = MAX_LEN").replace("        yield", "        print(max(len(s) for s in seqs))\n"
                                    "        yield"),
])
def test_mlx104_fixed_width_shapeless_or_uncompiled_is_clean(source: str) -> None:
    assert fired(source, "MLX104") == []
