"""Home-brew club: guess the beer style (lager / pale ale / stout / wheat / sour)
from six hydrometer-and-lab readings with a softmax regression, trained by a
hand-written NATURAL-GRADIENT step (damped empirical Fisher from per-example
gradients via mx.vmap) and, from the same starting weights, by plain SGD for
comparison.  Reports are YAML documents separated by '---'.
"""
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

STYLES = ["lager", "pale_ale", "stout", "wheat", "sour"]
READINGS = ["abv", "ibu", "srm_colour", "og", "fg", "ph"]


def brew(rng, n):
    centres = np.array([
        # abv  ibu  srm   og     fg     ph
        [4.8, 20, 4, 1.048, 1.010, 4.3],
        [5.6, 40, 9, 1.055, 1.012, 4.2],
        [6.2, 38, 38, 1.062, 1.018, 4.4],
        [5.0, 14, 6, 1.050, 1.011, 4.1],
        [4.5, 8, 7, 1.045, 1.008, 3.3],
    ])
    spread = np.array([0.7, 9, 4, 0.006, 0.003, 0.2])
    y = rng.choice(5, size=n, p=[0.3, 0.25, 0.15, 0.15, 0.15])
    x = centres[y] + spread * rng.normal(size=(n, 6))
    return x.astype(np.float32), y.astype(np.int32)


def quadratic_features(x):
    """standardised readings plus all 21 pairwise products (incl. squares)"""
    i, j = np.triu_indices(x.shape[1])
    return np.concatenate([x, x[:, i] * x[:, j] / np.sqrt(2.0)], axis=1).astype(np.float32)


def init_params(key, d):
    k1, _ = mx.random.split(key)
    return {"W": 0.01 * mx.random.normal((d, 5), key=k1), "b": mx.zeros((5,))}


def logits(p, x):
    return x @ p["W"] + p["b"]


def example_nll(p, x, y):
    z = logits(p, x[None])[0]
    return mx.logsumexp(z) - z[y]


def batch_nll(p, x, y):
    z = logits(p, x)
    return (mx.logsumexp(z, axis=1) - mx.take_along_axis(z, y[:, None], axis=1)[:, 0]).mean()


per_example_grad = mx.vmap(mx.grad(example_nll), in_axes=(None, 0, 0))
batch_value_and_grad = mx.value_and_grad(batch_nll)


def flat(tree):
    return mx.concatenate([v.reshape(-1) for _, v in tree_flatten(tree)])


def unflat(vec, like):
    out, i = [], 0
    for k, v in tree_flatten(like):
        out.append((k, vec[i:i + v.size].reshape(v.shape)))
        i += v.size
    return tree_unflatten(out)


def natgrad_step(p, x, y, lr, damping):
    g_ex = per_example_grad(p, x, y)                     # {"W": (B,6,5), "b": (B,5)}
    G = mx.concatenate([g_ex["W"].reshape(x.shape[0], -1), g_ex["b"]], axis=1)  # (B, 140)
    g = G.mean(axis=0)
    F = G.T @ G / x.shape[0] + damping * mx.eye(G.shape[1])
    step = mx.linalg.solve(F, g[:, None], stream=mx.cpu)[:, 0]
    new = unflat(flat(p) - lr * step, p)
    return new, g


def sgd_step(p, x, y, lr):
    loss, g = batch_value_and_grad(p, x, y)
    return {k: p[k] - lr * g[k] for k in p}, loss


def evaluate(p, x, y):
    z = logits(p, x)
    nll = (mx.logsumexp(z, axis=1) - mx.take_along_axis(z, y[:, None], axis=1)[:, 0]).mean()
    err = (mx.argmax(z, axis=1) != y).astype(mx.float32).mean()
    return nll.item(), 100.0 * err.item()


def yaml_doc(**kv):
    print("---")
    for k, v in kv.items():
        if isinstance(v, float):
            print(f"{k}: {v:.5f}")
        elif isinstance(v, (list, tuple)):
            print(f"{k}: [{', '.join(str(e) for e in v)}]")
        else:
            print(f"{k}: {v}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(21)
    xtr, ytr = brew(rng, 40000)
    xva, yva = brew(rng, 5000)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = quadratic_features((xtr - mu) / sd), quadratic_features((xva - mu) / sd)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    prior = np.bincount(ytr, minlength=5) / len(ytr)
    yaml_doc(run="beer-style softmax regression", readings=READINGS, styles=STYLES,
             train=len(ytr), valid=len(yva), features=xtr.shape[1],
             prior_only_nll=float(-(np.log(prior[yva])).mean()),
             uniform_nll=math.log(5))

    start = init_params(mx.random.key(21), xtr.shape[1])
    mx.eval(start)
    g0 = batch_value_and_grad(start, Xtr[:256], Ytr[:256])[1]
    yaml_doc(check="first-step gradient leaves",
             leaves=[f"{k}:{float(mx.abs(v).max().item()):.3g}" for k, v in tree_flatten(g0)],
             all_nonzero=all(mx.any(v != 0).item() for _, v in tree_flatten(g0)))

    batch, epochs = 256, 12
    steps_per_epoch = len(ytr) // batch
    results = {}
    for method in ("natural_gradient", "sgd"):
        p = start
        nll, err = evaluate(p, Xva, Yva)
        yaml_doc(method=method, epoch=0, valid_nll=nll, valid_misclassified_pct=err)
        tic = time.time()
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(len(ytr))
            for i in range(steps_per_epoch):
                idx = mx.array(perm[i * batch:(i + 1) * batch])
                xb, yb = Xtr[idx], Ytr[idx]
                if method == "natural_gradient":
                    damping = max(0.02, 0.1 * 0.7 ** (epoch - 1))
                    nat_lr = 0.5 / epoch
                    p, _ = natgrad_step(p, xb, yb, lr=nat_lr, damping=damping)
                else:
                    p, _ = sgd_step(p, xb, yb, lr=0.1)
                mx.eval(p)
            if epoch in (1, 2, 4, 8, 12):
                nll, err = evaluate(p, Xva, Yva)
                tr_nll, _ = evaluate(p, Xtr, Ytr)
                extra = {"damping": damping, "lr": nat_lr} if method == "natural_gradient" else {}
                yaml_doc(method=method, epoch=epoch, train_nll=tr_nll, valid_nll=nll,
                         valid_misclassified_pct=err, **extra,
                         seconds=round(time.time() - tic, 2))
        results[method] = evaluate(p, Xva, Yva)

    yaml_doc(summary="final", natural_gradient_valid_nll=results["natural_gradient"][0],
             natural_gradient_misclassified_pct=results["natural_gradient"][1],
             sgd_valid_nll=results["sgd"][0], sgd_misclassified_pct=results["sgd"][1],
             total_seconds=round(time.time() - t0, 2))


if __name__ == "__main__":
    main()
