"""`mlxprobe watch -- jupyter nbconvert --to notebook --execute NB.ipynb`: the bootstrap
reaches the kernel (a child of nbconvert), its heartbeats count, and the report names the
cell: the QLoRA notebook modelled on the source report passes fixed, is
`crash:RuntimeError` raised in cell 2 broken, and a cell stuck in a lazy backlog is
`hang:cpu_busy` with that cell named as running. Real Jupyter kernel (ipykernel, nbclient,
nbconvert: the test extras), real MLX. Cost: three runs side by side, ~30-45 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "notebooks"))
import build  # noqa: E402  (examples/notebooks/build.py)
import nbformat  # noqa: E402  (the test extras: ipykernel, nbclient, nbconvert, nbformat)

EXPECTED = {"qlora_fixed": ("pass", ""), "qlora_broken": ("crash", "RuntimeError"),
            "lazy_backlog": ("hang", "cpu_busy")}


def test_notebooks_under_watch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLXPROBE_")}
    runs = {}
    for name in EXPECTED:
        source = tmp_path / f"{name}.ipynb"
        nbformat.write(build.notebook(name), source)
        argv = [sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status", "--json",
                str(tmp_path / f"{name}.json"), "--", sys.executable, "-m", "jupyter",
                "nbconvert", "--to", "notebook", "--execute", str(source), "--output",
                str(tmp_path / f"{name}.out.ipynb")]
        runs[name] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env, cwd=tmp_path)
    for name, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        run = json.loads((tmp_path / f"{name}.json").read_text())["runs"][0]
        assert (run["verdict"], run["detail"]) == EXPECTED[name], out[-3000:]
        assert {"update", "eval"} & set(run["sources"]), run["sources"]  # the kernel's beats
        cell = run["evidence"].get("cell")
        if name == "qlora_fixed":
            assert cell is None and proc.returncode == 0
        else:
            assert cell["count"] == 2 and cell["first_line"], cell
            assert cell["state"] == ("raised" if name == "qlora_broken" else "running")
            assert f"cell [2] `{cell['first_line']}`" in run["reason"]
