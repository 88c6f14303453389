"""`mlxprobe --help` opens with what the tool does, then the commands in the order a user
reaches for them, each with an example; `--version` names the versions and the backend
without importing mlx in the CLI process. Cost: ~1 s (one child that imports mlx)."""

from __future__ import annotations

import subprocess
import sys

from mlxprobe import __version__, cli
from mlxprobe.commands import overview


def test_help_opens_with_the_purpose_then_commands_in_order(capsys) -> None:
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    body = out.split("\n\n", 1)[1]
    assert body.startswith(overview.PURPOSE)
    registered = [c.NAME for c in cli.COMMANDS]
    positions = [out.index(f"\n  {name} ") for name in overview.ORDER if name in registered]
    assert positions == sorted(positions) and len(positions) == len(cli.COMMANDS)
    for name, _, example in overview.COMMANDS:
        if name in registered:
            assert f"$ {example}" in out and example.startswith(f"mlxprobe {name}")
    assert "one module per command" not in out


def test_version_names_versions_and_backend_without_importing_mlx() -> None:
    code = ("import sys\nfrom mlxprobe import cli\n"
            "try:\n    cli.main(['--version'])\nexcept SystemExit as e:\n    code = e.code\n"
            "print('MLX_IMPORTED' if 'mlx.core' in sys.modules else 'NO_MLX', code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    lines = done.stdout.splitlines()
    assert lines[0] == f"mlxprobe {__version__}"
    assert lines[1].startswith("mlx ") and lines[2].startswith("python ")
    assert lines[3].split()[:2] in (["backend", "cpu"], ["backend", "cuda"],
                                    ["backend", "metal"])
    assert lines[-1] == "NO_MLX 0"
