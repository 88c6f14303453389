"""Fix hints for a variational-inference run.

Job: pick the text of a `not_learning` or `diverged` verdict from metric evidence any run
has; it never decides a verdict. The fact read: the run reports an ELBO or its negative (any
name holding `elbo`: `elbo`, `-elbo`, `neg_elbo`, `nelbo`, `train_elbo`). Its gradient has a
pathwise part (continuous latents: the samples reparameterised inside the differentiated
function) and a score-function part (discrete latents: log q weighted by a per-sample
advantage), and loops lose one or the other. Measured on fresh24 `advi_samples_outside_grad`
(samples drawn outside `value_and_grad`: sigma 15x -> 2,826x the posterior's, -ELBO 3.6e3 ->
2.9e8; its twin 47) and `bernoulli_vi_averaged_baseline` (the advantage of the averaged ELBO
minus its mean, identically 0: ELBO -35.2 -> -42.1; its twin -24.0).

Must not import: mlx, the watching side's runner, reporters.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import metric_names

VI_CHECKS = (
    "the ELBO's gradient has two parts, and a loop can lose either: (1) continuous latents: "
    "draw the samples inside the function given to `value_and_grad`, reparameterised from "
    "its parameters, `z = mu + mx.exp(log_sigma) * eps` (eps may come from outside; a z "
    "drawn outside is a constant, so the pathwise gradient is lost, only the log q term is "
    "left and sigma random-walks); (2) discrete latents (a score-function / REINFORCE "
    "estimator): weight each sample's `log q(z)` by its own advantage, "
    "`mx.stop_gradient(f - baseline)` with `f` the per-sample objective before averaging "
    "and a baseline from the other samples (the advantage of an averaged objective minus "
    "its mean is exactly 0); and bound a log-variance head, `mx.clip(logvar, -10, 10)`")
VI_FLAT = "a variational-inference run (it reports `{name}`) that does not learn: " + VI_CHECKS
VI_BLOWN = "a variational objective (`{name}`) blew up: " + VI_CHECKS + "; "


def elbo_name(names: Iterable[str]) -> str | None:
    """The first ELBO-like name among the run's loss and metrics, or None."""
    return next((name for name in names if metric_names.variational(name)), None)


def flat_hint(names: Iterable[str]) -> str | None:
    """The hint for a variational run that does not learn; None for any other run."""
    name = elbo_name(names)
    return VI_FLAT.format(name=name) if name else None


def blown_note(names: Iterable[str]) -> str:
    """The lead of a variational run's divergence fix, else ""."""
    name = elbo_name(names)
    return VI_BLOWN.format(name=name) if name else ""
