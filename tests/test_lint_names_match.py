"""Names a program matches that are not there (MLX057, MLX058) on small programs: each fires
on its bug and stays silent on the fixed form and near misses."""

from __future__ import annotations

from lint_snippets import fired

# MLX057: type(x) is C while the module derives from C ----------------------------------------

def test_mlx057_exact_type_test_skips_a_subclass() -> None:
    code = """
    class Cache:
        pass

    class LongCache(Cache):
        pass

    def reset(caches):
        return [Cache() if type(c) is Cache else c for c in caches]

    def same(c):
        return type(c) == Cache
    """
    assert fired(code, "MLX057") == [9, 12]


def test_mlx057_isinstance_or_a_class_without_subclasses_is_clean() -> None:
    code = """
    class Cache:
        pass

    class Other:
        pass

    class LongCache(Cache):
        pass

    def reset(caches):
        return [Cache() if isinstance(c, Cache) else c for c in caches]

    def exact(c):
        return type(c) is Other
    """
    assert fired(code, "MLX057") == []


# MLX058: module-name targets that name no layer ---------------------------------------------

LORA = """
TARGETS = {targets}

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(8, 8)
        self.value = nn.Linear(8, 8)

def apply_lora(model, targets):
    for name, mod in model.named_modules():
        for child_name, child in mod.children().items():
            if child_name in targets:
                setattr(mod, child_name, LoRALinear(child))

def main():
    model = Attention()
    model.freeze()
    apply_lora(model, TARGETS)
"""


def test_mlx058_targets_name_no_layer() -> None:
    assert fired(LORA.format(targets='["q_proj", "v_proj"]'), "MLX058") == [19]


def test_mlx058_targets_naming_a_layer_are_clean() -> None:
    assert fired(LORA.format(targets='["query", "value"]'), "MLX058") == []
    assert fired(LORA.format(targets='("attn.query",)'), "MLX058") == []


def test_mlx058_a_model_from_elsewhere_is_clean() -> None:
    """The walked model is not one of the module's own classes: its names are not known."""
    code = LORA.format(targets='["q_proj", "v_proj"]').replace(
        "model = Attention()", "model, tokenizer = load(path)")
    assert fired(code, "MLX058") == []
