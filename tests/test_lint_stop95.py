"""Stop 95's lint changes, each on the shape of the corpus script that showed it:
- MLX153 reads a nested tree's items through its keys too (`for k in grads: ... grads[k] +
  ...`), and follows the tree into a method every use of which calls it
  (`ctx.accumulate(grads, ...)`: fresh46 `accum_nested_grads`, a gradient-accumulation
  class written for a flat dict of arrays, over a model with an encoder and a head);
- MLX283 (new): one part's gradients multiplied by a constant before an Adam-family optimizer,
  which cancels the factor (fresh27 `backbone_lr_ratio_gradscale_adam`, unsloth-zoo c6023af),
  under a test of the leaf's name or over one entry of the tree; quiet for SGD, for a factor
  that changes per step, and for a scaling of every gradient;
- MLX015 also reads `mx.async_eval` in what a gradient transformation runs (a layer's
  chunked forward under `nn.value_and_grad`: fresh25 `async_eval_in_grad_forward`, mlx-vlm
  PR 1586), and leaves it alone under a `try` that catches the ValueError;
- MLX007 leaves alone `[1:]` on a name then bound to a Python list (a simulated
  trajectory's states, stacked later as `mx.stack(env[1:], axis=1)`: fresh377
  `envelope_ascent_gru`, correct).

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


GROUPS = '''
RATIO = 0.01
optimizer = optim.Adam(learning_rate=5e-2)
loss_and_grad = nn.value_and_grad(model, loss_fn)


def apply_group_lr(grads):
    flat = []
    for name, g in tree_flatten(grads):
        if name.startswith("backbone."):
            g = g * RATIO
        flat.append((name, g))
    return tree_unflatten(flat)


for step in range(10):
    loss, grads = loss_and_grad(model, x, y)
    grads = apply_group_lr(grads)
    optimizer.update(model, grads)
'''


def test_a_part_scaled_under_a_test_of_its_name_before_adam() -> None:
    assert fired(GROUPS, "MLX283") == [11]


def test_one_entry_of_the_tree_mapped_before_adamw() -> None:
    mapped = GROUPS.replace("optim.Adam(", "optim.AdamW(").replace(
        "grads = apply_group_lr(grads)",
        "grads[\"backbone\"] = tree_map(lambda g: g * RATIO, grads[\"backbone\"])")
    assert fired(mapped, "MLX283") == [18]


def test_quiet_under_sgd_whose_step_follows_the_gradient() -> None:
    assert fired(GROUPS.replace("optim.Adam(", "optim.SGD("), "MLX283") == []


def test_quiet_when_the_factor_changes_per_step() -> None:
    clipped = GROUPS.replace("g = g * RATIO", "g = g * (1.0 / mx.linalg.norm(g))")
    assert fired(clipped, "MLX283") == []


def test_quiet_when_every_gradient_is_scaled() -> None:
    every = GROUPS.replace('if name.startswith("backbone."):\n            g = g * RATIO',
                           "g = g * RATIO")
    assert fired(every, "MLX283") == []


CHUNKED = '''
def chunked(x):
    outs = []
    for c in range(0, x.shape[1], 4):
        y = x[:, c:c + 4] * 2
        mx.async_eval(y)
        outs.append(y)
    return mx.concatenate(outs, axis=1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def __call__(self, x):
        return chunked(self.fc(x))


model = Block()


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


step = nn.value_and_grad(model, loss_fn)
for it in range(10):
    loss, grads = step(model, x, y)
'''


def test_async_eval_in_a_forward_under_value_and_grad() -> None:
    assert fired(CHUNKED, "MLX015") == [6]


def test_quiet_when_a_try_catches_the_value_error() -> None:
    guarded = CHUNKED.replace("        mx.async_eval(y)\n",
                              "        try:\n            mx.async_eval(y)\n"
                              "        except ValueError:\n            pass\n")
    assert fired(guarded, "MLX015") == []


def test_quiet_for_a_plain_eval_under_value_and_grad() -> None:
    assert fired(CHUNKED.replace("mx.async_eval(y)", "mx.eval(y)"), "MLX015") == []


TRAJECTORY = '''
def make(n, duty):
    env = [mx.zeros((n,))]
    for t in range(8):
        env.append(env[-1] + duty[:, t])
    env = mx.stack(env[1:], axis=1)
    inputs, targets = env[:, :-1], env[:, 1:]
    return inputs, targets
'''


def test_quiet_on_the_tail_of_a_python_list() -> None:
    assert fired(TRAJECTORY, "MLX007") == []


def test_the_array_shifted_on_its_batch_axis_still_fires() -> None:
    shifted = TRAJECTORY.replace("targets = env[:, :-1], env[:, 1:]",
                                 "targets = env[:, :-1], env[1:]")
    assert fired(shifted, "MLX007") == [7]
