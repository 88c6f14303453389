"""Stop 98's lint changes, each on the shape of the corpus script that showed it:
- MLX154 leaves alone a table in a module class whose instances the file freezes whole, or
  that a frozen class builds (fresh393 `vario_trace_rocket`, correct: a bank of random
  kernels frozen under a trained head, `self.kernels = RandomKernels()` then
  `self.kernels.freeze()`, its integer tap offsets in each `DilatedBank`); a table in a class
  whose instance is not frozen, or is frozen only outside the `__init__` that builds it (after
  some training, maybe), still fires.
- MLX090 leaves alone a per-example loss summed with weights the function is handed that the
  module divides by their own sum (`w = w / w.sum()`: a weighted mean; fresh393
  `spine_crack_boost_rounds`, correct: AdaBoost's row weights); the same sum with a mask, or
  with weights never normalised, still fires.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

BANK = """
class Bank(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.weight = mx.random.normal((k, 8))
        self.offsets = mx.array(np.arange(32)[:, None] + d * np.arange(k)[None, :])

    def __call__(self, x):
        return x[:, self.offsets] @ self.weight


class Kernels(nn.Module):
    def __init__(self):
        super().__init__()
        self.banks = [Bank(9, d) for d in (1, 2, 4)]

    def __call__(self, x):
        return mx.concatenate([b(x).max(axis=1) for b in self.banks], axis=1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.kernels = Kernels()
        {freeze}
        self.head = nn.Linear(24, 4)

    def __call__(self, x):
        return self.head(self.kernels(x))


model = Classifier()
""" + TRAINED


def test_mlx154_is_quiet_on_a_table_of_a_class_a_frozen_instance_builds() -> None:
    assert fired(BANK.format(freeze="self.kernels.freeze()"), "MLX154") == []


def test_mlx154_fires_when_the_instance_is_not_frozen() -> None:
    assert fired(BANK.format(freeze="pass"), "MLX154") == [6]
    assert fired(BANK.format(freeze="self.head2 = nn.Linear(2, 2)"), "MLX154") == [6]


def test_mlx154_fires_when_the_instance_is_frozen_only_outside_its_builder() -> None:
    """A freeze after some training (fresh356 `semaphore_mirror_uniform_noise`: a second
    stage that freezes the model the first stage trained whole)."""
    assert fired(BANK.format(freeze="pass") + "model.kernels.freeze()\n", "MLX154") == [6]


WEIGHTED = """
def wbce(model, x, y, w):
    return mx.sum(w * nn.losses.binary_cross_entropy(model(x), y, reduction="none"))

lg = nn.value_and_grad(model, wbce)
w = np.full(3000, 1 / 3000)
for r in range(8):
    loss, g = lg(model, x, y, mx.array(w))
    opt.update(model, g)
    w = w * np.exp(-0.5 * pred * y_pm)
    {normalise}
"""


def test_mlx090_is_quiet_on_a_sum_weighted_by_normalised_weights() -> None:
    for normalise in ("w = w / w.sum()", "w /= np.sum(w)"):
        assert fired(WEIGHTED.format(normalise=normalise), "MLX090") == [], normalise


def test_mlx090_fires_on_weights_never_normalised() -> None:
    assert fired(WEIGHTED.format(normalise="w = np.clip(w, 0, 10)"), "MLX090") == [3]
    masked = WEIGHTED.replace("w * nn", "mask * nn").replace("y, w)", "y, mask)")
    assert fired(masked.format(normalise="w = w / w.sum()"), "MLX090") == [3]
