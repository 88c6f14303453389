"""A misspelt attribute of an `nn.Module` names the one it holds: the NEAR record written
inside the program at its uncaught AttributeError (`inside/near.py`) and the hint that leads
with it (`judging/nearest.py`).

Cost: ~3 s (one watched MLX program that fails at its first step).
"""

from __future__ import annotations

from pathlib import Path

from watching import python, watch

from mlxprobe.inside.near import closest
from mlxprobe.judging.nearest import note
from mlxprobe.watching.facts import RawResult


def test_a_misspelt_child_of_a_watched_module_is_named_in_the_hint(tmp_path: Path) -> None:
    done, entry = watch(tmp_path, *python("misspelt_child.py"))
    assert done.returncode != 0, done.stderr[-2000:]
    assert (entry["verdict"], entry["detail"]) == ("crash", "AttributeError")
    assert "the closest names it holds: `quant_proj`" in entry["hint"]
    assert b"Did you mean" not in done.stderr  # Python's own report stayed as it was


class Holder(dict):
    def method(self) -> None: ...


def test_close_names_come_from_a_dicts_keys_and_from_dir() -> None:
    holder = Holder(quant_proj=1, encoder=2)
    try:
        holder.query_proj  # noqa: B018 - the error under test
    except AttributeError as error:
        found = closest(error)
    assert found == {"type": "Holder", "name": "query_proj", "near": ["quant_proj"],
                     "held": ["quant_proj"]}
    try:
        holder.methd  # noqa: B018
    except AttributeError as error:
        assert closest(error)["near"] == ["method"]
    assert closest(ValueError("no")) is None


def test_the_note_names_only_the_attribute_of_the_message() -> None:
    record = {"kind": "near", "type": "Autoencoder", "name": "query_proj",
              "near": ["quant_proj"], "held": ["quant_proj"]}
    raw = RawResult(records=[record], exit_code=1, watched=True)
    said = "'Autoencoder' object has no attribute 'query_proj'"
    assert note(raw, "AttributeError", said).startswith("`Autoencoder` has no `query_proj`")
    assert note(raw, "AttributeError", "'Model' object has no attribute 'other'") == ""
    assert note(raw, "TypeError", said) == ""
