"""Write a catalogue folder that runs each plain script with `--probe` as a scenario variant.

    python examples/plain/as_catalogue.py /tmp/plain-catalogue
    mlxprobe run --scenarios /tmp/plain-catalogue --all --jobs 1

Each generated module has one variant per catalogue variant; the variant points
`mlxprobe.probe`'s module-level `step`/`check`/`note` at the child's probe and runs the script
(`runpy`, argv `VARIANT --probe`). The expected verdicts are the "watch + probe" column of
README.md: with the scenario's own `learning_metric` left out, as `watch` has none. This
measures that column with today's verdict rules (probe heartbeats and checks, RSS sampled
from outside), before `mlxprobe watch` exists; output lines play no part in it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parents[1] / "scenarios"
# where "watch + probe" differs from the catalogue's expectation (README.md)
WATCH_PROBE = {("manual_log_softmax", "broken"): "not_learning"}

TEMPLATE = '''"""{stem}: examples/plain/{stem}.py VARIANT --probe, as a scenario (generated)."""
import runpy
import sys

SCENARIO = {scenario!r}
SCRIPT = {script!r}


def _run(probe, variant):
    import mlxprobe.probe as module
    module.step, module.check, module.note = probe.step, probe.check, probe.note
    sys.argv = [SCRIPT, variant, "--probe"]
    sys.path.insert(0, {folder!r})
    probe.reset_clock()
    runpy.run_path(SCRIPT, run_name="__main__")
'''


def _scenario(path: Path) -> dict:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SCENARIO":
            return ast.literal_eval(node.value)
    raise ValueError(f"{path}: no SCENARIO")


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for module in sorted(p for p in SCENARIOS.glob("*.py") if not p.name.startswith("_")):
        original = _scenario(module)
        variants = {v: WATCH_PROBE.get((module.stem, v), e)
                    for v, e in original["variants"].items()}
        scenario = {"id": f"{original['id']}-plain", "title": f"{original['title']} (plain)",
                    "variants": variants, "budget_s": original.get("budget_s", 60)}
        if "expected_before_mlx" in original:  # older mlx releases' expectations, as they are
            scenario["expected_before_mlx"] = original["expected_before_mlx"]
        text = TEMPLATE.format(stem=module.stem, scenario=scenario, folder=str(HERE),
                               script=str(HERE / module.name))
        text += "".join(f"\n\ndef {v}(probe):\n    _run(probe, {v!r})\n" for v in variants)
        (out / module.name).write_text(text)
        written.append(out / module.name)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/plain/as_catalogue.py OUTDIR")
    for path in write(Path(sys.argv[1])):
        print(path)
