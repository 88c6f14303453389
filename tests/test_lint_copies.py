"""MLX070 on small programs: a write into a slice of an MLX array that never reaches the
array; and the near misses that stay silent (the write into the array itself, a slice used
after the write or written back, a NumPy array's view)."""

from __future__ import annotations

from lint_snippets import fired

LOOP = """
grad_fn = mx.value_and_grad(loss_fn)
W = mx.zeros((8, 4))
for x, y in data:
    loss, gW = grad_fn(W, x, y)
    {update}
    mx.eval(W)
"""


def test_mlx070_a_write_into_a_slice_never_reaches_the_array() -> None:
    assert fired(LOOP.format(update="part = W[:, 2:]\n    part[:] = part - 0.1 * gW[:, 2:]"),
                 "MLX070") == [7]
    assert fired(LOOP.format(update="part = W[1]\n    part[:] -= 0.1 * gW[1]"), "MLX070") == [7]


def test_mlx070_silent_on_the_array_itself_and_on_slices_used_after() -> None:
    assert fired(LOOP.format(update="W[:, 2:] = W[:, 2:] - 0.1 * gW[:, 2:]"), "MLX070") == []
    back = "part = W[:, 2:]\n    part[:] = part - 0.1 * gW[:, 2:]\n    W[:, 2:] = part"
    assert fired(LOOP.format(update=back), "MLX070") == []
    used = "part = W[:, 2:]\n    part[0] = 0.0\n    print(part.sum())"
    assert fired(LOOP.format(update=used), "MLX070") == []
    numpy = "A = np.zeros((8, 4))\nrow = A[1]\nrow[:] = 1.0\n"
    assert fired(numpy, "MLX070") == []
