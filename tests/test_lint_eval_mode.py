"""MLX124: a model put in eval mode and then stepped by an optimizer, with no `.train()` in
the file, on small programs: a baseline validation before the loop and a validation pass
inside it fire; a file that calls `model.train()`, `mx.eval()` and another object's `eval()`
stay clean."""

from __future__ import annotations

from lint_snippets import fired

BASELINE = """
def main(model, opt, loss_and_grad, data, val):
    model.eval()
    print(evaluate(model, val))
    for x, y in data:
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
"""
INSIDE = """
def main(model, opt, loss_and_grad, data, val):
    for epoch in range(3):
        for x, y in data:
            loss, grads = loss_and_grad(model, x, y)
            opt.update(model, grads)
        model.eval()
        print(evaluate(model, val))
"""


def test_mlx124_training_after_eval_mode_fires():
    assert fired(BASELINE, "MLX124") == [3]
    assert fired(INSIDE, "MLX124") == [7]


def test_mlx124_train_mode_restored_mx_eval_or_another_object_are_clean():
    restored = BASELINE.replace("    for x, y", "    model.train()\n    for x, y")
    assert fired(restored, "MLX124") == []
    assert fired(BASELINE.replace("model.eval()", "mx.eval()"), "MLX124") == []
    assert fired(BASELINE.replace("model.eval()", "teacher.eval()"), "MLX124") == []
