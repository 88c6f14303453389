"""MLX118: a training loop over `zip(range(n), batches(...))` with a one-pass generator of the
module, on small programs: it fires; the generator cycled, a generator that loops with
`while True`, and a loop that only prints the first few batches stay clean."""

from __future__ import annotations

from lint_snippets import fired

ZIP = """
def batches(data, bs):
    for s in range(0, len(data), bs):
        yield data[s:s + bs]

loss_and_grad = nn.value_and_grad(model, loss_fn)
for it, batch in zip(range(1, 601), batches(train, 8)):
    loss, grads = loss_and_grad(model, batch)
    opt.update(model, grads)
"""


def test_mlx118_zip_over_a_one_pass_generator_fires():
    assert fired(ZIP, "MLX118") == [7]


def test_mlx118_cycled_looping_and_peeking_are_clean():
    cycled = ZIP.replace("batches(train, 8))", "itertools.cycle(batches(train, 8)))")
    looping = ZIP.replace("    for s in range(0, len(data), bs):\n        yield",
                          "    while True:\n      for s in range(0, len(data), bs):\n"
                          "        yield")
    peek = ZIP.replace("    loss, grads = loss_and_grad(model, batch)\n"
                       "    opt.update(model, grads)\n", "    print(batch)\n")
    for program in (cycled, looping, peek):
        assert fired(program, "MLX118") == []
