"""Stop 94's lint changes, each on the shape of the corpus script that showed it:
- MLX153 (and MLX116, which shares its test of a tree) follows a gradient tree into a
  module function every call of which hands it one (fresh367 `quarry_ledger_clipnest`,
  llm-from-scratch 729e80e: `clip_gradients(grads, 1.0)` iterates `grads.values()` and
  rebinds `grads` to a flat dict comprehension), and stays quiet when a call hands the
  function something else, or the function is also used as a value;
- MLX148 (and MLX134, which shares its test) reads a name rebound to arithmetic on a NumPy
  call as a NumPy array (fresh370 `pierhead_bytes_window`, correct);
- MLX019 leaves alone a private random array that a method other than `__init__` rebinds to
  a value it computes, a buffer the module keeps up (fresh371 `cockle_spat_contraction`,
  correct: a spectral norm's power-iteration vector).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

MODEL = '''
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def __call__(self, x):
        return self.fc(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [Block() for _ in range(2)]
        self.head = nn.Linear(4, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


def clip_gradients(grads, max_norm):
    total = 0.0
    for g in grads.values():
        total += mx.sum(g * g).item()
    scale = min(1.0, max_norm / (total ** 0.5 + 1e-6))
    grads = {k: v * scale for k, v in grads.items()}
    return grads
'''

LOOP = '''
model = Net()
optimizer = optim.SGD(learning_rate=0.1)
loss_and_grad = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = loss_and_grad(model, x, y)
    grads = clip_gradients(grads, 1.0)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
'''


def test_a_gradient_tree_handed_to_a_helper_that_iterates_it_flat() -> None:
    assert fired(MODEL + LOOP, "MLX153") == [29, 32]


def test_quiet_when_a_call_hands_the_helper_a_flat_dict() -> None:
    flat = LOOP + "clip_gradients({'w': mx.zeros((2,))}, 1.0)\n"
    assert fired(MODEL + flat, "MLX153") == []


def test_quiet_when_the_helper_is_also_used_as_a_value() -> None:
    handed = LOOP + "hooks = [clip_gradients]\n"
    assert fired(MODEL + handed, "MLX153") == []


EVAL = '''
def evaluate(model, va_x, va_y, va_cls):
    logits = model(mx.array(va_x))
    tok = mx.take_along_axis(logits, mx.array(va_y)[:, None], axis=-1)[:, 0]
    tok = np.array(-tok) / 0.6931
    return [tok[va_cls == j].mean() for j in range(3)]
'''


def test_quiet_on_a_name_rebound_to_numpy_arithmetic() -> None:
    """fresh370 `pierhead_bytes_window`, correct: per-token bits made a NumPy array by
    `np.array(-tok) / math.log(2.0)` before a class mask indexes them."""
    assert fired(EVAL, "MLX148") == []


def test_a_comparison_still_indexes_an_mlx_array() -> None:
    kept = EVAL.replace("tok = np.array(-tok) / 0.6931", "tok = -tok / 0.6931")
    assert fired(kept, "MLX148") == [6]


SPECTRAL = '''
class SNLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        lin = nn.Linear(d_in, d_out)
        self.weight = lin.weight
        self.bias = lin.bias
        self._u = mx.random.normal((d_out,))

    def power_step(self):
        w = mx.stop_gradient(self.weight)
        v = w.T @ self._u
        self._u = (w @ v) / mx.linalg.norm(w @ v)

    def __call__(self, x):
        sigma = self._u @ (self.weight @ (self.weight.T @ self._u))
        return x @ (self.weight / sigma).T + self.bias
'''


def test_quiet_on_a_private_buffer_the_module_keeps_up_itself() -> None:
    """fresh371 `cockle_spat_contraction`, correct: a spectral norm's power-iteration vector."""
    assert fired(SPECTRAL, "MLX019") == []


def test_a_private_draw_redrawn_by_a_method_still_fires() -> None:
    redrawn = SPECTRAL.replace("self._u = (w @ v) / mx.linalg.norm(w @ v)",
                               "self._u = mx.random.normal((4,))")
    assert fired(redrawn, "MLX019") == [8, 13]
