"""MLX135 on small programs: a named_modules() path walked with getattr part by part; and the
near misses that stay silent (an integer branch for list parts, a try around the walk, a path
that is not split on dots)."""

from __future__ import annotations

from lint_snippets import fired

INJECT = """
def apply(model):
    for name, child in model.named_modules():
        parent = model
        parts = name.split(".")
        for part in parts[:-1]:
            {walk}
        setattr(parent, parts[-1], child)
"""


def test_mlx135_getattr_over_the_dotted_parts() -> None:
    assert fired(INJECT.format(walk="parent = getattr(parent, part)"), "MLX135") == [7]


def test_mlx135_silent_with_an_integer_branch_or_a_try() -> None:
    branch = "parent = parent[int(part)] if part.isdigit() else getattr(parent, part)"
    assert fired(INJECT.format(walk=branch), "MLX135") == []
    guarded = "try:\n                parent = getattr(parent, part)\n            except " \
              "AttributeError:\n                parent = parent[int(part)]"
    assert fired(INJECT.format(walk=guarded), "MLX135") == []
    other = INJECT.replace('name.split(".")', 'name.split("/")')
    assert fired(other.format(walk="parent = getattr(parent, part)"), "MLX135") == []


MODEL = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        {held}
"""
WALK = "parent = getattr(parent, part)"


def test_mlx135_silent_when_the_file_s_own_model_holds_no_list() -> None:
    # fresh147 gripper_lora_target_names_ok (mlx-vla f76f20e): every part is an attribute
    assert fired(MODEL.format(held="self.head = nn.Linear(4, 2)") + INJECT.format(walk=WALK),
                 "MLX135") == []


def test_mlx135_fires_when_the_model_holds_a_list_or_comes_from_a_package() -> None:
    program = INJECT.format(walk=WALK)
    listed = MODEL.format(held="self.layers = [nn.Linear(4, 4) for _ in range(2)]")
    assert fired(listed + program, "MLX135") == [13]
    sequential = MODEL.format(held="self.body = nn.Sequential(nn.Linear(4, 4))")
    assert fired(sequential + program, "MLX135") == [13]
    loaded = "from mlx_lm import load\n" + MODEL.format(held="pass") + program
    assert fired(loaded, "MLX135") == [14]
