"""Stop 75's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` stands down when the groups that never changed are key and value
  projections in pairs (fresh260 `lantern_ferry_kvshare_ok`: layers 1-3 read layer 0's keys
  and values by design, cross-layer KV sharing as in Gemma 3n and Gemma 4).

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from test_stop71_rules import run

from mlxprobe.judging.verdict import classify

SHARED = [f"language_model.model.layers.{i}.self_attn.{p}" for i in (1, 2, 3)
          for p in ("k_proj", "v_proj")]


def test_key_and_value_projections_of_kv_sharing_layers_are_no_part_that_fails() -> None:
    assert classify(run(SHARED)).label == "pass"
    assert classify(run(["blocks.2.attn.wk", "blocks.2.attn.wv"])).label == "pass"


def test_a_key_without_its_value_a_query_or_a_capped_list_still_judge() -> None:
    assert classify(run(SHARED[:-1])).label == "no_update:part"
    query = [*SHARED, "language_model.model.layers.1.self_attn.q_proj"]
    assert classify(run(query)).label == "no_update:part"
    assert classify(run(SHARED, count=60)).label == "no_update:part"
