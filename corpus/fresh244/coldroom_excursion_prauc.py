"""Pharmacy cold-room logger: will the room leave 2-8 C in the next 24 h?

Rare event (about 4% of logger-days). Small SiLU MLP, weighted BCE, AdamW with a
linear warm-up from 0 and a hand-written reduce-on-plateau on validation average
precision. Every epoch writes OpenMetrics-style text lines.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

FEATURES = 9


def make_split(rng, n):
    door_opens = rng.poisson(6.0, n)
    compressor_duty = rng.beta(4, 3, n)
    ambient = rng.normal(24.0, 4.0, n)
    defrost_late = rng.binomial(1, 0.15, n)
    seal_age = rng.uniform(0, 8, n)
    load_frac = rng.uniform(0.2, 1.0, n)
    mains_dips = rng.poisson(0.4, n)
    set_point = rng.normal(5.0, 0.4, n)
    noise_col = rng.normal(0, 1, n)
    z = (-8.6 + 0.25 * door_opens + 3.2 * (compressor_duty - 0.57) ** 2 * 10
         + 0.12 * (ambient - 24.0) + 1.3 * defrost_late + 0.22 * seal_age
         + 0.9 * mains_dips + 0.8 * np.abs(set_point - 5.0) * load_frac)
    p = 1 / (1 + np.exp(-z))
    y = rng.binomial(1, p).astype(np.float32)
    x = np.stack([door_opens, compressor_duty, ambient, defrost_late, seal_age,
                  load_frac, mains_dips, set_point, noise_col], 1).astype(np.float32)
    return x, y


def average_precision(scores, labels):
    order = np.argsort(-scores, kind="stable")
    lab = labels[order]
    tp = np.cumsum(lab)
    precision = tp / np.arange(1, len(lab) + 1)
    return float((precision * lab).sum() / max(lab.sum(), 1))


class ExcursionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(FEATURES, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def emit(name, value, **labels):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    print(f"coldroom_{name}{{{lab}}} {value:.5f}")


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = make_split(rng, 6000)
    xva, yva = make_split(rng, 3000)
    xte, yte = make_split(rng, 3000)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
    prev = float(ytr.mean())
    pos_weight = (1 - prev) / prev / 4.0

    print("# TYPE coldroom_prevalence gauge")
    emit("prevalence", prev, split="train")
    emit("prevalence", float(yva.mean()), split="valid")
    emit("ap_chance", float(yva.mean()), split="valid")

    mx.random.seed(3)
    model = ExcursionNet()
    base_lr = 3e-3
    warm = 60
    lr_scale = 1.0

    def lr_at(step):
        return base_lr * lr_scale * min(step / warm, 1.0)

    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        logits = m(xb)
        per = nn.losses.binary_cross_entropy(logits, yb, with_logits=True, reduction="none")
        w = 1.0 + (pos_weight - 1.0) * yb
        return (per * w).sum() / w.sum()

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva = mx.array(xva)

    # logistic regression on the same features as a reference model
    w_lr = np.zeros(FEATURES, np.float32)
    b_lr = math.log(prev / (1 - prev))
    for _ in range(400):
        p = 1 / (1 + np.exp(-(xtr @ w_lr + b_lr)))
        g = p - ytr
        w_lr -= 0.5 * (xtr.T @ g) / len(ytr)
        b_lr -= 0.5 * g.mean()
    ref_ap = average_precision(xva @ w_lr + b_lr, yva)
    emit("ap_reference", ref_ap, split="valid", model="logistic")

    best_ap, bad, patience = -1.0, 0, 2
    best_params = None
    step = 0
    t0 = time.perf_counter()
    bs = 250
    for epoch in range(1, 19):
        perm = rng.permutation(len(xtr))
        tot, cnt = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = mx.array(perm[i:i + bs])
            opt.learning_rate = lr_at(step)
            loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
            step += 1

        scores = np.array(model(Xva))
        ap = average_precision(scores, yva)
        acc = float(((scores > 0) == (yva > 0.5)).mean())
        vloss = nn.losses.binary_cross_entropy(mx.array(scores), mx.array(yva), with_logits=True).item()
        print(f"# epoch {epoch} step {step} lr {opt.learning_rate.item():.2e} t={time.perf_counter() - t0:.1f}s")
        emit("train_weighted_bce_bits", tot / cnt / math.log(2), epoch=epoch)
        emit("valid_bce_bits", vloss / math.log(2), epoch=epoch)
        emit("valid_accuracy", acc, epoch=epoch)
        emit("valid_average_precision", ap, epoch=epoch)
        if ap > best_ap + 1e-3:
            best_ap, bad = ap, 0
            best_params = [(k, mx.array(v)) for k, v in _flat(model.parameters())]
        else:
            bad += 1
            if bad >= patience:
                lr_scale *= 0.5
                bad = 0
                print(f"# plateau: lr scale now {lr_scale:g}")

    model.load_weights(best_params)
    te_scores = np.array(model(mx.array(xte)))
    print("# TYPE coldroom_test summary")
    emit("test_average_precision", average_precision(te_scores, yte), model="mlp_best")
    emit("test_average_precision", average_precision(xte @ w_lr + b_lr, yte), model="logistic")
    emit("test_ap_chance", float(yte.mean()))
    print("# EOF")


def _flat(tree, stem=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{stem}{k}.")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _flat(v, f"{stem}{i}.")
    else:
        yield stem[:-1], tree


if __name__ == "__main__":
    main()
