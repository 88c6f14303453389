"""MLX129: a layer wrapped from one attribute and stored under another that nothing reads, on
small programs: adapters assigned to new names fire; wrapping in place, a new name the code
reads, and a plain assignment that wraps nothing stay clean."""

from __future__ import annotations

from lint_snippets import fired

RENAMED = """
class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Linear(8, 8)

    def __call__(self, x):
        return self.w1(x)

model.freeze()
for e in model.experts:
    e.gate_proj = LoRALinear.from_linear(e.w1, r=8)
    e.q = nn.QuantizedLinear.from_linear(e.w1)
"""


def test_mlx129_a_wrap_stored_under_a_name_nothing_reads_fires():
    assert fired(RENAMED, "MLX129") == [12, 13]


def test_mlx129_in_place_read_and_plain_assignments_are_clean():
    in_place = RENAMED.replace("e.gate_proj =", "e.w1 =").replace("e.q =", "e.w1 =")
    assert fired(in_place, "MLX129") == []
    read = RENAMED.replace("return self.w1(x)", "return self.gate_proj(x) + self.q(x)")
    assert fired(read, "MLX129") == []
    plain = RENAMED.replace("LoRALinear.from_linear(e.w1, r=8)", "e.w1").replace(
        "nn.QuantizedLinear.from_linear(e.w1)", "nn.Linear(8, 8)")
    assert fired(plain, "MLX129") == []
