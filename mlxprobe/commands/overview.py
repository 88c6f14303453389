"""The first screen of `mlxprobe --help`: what the tool does, then the commands in the order a
user reaches for them, each with a one-line example.

Text only. Must not import: mlx, the runner, any command module.
"""

from __future__ import annotations

PURPOSE = ("mlxprobe: why your MLX training run hangs, leaks, diverges or does not learn, "
           "with the evidence and a fix.")

# (command, what it does, a one-line example), in the order a user reaches for them
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("watch", "run your training program under the watchdog",
     "mlxprobe watch -- python train.py"),
    ("attach", "diagnose a run that is already going (stuck now?)",
     "mlxprobe attach 12345 --for 10s"),
    ("lint", "find known MLX loop bugs in source, before running",
     "mlxprobe lint train.py notebook.ipynb"),
    ("run", "run the failure catalogue (scenarios)",
     "mlxprobe run --scenario step2-hang"),
    ("gate", "block an mlx upgrade that breaks your run",
     'mlxprobe gate --baseline mlx==0.31.2 --candidate mlx==0.32.4 -- python train.py'),
    ("compare", "compare two reports (verdicts, then metrics)",
     "mlxprobe compare base.json head.json"),
    ("report", "render a JSON report as HTML, Markdown, a table",
     "mlxprobe report run.json --html run.html"),
    ("list", "list the scenarios and what each expects",
     "mlxprobe list"),
)
ORDER = tuple(name for name, _, _ in COMMANDS)


def text(registered: list[str]) -> str:
    """The description block of `mlxprobe --help`, for the commands that are registered."""
    shown = [row for row in COMMANDS if row[0] in registered]
    width = max(len(name) for name, _, _ in shown)
    rows = [f"  {name:<{width}}  {doc}\n  {'':<{width}}    $ {example}"
            for name, doc, example in shown]
    return "\n".join([PURPOSE, "", "commands, in the order you reach for them:", *rows, "",
                      "`mlxprobe COMMAND --help` lists a command's options; `mlxprobe "
                      "--version` the versions and the backend."])
