"""upstream-compile-random-state: a compiled training step with dropout and captured random
state must run (no `IndexError: unordered_map::at: key not found`, no segfault).

Sources: https://github.com/ml-explore/mlx/issues/815 (mlx 0.6: a GPT training step compiled
with `state = [model.state, optimizer.state, mx.random.state]`, as the compile docs say for
dropout, raised "IndexError: unordered_map::at: key not found"; fixed in
mlx#816, mlx 0.7) and https://github.com/ml-explore/mlx/issues/2864 (a regression in mlx
0.30.0, 0.29.3 worked: a compiled GPT `mini_batch_step(x, y)` returning `loss, grads` raised
the same IndexError).
Diagnosis of mlx#2864 (fix: mlx#2871 "fix compile copying", in 0.30.1): `compile_dfs` deep
copies the traced graph and maps old arrays to new ones, but it did not map the *siblings* of
multi-output primitives (`mx.split`, `mx.divmod`, ...): a sibling of
an output, or the inputs of a sibling inside the graph, were looked up in the old-to-new map
and were not there. The fix's test returns one output of `mx.divmod` from a compiled function.

The guard is a small VAE trained the way the reports trained: dropout in the encoder, the
reparameterisation noise drawn from `mx.random`, the whole step compiled with
`partial(mx.compile, inputs=state, outputs=state)` and `state = [model.state,
optimizer.state, mx.random.state]`. The encoder's head is split into mean and log-variance
with `mx.split` (a multi-output primitive on every backend), and the step returns the latent
mean next to the loss, for logging. That output is the part not taken from the reports: a
GPT-like model with dropout, LayerNorm and an `mx.split` of qkv, its compiled step returning
`loss, grads` as in mlx#2864, trained fine on 0.30.0 on this CPU build (tried); returning one
output of a multi-output primitive reaches the path the fix changed. It checks that dropout
and the noise really change from step to step (the random state is threaded through the
compiled step, not frozen) and that the loss fell.

Measured here (CPU, 2 cores, 2026-11-22): mlx 0.32.4 passes (60 steps, loss 100.3 -> 9.5,
medians of the first and last 10%; ~0.6 s with a warm kernel cache). mlx 0.30.0: the first
call of the compiled step dies of SIGSEGV before any step (the old-to-new lookup there is
`find(...)->second` on a missing key: a segfault on this CPU build instead of the report's
IndexError): `crash:SIGSEGV`. Passes on 0.27.1, 0.28.0, 0.29.3, 0.30.1, 0.31.1, 0.31.2 and
0.32.0 to 0.32.4. Without the returned `mx.split` output (the step returning only the loss,
or the mean taken from inside the loss) 0.30.0 trained fine: this guard is narrower than
"dropout in a compiled step", it pins the mechanism the fix names.
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SCENARIO = {
    "id": "upstream-compile-random-state",
    "title": "mlx#815/#2864: compiled step with dropout and mx.random.state as state crashed",
    "source": ["https://github.com/ml-explore/mlx/issues/815",
               "https://github.com/ml-explore/mlx/issues/2864"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    # the 0.30.0 regression (mlx#2864), fixed in 0.30.1; 0.29.3 and earlier worked
    "expected_before_mlx": {"0.30.1": {"guard": "crash"}, "0.30.0": {"guard": "pass"}},
    "budget_s": 60,
}

FEATURES, LATENT, HIDDEN, SAMPLES, BATCH, STEPS, LR = 32, 4, 64, 512, 32, 60, 3e-3
MIN_DROP = 0.3


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(FEATURES, HIDDEN)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(HIDDEN, 2 * LATENT)
        self.dec1 = nn.Linear(LATENT, HIDDEN)
        self.dec2 = nn.Linear(HIDDEN, FEATURES)

    def encode(self, x: mx.array) -> list[mx.array]:
        """(mean, log-variance) of q(z|x), split from one head: a multi-output primitive."""
        return mx.split(self.head(self.drop(nn.relu(self.enc(x)))), 2, axis=-1)

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        mu, logvar = self.encode(x)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)  # random state
        return self.dec2(nn.relu(self.dec1(z))), mu, logvar


def elbo_loss(model: VAE, x: mx.array) -> mx.array:
    recon, mu, logvar = model(x)
    rec = mx.sum(mx.square(recon - x), axis=-1).mean()
    kl = -0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=-1).mean()
    return rec + 0.1 * kl


def dataset() -> mx.array:
    """Points near a 4-dimensional subspace of R^32."""
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((LATENT, FEATURES)).astype(np.float32)
    codes = rng.standard_normal((SAMPLES, LATENT)).astype(np.float32)
    noise = 0.05 * rng.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
    return mx.array(codes @ basis + noise)


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    mx.random.seed(0)
    data = dataset()
    model = VAE()
    mx.eval(model.parameters())
    model.train()
    optimizer = optim.Adam(learning_rate=LR)
    state = [model.state, optimizer.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x: mx.array) -> tuple[mx.array, mx.array]:
        loss, grads = nn.value_and_grad(model, elbo_loss)(model, x)
        optimizer.update(model, grads)
        mu, _ = model.encode(x)  # posterior means after the update, logged
        return loss, mu  # an output that is one output of a multi-output primitive

    rng = np.random.default_rng(1)
    fixed = data[:BATCH]
    repeats = []  # the same batch at two steps: dropout/noise must differ
    probe.reset_clock()
    for i in range(STEPS):
        x = fixed if i in (0, 1) else data[mx.array(rng.integers(0, SAMPLES, BATCH))]
        loss, mu = step(x)
        mx.eval(state, loss, mu)
        if i in (0, 1):
            repeats.append(loss.item())
        probe.step(loss=loss.item(), mu_abs=mx.abs(mu).mean().item())
    probe.check("random state threads through the compiled step", repeats[0] != repeats[1],
                loss_step1=repeats[0], loss_step2=repeats[1])
    model.eval()
    first, last = repeats[0], elbo_loss(model, data).item()
    probe.check("loss fell by a clear margin", (first - last) / first >= MIN_DROP,
                loss_first=first, loss_after_eval_mode=last, min_drop=MIN_DROP)
