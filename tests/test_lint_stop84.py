"""Stop 84's lint changes.

- MLX267: a function that writes into its array argument in place and returns it, called
  as if it made a new array on an array read again (fresh304 `gearbox_hum_cutout_pseudo`,
  keras 7fde639: `xl_aug = cutout(XL, s)` with `cutout` returning `slice_update(x, ...)`,
  which did `inputs[slices] = updates; return inputs`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

CUTOUT = """
XL = mx.array(np.ones((64, 16), dtype=np.float32))
YL = mx.array(np.zeros((64,), dtype=np.int32))

def slice_update(inputs, start, updates):
{copy}    inputs[:, start:start + updates.shape[1]] = updates
    {ret}

def cutout(x, start):
    return slice_update(x, start, mx.zeros((x.shape[0], 4)))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    {call}
    loss, grads = lg(model, x_aug, YL)
    opt.update(model, grads)
"""


def cutout(copy: str = "", ret: str = "return inputs",
           call: str = "x_aug = cutout(XL, step)") -> str:
    return CUTOUT.format(copy=copy, ret=ret, call=call)


def test_a_kept_array_handed_to_a_helper_that_writes_into_it_fires() -> None:
    assert fired(cutout(), "MLX267") == [17]


def test_the_helper_that_copies_its_input_first_is_quiet() -> None:
    assert fired(cutout(copy="    inputs = mx.array(inputs)\n"), "MLX267") == []


def test_a_write_in_place_that_returns_nothing_is_quiet() -> None:
    """A cache update (`write(buf, i, v)`) does not look like it makes a new array."""
    code = cutout(ret="return None", call="cutout(XL, step); x_aug = XL")
    assert fired(code, "MLX267") == []


def test_an_argument_rebound_to_the_result_is_quiet() -> None:
    assert fired(cutout(call="xb = XL[:8]; xb = cutout(xb, step); x_aug = xb"), "MLX267") == []


def test_a_fresh_array_per_step_read_nowhere_after_is_quiet() -> None:
    """`xu = XU[idx]` makes a new array each step: writing into it harms nothing."""
    code = cutout(call="xu = XL[step:step + 8]; x_aug = cutout(xu, step)")
    assert fired(code, "MLX267") == []


def test_an_argument_read_after_the_call_fires_outside_a_loop() -> None:
    code = """
X = mx.array(np.ones((8, 4), dtype=np.float32))

def add_noise(x, scale):
    x += scale * mx.random.normal(x.shape)
    return x

noisy = add_noise(X, 0.1)
print(mx.mean(noisy - X).item())
""" + TRAINED
    assert fired(code, "MLX267") == [8]
