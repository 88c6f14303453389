"""`mlxprobe gate ... -- PROGRAM`: the user's own training gated, for real, in two stand-in
environments of this interpreter (no download): identical sides pass, a learning rate scaled
on one side only (MLXPROBE_TEST_LR_SCALE, read by tests/programs/mlx_linear.py) fails on the
learning curve; the command line is parsed, bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from watching import PROGRAMS

from mlxprobe import cli
from mlxprobe.commands import gate
from mlxprobe.gating import environments
from mlxprobe.gating.environments import Environment

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ("python", str(PROGRAMS / "mlx_linear.py"), "--steps", "60", "--batch", "64",
           "--unseeded")


def stand_in(folder: Path, name: str, variables: dict[str, str] | None = None) -> Environment:
    """An 'environment' whose bin/python is this interpreter (with `variables` set: a side
    planted on purpose) and whose bin/mlxprobe is this checkout's CLI: the gate runs its
    rounds exactly as in a built venv, without building one."""
    bin_dir = folder / name / "bin"
    bin_dir.mkdir(parents=True)
    sets = "".join(f"export {k}={v}\n" for k, v in (variables or {}).items())
    (bin_dir / "python").write_text(f'#!/bin/sh\n{sets}exec "{sys.executable}" "$@"\n')
    (bin_dir / "mlxprobe").write_text(f'#!/bin/sh\nexport PYTHONPATH="{ROOT}"\n'
                                      f'exec "{sys.executable}" -m mlxprobe.cli "$@"\n')
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    return Environment(name, folder / name, "test", 0.0)


def gate_cli(tmp: Path, monkeypatch: pytest.MonkeyPatch, envs: dict[str, Environment],
             *extra: str) -> tuple[int, Path]:
    out = tmp / "gate"
    monkeypatch.setattr(gate, "_environments", lambda args: envs)
    monkeypatch.chdir(tmp)  # the program runs where the user is
    code = cli.main(["gate", "--baseline", "a", "--candidate", "b", "--out", str(out),
                     "--html", str(out / "gate.html"), *extra, "--", *PROGRAM])
    return code, out


def test_identical_sides_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture) -> None:
    envs = {"base": stand_in(tmp_path, "a"), "head": stand_in(tmp_path, "b")}
    code, out = gate_cli(tmp_path, monkeypatch, envs)
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err[-3000:]
    summary = (out / "summary.md").read_text()
    assert "OK: no regression" in summary and "learning curve" in summary
    head = json.loads((out / "head.json").read_text())
    assert [(r["scenario"], r["repeat"], r["verdict"]) for r in head["runs"]] == \
        [("watch", r, "pass") for r in range(3)]
    assert head["runs"][0]["program"] == list(PROGRAM)
    assert sorted(p.name for p in (out / "parts").glob("*.txt")) == \
        [f"{s}-{r}.txt" for s in ("base", "head") for r in (1, 2, 3)]
    assert "step 60 loss" in (out / "parts" / "head-1.txt").read_text()  # the program's output
    assert "noise band" in (out / "gate.html").read_text()


def test_a_learning_rate_halved_on_one_side_fails_on_the_curve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    envs = {"base": stand_in(tmp_path, "a"),
            "head": stand_in(tmp_path, "b", {"MLXPROBE_TEST_LR_SCALE": "0.5"})}
    code, out = gate_cli(tmp_path, monkeypatch, envs, "--junit", str(tmp_path / "j.xml"))
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert any(ln.startswith("WORSE   watch") for ln in printed.splitlines())
    line = next(ln for ln in printed.splitlines() if ln.startswith("watch [python "))
    assert "learning curve differs" in line and "(above)" in line and "(3 vs 3 runs)" in line
    assert "**worse**" in (out / "summary.md").read_text()
    assert "<failure" in (tmp_path / "j.xml").read_text()


def test_program_rounds_run_the_envs_mlxprobe_with_its_bin_first(tmp_path: Path) -> None:
    env = Environment("x", tmp_path / "venv", "0.32.4", 0.0)
    args = cli.build_parser().parse_args(
        ["gate", "--baseline", "a", "--candidate", "b", "--progress", r"it (?P<step>\d+)",
         "--with", ".", "--", "python", "train.py", "--iters", "3"])
    gate._check_program(args)
    assert args.program == ["python", "train.py", "--iters", "3"]
    assert args.extras == (".",)
    command = gate.watch_command(args, env, tmp_path / "x.json")
    assert command[0] == str(tmp_path / "venv" / "bin" / "mlxprobe") and command[1] == "watch"
    assert command[-5:] == ["--", "python", "train.py", "--iters", "3"]
    assert command[command.index("--progress") + 1] == r"it (?P<step>\d+)"
    variables = gate.program_env(env)
    assert variables["PATH"].split(os.pathsep)[0] == str(tmp_path / "venv" / "bin")
    assert "PYTHONPATH" not in variables and variables["VIRTUAL_ENV"] == str(env.path)


def test_the_users_requirements_are_part_of_the_environment_key(tmp_path: Path) -> None:
    key, extras = environments.requirement_key, environments.extra_requirements
    req = tmp_path / "requirements.txt"
    req.write_text("mlx-lm==0.32.2\n")
    plain = key("mlx[cpu]==0.32.4")
    with_lm = key("mlx[cpu]==0.32.4", extras(["mlx-lm==0.32.2"], None))
    with_file = key("mlx[cpu]==0.32.4", extras(None, req))
    assert len({plain, with_lm, with_file}) == 3
    req.write_text("mlx-lm==0.32.1\n")
    assert key("mlx[cpu]==0.32.4", extras(None, req)) != with_file  # by content
    assert environments.pip_arguments(extras(["."], req)) == \
        [str(Path(".").resolve()), "-r", str(req.resolve())]
    assert environments.local_projects(extras([".", "mlx-lm"], None)) == \
        [str(Path(".").resolve())]


@pytest.mark.parametrize(("options", "message"), [
    (["--scenario", "x", "--", "python", "t.py"], "--scenario selects scenarios"),
    (["--tag", "upstream", "--", "python", "t.py"], "--tag selects scenarios"),
    (["--with", "mlx-lm"], "go with a program"),
    (["--requirements", "no-such.txt", "--", "python", "t.py"], "no such file"),
    (["--", "--repeat", "3"], "options of gate go before"),
    (["--progress", "(", "--", "python", "t.py"], "--progress"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, options: list[str],
                                          message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", "gate", "--baseline", "a",
                           "--candidate", "b", "--cache-dir", str(tmp_path / "cache"),
                           "--out", str(tmp_path / "out"), *options],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert not (tmp_path / "cache").exists()  # nothing built


def test_the_ci_example_gates_train_py_with_the_summary_in_the_job_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "github-gate-train.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    command = next(s["run"] for s in steps if s.get("name") == "gate train.py")
    (tmp_path / "deps.txt").write_text("numpy\n")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    words = [os.path.expandvars(w) for w in shlex.split(command)]
    assert words[:2] == ["mlxprobe", "gate"] and "$GITHUB_STEP_SUMMARY" in words
    args = cli.build_parser().parse_args(words[1:])
    gate._check_program(args)
    assert args.program == ["python", "train.py", "--iters", "200"]
    assert args.repeat == 3 and args.requirements is not None


def test_mlx_lms_trainer_gated_between_identical_sides_passes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The real trainer (mlx-lm, this interpreter's mlx on both sides): no false alarm. The
    gate between two mlx releases downloads them: benchmarks/gate_mlx_lm.py."""
    pytest.importorskip("mlx_lm")
    from fixtures.tiny_mlx_lm import build

    model, data = build(tmp_path / "tiny")
    envs = {"base": stand_in(tmp_path, "a"), "head": stand_in(tmp_path, "b")}
    monkeypatch.setattr(gate, "_environments", lambda args: envs)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["gate", "--baseline", "a", "--candidate", "b", "--repeat", "2",
                     "--out", str(tmp_path / "gate"), "--", "python", "-m", "mlx_lm", "lora",
                     "--model", str(model), "--data", str(data), "--train", "--iters", "12",
                     "--batch-size", "4", "--num-layers", "2", "--steps-per-report", "2",
                     "--val-batches", "2", "--adapter-path", str(tmp_path / "adapters")])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err[-3000:]
    head = json.loads((tmp_path / "gate" / "head.json").read_text())
    assert all(r["verdict"] == "pass" and "callback" in r["sources"] for r in head["runs"])
    assert len(head["runs"][0]["series"]["loss_at"]["loss"]) == 6
    assert "learning curve" in (tmp_path / "gate" / "summary.md").read_text()


def test_a_local_project_is_reinstalled_on_each_use_of_a_cached_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    installs: list[list[str]] = []
    monkeypatch.setattr(environments, "_pip_install", lambda path, args, _: installs.append(args))

    def build(path: Path, requirement: str, package: str, log: object, extras: tuple) -> None:
        path.mkdir(parents=True)
        installs.append(["build", *extras])

    monkeypatch.setattr(environments, "_build", build)
    monkeypatch.setattr(environments, "installed_mlx", lambda path: "0.32.4")
    extras = environments.extra_requirements([str(project), "mlx-lm==0.32.2"], None)
    first = environments.prepare("mlx[cpu]==0.32.4", tmp_path / "cache", ("wheel", "s1"),
                                 log=lambda _: None, extras=extras)
    assert first.state == "built" and installs == [["build", *extras]]
    environments.python_in(first.path).parent.mkdir()
    environments.python_in(first.path).touch()
    again = environments.prepare("mlx[cpu]==0.32.4", tmp_path / "cache", ("wheel", "s1"),
                                 log=lambda _: None, extras=extras)
    assert again.path == first.path and again.state == "updated"
    assert installs[-1] == ["--no-deps", "--force-reinstall", str(project.resolve())]
    plain = environments.prepare("mlx[cpu]==0.32.4", tmp_path / "cache", ("wheel", "s1"),
                                 log=lambda _: None)
    assert plain.path != first.path  # what is installed is the key
