"""Stop 86's lint changes.

- MLX002 follows a loss into a method of one of the module's classes called on any object
  (`m.log_joint(x, y)`), as it follows a module function: a mixture's marginal likelihood
  `-logsumexp(m.log_joint(x, y)).mean()`, whose target meets the means inside the method, is
  not a log-softmax with no label (fresh314 `correct_meltwater_gauge_gem_resume`, a correct
  mixture regression, was found).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

MIXTURE = """
class Mixture(nn.Module):
    def __init__(self, k=2, d=3):
        super().__init__()
        self.coef = mx.zeros((k, d))
        self.log_sigma = mx.zeros((k,))
        self.mix_logit = mx.zeros((k,))

    def log_joint(self, x, y):
        mean = x @ self.coef.T
        z = ({target}) / mx.exp(self.log_sigma)
        return -0.5 * z ** 2 - self.log_sigma + nn.log_softmax(self.mix_logit)

def marginal_nll(m, x, y):
    return -mx.logsumexp(m.log_joint(x, y), axis=1).mean()
"""


def test_a_target_met_inside_a_method_is_a_mixture_likelihood() -> None:
    assert fired(MIXTURE.format(target="y[:, None] - mean"), "MLX002") == []


def test_a_method_whose_log_softmax_meets_no_target_is_still_found() -> None:
    assert fired(MIXTURE.format(target="mean"), "MLX002") == [15]


CLASSIFIER = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def log_probs(self, x):
        logits = self.fc(x)
        return logits - mx.logsumexp(logits, axis=-1, keepdims=True)

def loss_fn(model, x, labels):
    return -mx.mean(model.log_probs(x))
"""


def test_a_log_softmax_in_a_method_with_no_label_is_found() -> None:
    assert fired(CLASSIFIER, "MLX002") == [12]
