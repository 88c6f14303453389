"""`mlxprobe lint`: find the catalogue's failure modes in source code, before anything runs.

Job: the package's front door: `lint_source` and `lint_paths` (from `engine`), the rule table
(`catalogue.RULES`). Static only: the stdlib `ast` over the file's text.

Must not import: mlx, or any part of mlxprobe that imports mlx (it must start fast and run
where MLX is not installed).
"""

from __future__ import annotations

from .catalogue import RULES
from .engine import lint_source

__all__ = ["RULES", "lint_source"]
