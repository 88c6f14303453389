"""Every lint finding over every corpus script and the three lint packages, one per line.

    PYTHONPATH=. python corpus/rounds/lint_snapshot.py OUT

Compare two outputs (before and after a lint change) with `diff`: a change must add or remove
only its own lines. Must not import mlx.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import lint_packages  # noqa: E402  (the tests' cached wheels of mlx-lm, mlx-lm-lora, mlx-vlm)

from mlxprobe.lint import lint_source  # noqa: E402


def findings(path: Path) -> list[str]:
    try:
        found = lint_source(path.read_text(errors="replace"), str(path))
    except SyntaxError as error:
        return [f"{path}:parse:{error.lineno}"]
    return [f"{path}:{f.line}:{f.rule}" for f in found]


if __name__ == "__main__":
    paths = sorted((ROOT / "corpus").glob("*/*.py")) + sorted(
        lint_packages.unpacked().rglob("*.py"))
    lines = sorted(line for p in paths for line in findings(p))
    Path(sys.argv[1]).write_text("\n".join(lines) + "\n")
    print(len(lines), "findings over", len(paths), "files")
