"""examples/plain: every catalogue variant as a script a user would run.

Static checks: one script per scenario, accepting exactly its variants, and no `mlxprobe`
import outside `_common._load_probe` (the `--probe` path); `--probe` is a no-op outside
mlxprobe. Running every variant (fixed ones exit 0 with falling losses, crashes exit with
their exception, step2's broken loop stalls) is `test_watch_catalogue.py`, under `watch`.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN = ROOT / "examples" / "plain"
SCENARIOS = ROOT / "scenarios"
TIMEOUT_S = 180  # a fixed variant takes 2-8 s on a loaded 2-core machine

# the progress lines of _common.Run: "step 3 loss 1.5", "Iter 3: Train loss 1.5, ...",
# "iter 3 | loss 1.5 | ...", "Step 3: loss = 1.5" (not "Iter 3: Val loss ...")
LOSS_LINE = re.compile(r"^(?:step|iter)\s+(\d+)\s*[:|]?\s*(?:train\s+)?loss\s*=?\s*([^\s,|]+)",
                       re.IGNORECASE | re.MULTILINE)


def _scenario(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SCENARIO":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} has no SCENARIO")


MODULES = sorted(p for p in SCENARIOS.glob("*.py") if not p.name.startswith("_")
                 and "upstream" not in _scenario(p).get("tags", [])  # MLX's bugs: no script
                 and _scenario(p).get("ranks", 1) == 1  # distributed: examples/distributed
                 and "native" not in _scenario(p))  # a C++ program: tests/test_native.py
VARIANTS = [(p.stem, variant, expected) for p in MODULES
            for variant, expected in _scenario(p)["variants"].items()]
FIXED = [stem for stem, variant, _ in VARIANTS if variant == "fixed"]
CRASHES = [(stem, variant, expected.split(":", 1)[1]) for stem, variant, expected in VARIANTS
           if expected.startswith("crash:")]


def _env() -> dict[str, str]:
    """This environment without mlxprobe's child-side variables (the probe stays a no-op)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MLXPROBE_") or k == "MLXPROBE_CACHE"}


def _run(script: str, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PLAIN / f"{script}.py"), *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=timeout)


def losses(stdout: str) -> list[float]:
    return [float(loss) for _, loss in LOSS_LINE.findall(stdout)]


def test_loss_line_formats() -> None:
    out = ("step 1 loss 3.5000 grad_norm 0.1\nIter 2: Train loss 3.000, It/sec 9.00\n"
           "Iter 2: Val loss 9.000, Val took 0.1s\niter 3 | loss 2.5 | clipped False\n"
           "Step 4: loss = 2.0000\n[WARN] invalid loss nan: batch skipped\nstep 5 loss nan\n")
    assert losses(out)[:4] == [3.5, 3.0, 2.5, 2.0]
    assert len(losses(out)) == 5


def test_one_script_per_scenario_with_its_variants() -> None:
    for module in MODULES:
        script = PLAIN / module.name
        assert script.is_file(), f"no plain script for {module.name}"
        calls = [node for node in ast.walk(ast.parse(script.read_text()))
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Run"]
        assert len(calls) == 1, script
        assert ast.literal_eval(calls[0].args[0]) == list(_scenario(module)["variants"]), script


def test_no_mlxprobe_import_outside_the_probe_option() -> None:
    for script in sorted(PLAIN.glob("*.py")):
        tree = ast.parse(script.read_text())
        allowed = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "_load_probe":
                allowed.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "mlxprobe" or n.startswith("mlxprobe.") for n in names):
                assert id(node) in allowed, f"{script.name}:{node.lineno} imports mlxprobe"


def test_probe_option_is_a_no_op_outside_mlxprobe() -> None:
    """--probe imports mlxprobe's probe and reports the check; run plainly, nothing changes."""
    proc = _run("weights_not_loaded", "broken", "--probe")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sanity check FAILED: validation loss after loading" in proc.stdout
