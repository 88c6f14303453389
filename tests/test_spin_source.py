"""pipeline/spin_source: a hang in an endless loop of the program's own Python quotes the loop
it spins in (fresh183 `runelog_lm_blockloader`: `while True:` around `for i in
range(n_batches):`, n_batches 0); a stall anywhere else gets no quote.

Cost: < 0.5 s (no MLX, no child).
"""

from __future__ import annotations

from pathlib import Path

from mlxprobe.pipeline import spin_source

LOADER = """\
def config_dataloader(n_steps, examples, block):
    n_batches = min(n_steps, examples % block)

    def load_data():
        while True:
            for i in range(n_batches):
                yield i

    return load_data()


for step in range(10):
    batch = next(loader)
"""


def stacks(path: Path, line: int) -> str:
    return (f'Main thread 0x1 (most recent call first):\n  File "{path}", line {line} in '
            f'load_data\n  File "{path}", line 13 in <module>\n\nThread 0x2 (most recent '
            'call first):\n  File "/usr/lib/python3.11/threading.py", line 331 in wait\n')


def entry(key: str = "computing_in") -> dict:
    return {"verdict": "hang", "detail": "cpu_busy", "hint": "the program loops without end",
            "evidence": {key: "loader.py:5 (load_data)"}}


def test_an_endless_loop_in_own_python_quotes_the_while_and_its_inner_for(tmp_path) -> None:
    path = tmp_path / "loader.py"
    path.write_text(LOADER)
    found = spin_source.attach(entry(), stacks(path, 5))
    assert found["spin"] == {"path": "loader.py", "line": 5, "loop": "`while True:` around "
                             "`for i in range(n_batches):` (line 6)"}
    assert found["hint"].startswith("the program loops without end\n")
    assert "loader.py:5" in found["hint"]


def test_a_line_inside_a_for_quotes_that_for(tmp_path) -> None:
    path = tmp_path / "loader.py"
    path.write_text(LOADER)
    found = spin_source.attach(entry("looping"), stacks(path, 7))
    assert found["spin"]["loop"] == "`for i in range(n_batches):`"


def test_a_stall_without_an_own_python_loop_gets_no_quote(tmp_path) -> None:
    path = tmp_path / "loader.py"
    path.write_text(LOADER)
    stalled = entry("after_last_step")  # a stall in an evaluation: the loop is training's
    assert "spin" not in spin_source.attach(stalled, stacks(path, 5))
    outside = spin_source.attach(entry(), stacks(path, 2))  # no loop around line 2
    assert "spin" not in outside and outside["hint"] == "the program loops without end"


def test_a_frame_in_a_missing_or_foreign_file_is_left_alone(tmp_path) -> None:
    assert "spin" not in spin_source.attach(entry(), stacks(tmp_path / "gone.py", 5))
    assert "spin" not in spin_source.attach(entry(), stacks(Path(spin_source.__file__), 60))
    assert "spin" not in spin_source.attach({"verdict": "pass"}, "")
