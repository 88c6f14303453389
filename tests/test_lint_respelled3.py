"""The third blind re-spelling of the rule families (corpus/lintheld3, written "as a larger
program would hold the bug"): the shapes the rules missed and the near misses they flagged,
each beside the twin that must stay quiet.

Cost: < 1 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

# MLX042: mx.minimum, and only a length that may be 0 -----------------------------------------

SCHEDULE = """
def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--iters", type=int, default=300)
    return p.parse_args()

def lr_at(step, args):
    return mx.minimum(1.0, step / {length})

args = parse()
for step in range(10):
    optimizer.update(model, grads)
"""


def test_mlx042_reads_mx_minimum_over_a_warmup_length() -> None:
    assert fired(SCHEDULE.format(length="args.warmup_steps"), "MLX042") == [9]


def test_mlx042_is_quiet_on_a_length_whose_default_is_not_0() -> None:
    assert fired(SCHEDULE.format(length="args.iters"), "MLX042") == []


# MLX065: a counter an object carries --------------------------------------------------------

TUNER = """
class Tuner:
    def __init__(self):
        self.global_step = 0

        @mx.compile
        def _step(x):
            if self.{attr} < 50:
                return x * 0
            return x

        self._step = _step

    def train(self, xs):
        for x in xs:
            self._step(x)
            self.global_step += 1
"""


def test_mlx065_finds_a_compiled_branch_on_an_incremented_attribute() -> None:
    assert fired(TUNER.format(attr="global_step"), "MLX065") == [8]


def test_mlx065_is_quiet_on_an_attribute_never_incremented() -> None:
    assert fired(TUNER.format(attr="freeze_steps"), "MLX065") == []


# MLX004, MLX010, MLX030: a generator, a comprehension, a helper ------------------------------

def test_mlx004_follows_pairs_a_generator_yields_from_tree_flatten() -> None:
    code = """
    def leaves(tree):
        yield from tree_flatten(tree)

    def norm(tree):
        return sum((p * p).sum() for {target} in leaves(tree))
    """
    assert fired(code.format(target="p"), "MLX004") == [3]
    assert fired(code.format(target="_, p"), "MLX004") == []


def test_mlx010_finds_entries_zeroed_in_a_dict_comprehension() -> None:
    code = """
    opt = optim.AdamW(learning_rate=1e-3)

    def mask(grads, frozen):
        return {{k: ({value} if k in frozen else v) for k, v in grads.items()}}
    """
    assert fired(code.format(value="tree_map(mx.zeros_like, v)"), "MLX010") == [5]
    assert fired(code.format(value="tree_map(lambda g: 0.5 * g, v)"), "MLX010") == []


def test_mlx030_follows_the_pair_a_helper_returns() -> None:
    code = """
    def maybe_clip(grads, cfg):
        if cfg.clip:
            return {returned}
        return grads

    grads = maybe_clip(grads, cfg)
    optimizer.update(model, grads)
    """
    assert fired(code.format(returned="optim.clip_grad_norm(grads, max_norm=1.0)"),
                 "MLX030") == [4]
    assert fired(code.format(returned="optim.clip_grad_norm(grads, max_norm=1.0)[0]"),
                 "MLX030") == []


# MLX017, MLX033: a gradient function on an attribute, or run at once --------------------------

def test_mlx017_reads_a_gradient_function_bound_to_an_attribute() -> None:
    code = """
    class Fitter:
        def __init__(self):
            self.vg = mx.value_and_grad(residual)

        def step(self, theta, t):
            return self.vg({args})
    """
    assert fired(code.format(args="theta=theta, t=t"), "MLX017") == [7]
    assert fired(code.format(args="theta, t"), "MLX017") == []


def test_mlx033_reads_a_gradient_function_run_at_once() -> None:
    code = """
    def update(policy, logp, adv):
        def pg_loss(policy):
            return {loss}

        return nn.value_and_grad(policy, pg_loss)(policy)
    """
    assert fired(code.format(loss="-mx.mean(logp * adv)"), "MLX033") == [6]
    assert fired(code.format(loss="-mx.mean(policy(logp) * adv)"), "MLX033") == []


# MLX024: an operand stopped, or reached only through a shape or a setting ------------------

EIGH = """
class Whiten(nn.Module):
    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps = eps

    def __call__(self, h):
        cov = {cov} + self.eps * mx.eye(h.shape[1])
        vals, vecs = mx.linalg.eigh(cov, stream=mx.cpu)
        return h @ vecs

step = nn.value_and_grad(model, lambda m, x: m(x).sum())
"""


def test_mlx024_finds_eigh_of_a_covariance_that_carries_the_gradient() -> None:
    assert fired(EIGH.format(cov="(h.T @ h)"), "MLX024") == [9]


def test_mlx024_is_quiet_when_the_covariance_is_stopped() -> None:
    assert fired(EIGH.format(cov="mx.stop_gradient(h.T @ h)"), "MLX024") == []
