"""A real MLX child whose first step compiles kernels with g++ (cold cache in a fresh TMPDIR)."""

import mlx.core as mx

SCENARIO = {"id": "compiled", "title": "cold mx.compile in the first steps",
            "variants": {"cold": "pass"}}

KERNELS = 4  # distinct compiled graphs: ~0.5-1 s of g++ each on a cold cache


def _kernel(k: int):
    def f(x):
        y = x
        for _ in range(k + 2):
            y = mx.sin(y) * mx.exp(-y) + float(k)
        return y
    return mx.compile(f)


def cold(probe):
    x = mx.ones((32,))
    mx.eval(x)
    probe.step(loss=1.0)
    for k in range(KERNELS):  # one "step" holding all the compilation
        mx.eval(_kernel(k)(x))
    probe.step(loss=0.5)
    for _ in range(5):
        probe.step(loss=0.5)
