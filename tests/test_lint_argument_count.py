"""MLX122: a gradient transformation of a function with fewer positional parameters than the
argument it differentiates, on small programs: a closure with none and an argnums past the
last parameter fire; a function that takes its parameters, one with *args, and a method whose
`self` is bound stay clean."""

from __future__ import annotations

from lint_snippets import fired

CLOSURE = """
def train(model, images, targets):
    def loss_fn():
        return yolo_loss(model(images), targets)
    loss, grads = mx.value_and_grad(loss_fn)()
    g = mx.grad(lambda w: (w * w).sum(), argnums=1)(images)
    return loss, grads, g
"""
RIGHT = """
def train(model, images, targets):
    def loss_fn(params):
        model.update(params)
        return yolo_loss(model(images), targets)
    def anything(*arrays):
        return sum(a.sum() for a in arrays)
    loss, grads = mx.value_and_grad(loss_fn)(model.parameters())
    g = mx.grad(anything, argnums=2)(images, targets, images)
    return loss, grads, g

class Fit:
    def loss(self, w):
        return (w * w).sum()
    def step(self, w):
        return mx.grad(self.loss)(w)
"""


def test_mlx122_no_argument_to_differentiate_fires():
    assert fired(CLOSURE, "MLX122") == [5, 6]


def test_mlx122_parameters_varargs_and_bound_methods_are_clean():
    assert fired(RIGHT, "MLX122") == []
