"""Stop 77's lint change: MLX144 (dropout evaluated in training mode) leaves an evaluation
function whose module helper samples the model in a loop over `_` (fresh272
`nightjar_roost_mcdropout_resume`, correct: `evaluate` calls `mc_predict`, which averages 20
passes with dropout on, on purpose).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired
from test_lint_round43 import PLAIN, PROGRAM

HELPER = ("def mc_predict(model, x):\n"
          "    return mx.stack([model(x) for _ in range(8)]).mean(0)\n")
THROUGH_HELPER = "    return (mx.argmax(mc_predict(model, x), axis=1) == y).mean().item()"
PLAIN_HELPER = "def predict_once(model, x):\n    return model(x)\n"
THROUGH_PLAIN = "    return (mx.argmax(predict_once(model, x), axis=1) == y).mean().item()"


def test_mlx144_leaves_an_evaluation_that_samples_through_a_helper() -> None:
    code = HELPER + PROGRAM.format(default="=0.5", rate="0.25", evaluation=THROUGH_HELPER)
    assert fired(code, "MLX144") == []


def test_mlx144_still_fires_through_a_helper_that_does_not_sample() -> None:
    code = PLAIN_HELPER + PROGRAM.format(default="=0.5", rate="0.25", evaluation=THROUGH_PLAIN)
    assert fired(code, "MLX144") == [14]
    assert fired(PROGRAM.format(default="=0.5", rate="0.25", evaluation=PLAIN), "MLX144") == [12]
