"""Click-through model on raw count features (impressions, dwell seconds, ...)."""
from functools import partial

import mlx.core as core
import mlx.nn as nn
import mlx.optimizers as optim


def click_log(n, n_feat, seed=3):
    core.random.seed(seed)
    counts = core.random.randint(0, 400, (n, n_feat)).astype(core.float32)
    w_true = core.random.normal((n_feat,)) * 0.02
    logit = counts @ w_true - 1.0
    clicked = (core.random.uniform(shape=(n,)) < core.sigmoid(logit)).astype(core.float32)
    return counts, clicked


def batches(X, y, batch_size, epochs):
    n = X.shape[0]
    for ep in range(epochs):
        order = core.random.permutation(n)
        for i in range(0, n, batch_size):
            sel = order[i:i + batch_size]
            yield ep, X[sel], y[sel]


class CTRModel(nn.Module):
    def __init__(self, n_feat):
        super().__init__()
        self.linear = nn.Linear(n_feat, 1)

    def __call__(self, x):
        return self.linear(x).squeeze(-1)


def weighted_bce(model, x, y, pos_weight):
    logits = model(x)
    log_p = -core.logaddexp(0.0, -logits)
    log_not_p = -core.logaddexp(0.0, logits)
    per_ex = -(pos_weight * y * log_p + (1.0 - y) * log_not_p)
    return per_ex.mean()


def main():
    X, y = click_log(4000, 12)
    ctr = CTRModel(X.shape[1])
    opt = optim.SGD(learning_rate=1e-4, momentum=0.9)
    pos_w = float((1 - y).sum().item() / max(y.sum().item(), 1.0))
    objective = partial(weighted_bce, pos_weight=pos_w)
    step_fn = nn.value_and_grad(ctr, objective)

    history = []
    for ep, xb, yb in batches(X, y, 200, epochs=5):
        loss, grads = step_fn(ctr, xb, yb)
        opt.update(ctr, grads)
        core.eval(ctr.parameters(), opt.state, loss)
        history.append(loss.item())
    bad = [i for i, v in enumerate(history) if v != v or v in (float("inf"), float("-inf"))]
    print(f"first non-finite step: {bad[0] if bad else None} of {len(history)}; step0 loss {history[0]:.4f}")
    for ep in range(5):
        chunk = history[ep * 20:(ep + 1) * 20]
        print(f"epoch {ep} mean loss {sum(chunk) / len(chunk):.4f}")
    acc = ((ctr(X) > 0) == (y > 0.5)).mean().item()
    print(f"train acc {acc:.3f}  weight finite: {core.isfinite(ctr.linear.weight).all().item()}")


if __name__ == "__main__":
    main()
