"""mlxprobe: reproduce, diagnose and gate the known ways an MLX training loop goes wrong.

This package's parent side (CLI, pytest plugin, runner, verdict, reporters) never imports mlx;
only `mlxprobe.inside.child` and `mlxprobe.inside.recorder` (the child side) do.
"""

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext mlxprobe` in IPython/Jupyter: the `%%mlxprobe` and `%mlxprobe on` magics."""
    from .notebook import magic

    magic.register(ipython)
