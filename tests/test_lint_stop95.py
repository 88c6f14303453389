"""Stop 95's lint changes, each on the shape of the corpus script that showed it:
- MLX153 reads a nested tree's items through its keys too (`for k in grads: ... grads[k] +
  ...`), and follows the tree into a method every use of which calls it
  (`ctx.accumulate(grads, ...)`: fresh46 `accum_nested_grads`, a gradient-accumulation
  class written for a flat dict of arrays, over a model with an encoder and a head).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

MODEL = '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.GELU())
        self.head = nn.Linear(8, 1)

    def __call__(self, x):
        return self.head(self.encoder(x))


class Accumulator:
    def __init__(self):
        self.grads = None

    def add(self, grads):
        if self.grads is None:
            self.grads = {k: v for k, v in grads.items()}
        else:
            for key in grads:
                self.grads[key] = self.grads[key] + grads[key]


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)
'''

LOOP = '''
model = Net()
acc = Accumulator()
loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = loss_and_grad(model, x, y)
    acc.add(grads)
'''


def test_a_nested_tree_read_through_its_keys_in_a_method() -> None:
    assert fired(MODEL + LOOP, "MLX153") == [20]


def test_quiet_when_the_method_also_gets_a_flat_dict() -> None:
    flat = LOOP + "acc.add({'w': mx.zeros((2,))})\n"
    assert fired(MODEL + flat, "MLX153") == []


def test_quiet_when_an_item_is_tested_for_its_type() -> None:
    typed = MODEL.replace("self.grads[key] = self.grads[key] + grads[key]",
                          "if isinstance(grads[key], dict):\n                    continue\n"
                          "                self.grads[key] = self.grads[key] + grads[key]")
    assert fired(typed + LOOP, "MLX153") == []


def test_quiet_when_the_keys_only_copy_the_items() -> None:
    copied = MODEL.replace("self.grads[key] = self.grads[key] + grads[key]",
                           "self.grads[key] = grads[key]")
    assert fired(copied + LOOP, "MLX153") == []
