"""The output parser on tables whose bars separate groups of columns and whose header words
do not split one per column (fresh188 `solvent_vae_propclip`, fresh164
`balloon_propane_quantile_folds`): each group's numbers are named by its words, one or two
each, and a baseline column is never the loss."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.watching.output import ProgressParser

VAE = """epoch | beta  | recon   kl      logp_l  tpsa_l | logP MAE  TPSA MAE (A^2)
    0 | 0.000 |  9.6877  0.1005  1.2335  1.2597 |   0.8937    11.819
    4 | 0.200 |  1.3301  9.5434  0.2210  0.1806 |   0.4242     4.679"""

QUANTILES = """  ep        lr    pb10    pb50    pb90 | valMAE kg cover80 clim MAE
   1  5.67e-04  0.0772  0.5555  0.6923 |     41.41    0.0%    11.55
  10  1.96e-03  0.0228  0.0540  0.0268 |      4.03   79.7%    11.55"""


def parsed(text: str) -> list[dict]:
    parser = ProgressParser()
    return [r for r in map(parser.parse, text.splitlines()) if r]


def test_a_group_of_numbers_between_bars_is_named_by_its_header_words() -> None:
    rows = parsed(VAE)
    assert [r["loss"] for r in rows] == [9.6877, 1.3301]  # recon, not beta (0.0 -> 0.2)
    assert rows[1]["metrics"] == {"beta": 0.2, "kl": 9.5434, "logp_l": 0.221,
                                  "tpsa_l": 0.1806, "logp_mae": 0.4242, "tpsa_mae": 4.679}


def test_a_header_with_lone_bars_is_read_by_alignment_and_its_baseline_is_no_loss() -> None:
    rows = parsed(QUANTILES)
    assert rows[1]["metrics"]["valmae_kg"] == 4.03 and rows[1]["metrics"]["clim_mae"] == 11.55
    assert rows[1].get("loss_name") != "clim_mae"  # not the learning rate either
    assert metric_names.loss_rank("clim_mae") is None


def test_a_group_whose_words_do_not_divide_among_its_numbers_is_not_named() -> None:
    text = "step | loss  | a b c\n   1 | 0.50  | 0.1 0.2"
    rows = parsed(text)
    assert rows and "a" not in (rows[0].get("metrics") or {})
