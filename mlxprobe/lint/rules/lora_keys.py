"""MLX238: the layers a LoRA config targets (`"keys": ["self_attn.q_proj", ...]`) name no
layer the program's own model defines: every key misses, no adapter is attached, and the run
trains nothing it meant to (or nothing at all when the base is frozen).

Measured (mlx 0.32.4 CPU, failure corpus fresh16 `lora_keys_miss_fused_qkv`, mlx-lm issue
90: LoRA keys against a Phi-style model with a fused `qkv_proj`): the keys `self_attn.q_proj`
and `self_attn.v_proj` matched no module, no LoRA layer was built, 'Trainable parameters:
0.000%' and `ValueError: [grad] Must specify at least one argument` at the first step; keys
naming `qkv_proj` and `o_proj` trained (loss 3.085 -> 0.801).

Job: a dict display whose `"keys"` entry is a list of dotted string paths, in a module that
defines its own `nn.Module` classes and imports no model library (mlx_lm, mlx_vlm,
transformers: their models' layer names are not in the file), where the last part of every
key is no attribute any class of the module sets (`self.<name> = ...`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..source import SourceFile, descendants
from .base import Rule

LIBRARIES = ("mlx_lm", "mlx_vlm", "transformers")


class LoraKeysMatchNothing(Rule):
    """MLX238: `{"keys": ["self_attn.q_proj"]}` where no class sets `self.q_proj`."""

    id = "MLX238"
    anchors = ('"keys"', "'keys'")
    local = False  # the config and the model's classes sit in different blocks

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("\"keys\"" in text or "'keys'" in text) and "nn.Module" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = module_classes(source)
        if not classes or imports_a_model_library(source):
            return
        names = {t.attr for c in classes for t in descendants(c)
                 if isinstance(t, ast.Attribute) and isinstance(t.ctx, ast.Store)
                 and isinstance(t.value, ast.Name) and t.value.id == "self"}
        for node in source.of_type(ast.Dict):
            keys = target_keys(node)
            if keys and not any(k.rsplit(".", 1)[-1] in names for k in keys):
                yield self.hit(source, node)


def target_keys(node: ast.Dict) -> list[str]:
    """The dotted paths of a `"keys": [...]` entry (all string literals with a dot), or []."""
    for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant) and key.value == "keys" and isinstance(
                value, (ast.List, ast.Tuple)) and value.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) and "." in e.value
                for e in value.elts):
            return [e.value for e in value.elts]
    return []


def imports_a_model_library(source: SourceFile) -> bool:
    for node in source.of_type(ast.Import, ast.ImportFrom):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
            node.module or ""]
        if any(m.split(".")[0] in LIBRARIES for m in modules):
            return True
    return False
