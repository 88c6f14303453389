"""MLX107 (rules/grad_targets.py) on small programs: a gradient function called with an
instance of a plain class (through `self.x`, a local name, or the transformation called in
place) fires; a module, a dict of parameters, a NamedTuple-free tuple and a position the
transformation does not differentiate stay silent. MLX026 also follows a worker thread's
collated batch (a dict of arrays built by a helper) onto its queue.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

PPO = """
class Policy:
    def __init__(self):
        self.net = nn.Linear(4, 2)

class Agent:
    def __init__(self):
        self.policy = {built}

    def update(self, batch):
        def loss_fn(policy):
            return policy.net(batch).mean()
        loss_and_grad = mx.value_and_grad(loss_fn)
        return loss_and_grad({given})
"""


def test_mlx107_plain_object_through_self() -> None:
    code = PPO.replace("{built}", "Policy()").replace("{given}", "self.policy")
    assert fired(code, "MLX107") == [14]


@pytest.mark.parametrize("built,given", [
    ("nn.Linear(4, 2)", "self.policy"),
    ("Policy()", "self.policy.net"),
    ("Policy()", "self.policy.net.trainable_parameters()"),
])
def test_mlx107_trees_stay_silent(built: str, given: str) -> None:
    code = PPO.replace("{built}", built).replace("{given}", given)
    assert fired(code, "MLX107") == []


LOCAL = """
class Config:
    pass

def main(x):
    cfg = Config()
    grads = mx.grad(lambda c, x: (x * 2).sum(), argnums={argnums})(cfg, x)
    return grads
"""


def test_mlx107_local_instance_called_in_place() -> None:
    assert fired(LOCAL.replace("{argnums}", "0"), "MLX107") == [7]


def test_mlx107_position_not_differentiated() -> None:
    assert fired(LOCAL.replace("{argnums}", "1"), "MLX107") == []


LOADER = """
import queue
import threading

class Loader:
    def __init__(self):
        self.q = queue.Queue()

    def _collate(self, rows):
        x = mx.array(rows)
        return {"x": x, "y": x.sum(axis=1)}

    def _worker(self):
        for rows in [[1, 2], [3, 4]]:
            batch = self._collate(rows)
            {evaluate}
            self.q.put(batch)

    def start(self):
        threading.Thread(target=self._worker).start()
"""


def test_mlx026_collated_batch_put_unevaluated() -> None:
    assert fired(LOADER.replace("{evaluate}", "pass"), "MLX026") == [17]


def test_mlx026_collated_batch_evaluated_in_worker() -> None:
    assert fired(LOADER.replace("{evaluate}", "mx.eval(batch)"), "MLX026") == []
