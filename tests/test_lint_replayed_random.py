"""MLX127: a function compiled without `inputs=`/`outputs=` that draws from `mx.random`, on
small programs: a decorated sampler, one compiled by a call and one that draws through a
helper fire; the random state declared, an explicit `key=`, and a compiled function that
draws nothing stay clean."""

from __future__ import annotations

from lint_snippets import fired

SAMPLERS = """
@mx.compile
def sample(logits, temp):
    return mx.random.categorical(logits * (1.0 / temp))

def noisy(x):
    return x + 0.1 * mx.random.normal(x.shape)

def through_helper(x):
    return noisy(x) * 2

noisy_step = mx.compile(through_helper)
"""


def test_mlx127_a_compiled_function_that_draws_fires():
    assert fired(SAMPLERS, "MLX127") == [2, 12]


def test_mlx127_declared_state_a_key_and_no_draw_are_clean():
    declared = SAMPLERS.replace(
        "@mx.compile", "@partial(mx.compile, inputs=mx.random.state, outputs=mx.random.state)"
    ).replace("mx.compile(through_helper)",
              "mx.compile(through_helper, inputs=[mx.random.state], outputs=[mx.random.state])")
    assert fired(declared, "MLX127") == []
    keyed = SAMPLERS.replace("temp))", "temp), key=key)").replace(
        "mx.random.normal(x.shape)", "mx.random.normal(x.shape, key=key)")
    assert fired(keyed, "MLX127") == []
    seeded = SAMPLERS.replace("mx.random.categorical(logits * (1.0 / temp))",
                              "mx.argmax(logits, axis=-1)").replace(
        "mx.random.normal(x.shape)", "mx.random.seed(0)")
    assert fired(seeded, "MLX127") == []
