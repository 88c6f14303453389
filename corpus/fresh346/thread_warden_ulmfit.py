# Forum moderation: flag comments that aim an insult at another user.
# Tiny transformer encoder, masked-token pretraining on unlabelled comments,
# then gradual unfreezing (head -> top layer -> all) with a per-stage warm-up.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

V, L = 120, 12
PAD, MASK, CLS, YOU = 0, 1, 2, 3
INSULT = np.arange(4, 14)          # ten insult words
FILLER = np.arange(14, V)


def make_comments(n, labelled=True):
    # filler words follow a loose word-to-word chain, so context is learnable
    x = rng.choice(FILLER, size=(n, L))
    for j in range(2, L):
        follow = rng.random(n) < 0.7
        nxt = FILLER[((x[:, j - 1] - FILLER[0]) * 7 + 3) % len(FILLER)]
        x[:, j] = np.where(follow, nxt, x[:, j])
    x[:, 0] = CLS
    y = np.zeros(n, dtype=np.int32)
    kind = rng.integers(0, 4, size=n)
    for i in range(n):
        p = rng.integers(1, L - 1)
        if kind[i] == 0:      # aimed insult: "you <insult>"
            x[i, p], x[i, p + 1] = YOU, rng.choice(INSULT)
            y[i] = 1
        elif kind[i] == 1:    # insult word without a target (quote, self-talk)
            x[i, p] = rng.choice(INSULT)
            q = rng.integers(1, L)
            if q != p and q != p + 1:
                x[i, q] = YOU if rng.random() < 0.5 else x[i, q]
            if x[i, p - 1] == YOU:
                x[i, p - 1] = rng.choice(FILLER)
        elif kind[i] == 2:    # "you" without an insult
            x[i, p] = YOU
    noise = rng.random(n) < 0.03  # moderator disagreement
    y[noise] = 1 - y[noise]
    return x.astype(np.int32), y


class Encoder(nn.Module):
    def __init__(self, dims=32, layers=2, heads=2):
        super().__init__()
        self.tok = nn.Embedding(V, dims)
        self.pos = nn.Embedding(L, dims)
        self.body = nn.TransformerEncoder(layers, dims, heads, mlp_dims=64, norm_first=True)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        return self.body(h, None)


class MLM(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        return self.out(self.enc(x))


class Moderator(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Sequential(nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 2))

    def __call__(self, x):
        return self.head(self.enc(x)[:, 0])


def yaml_doc(d):
    print("---")
    for k, v in d.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        print(f"{k}: {v}")


def mcc(pred, y):
    tp = float(((pred == 1) & (y == 1)).sum()); tn = float(((pred == 0) & (y == 0)).sum())
    fp = float(((pred == 1) & (y == 0)).sum()); fn = float(((pred == 0) & (y == 1)).sum())
    den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if den == 0 else (tp * tn - fp * fn) / den


t0 = time.perf_counter()
unl, _ = make_comments(6000)
xtr, ytr = make_comments(1200)
xva, yva = make_comments(1000)

# Bag-of-words reference: logistic regression on token counts (numpy, closed loop)
def bow(x):
    c = np.zeros((len(x), V), dtype=np.float32)
    for i, row in enumerate(x):
        np.add.at(c[i], row, 1.0)
    return c
btr, bva = bow(xtr), bow(xva)
w = np.zeros(V, dtype=np.float32); b = 0.0
for _ in range(400):
    p = 1 / (1 + np.exp(-(btr @ w + b)))
    g = p - ytr
    w -= 0.5 * (btr.T @ g / len(g) + 1e-3 * w); b -= 0.5 * g.mean()
bow_pred = ((bva @ w + b) > 0).astype(int)
yaml_doc({"event": "data", "unlabelled": len(unl), "train": len(xtr), "valid": len(xva),
          "flag_rate_pct": 100 * ytr.mean(), "bow_valid_acc_pct": 100 * (bow_pred == yva).mean(),
          "bow_valid_mcc": mcc(bow_pred, yva)})

# ---- stage 0: masked-token pretraining
enc = Encoder()
mlm = MLM(enc)
opt = optim.Adam(learning_rate=2e-3)


def mlm_loss(m, x, tgt, sel):
    logits = m(x)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    return (ce * sel).sum() / mx.maximum(sel.sum(), 1)


mlm_step = nn.value_and_grad(mlm, mlm_loss)
for step in range(1, 401):
    idx = rng.integers(0, len(unl), size=32)
    x = unl[idx].copy()
    sel = (rng.random(x.shape) < 0.15) & (np.arange(L)[None, :] > 0)
    tgt = x.copy()
    x[sel] = MASK
    loss, g = mlm_step(mlm, mx.array(x), mx.array(tgt), mx.array(sel.astype(np.float32)))
    opt.update(mlm, g)
    mx.eval(mlm.parameters(), opt.state, loss)
    if step % 100 == 0:
        yaml_doc({"event": "pretrain", "step": step, "masked_ce_nats": loss.item(),
                  "uniform_ce_nats": math.log(V)})

# ---- gradual unfreezing fine-tune
model = Moderator(enc)


def cls_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def evaluate(m):
    logits = m(mx.array(xva))
    pred = np.array(mx.argmax(logits, axis=1))
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
    return ce, 100 * (pred == yva).mean(), mcc(pred, yva)


stages = [("head", 3e-3, 3), ("top_layer", 2e-3, 3), ("all", 2e-3, 8)]
BS = 32
steps_per_epoch = len(xtr) // BS
for name, peak, epochs in stages:
    model.freeze()
    model.head.unfreeze()
    if name in ("top_layer", "all"):
        model.enc.body.layers[-1].unfreeze()
    if name == "all":
        model.enc.unfreeze()
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    warm = steps_per_epoch
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, epochs * steps_per_epoch - warm, 1e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-2)
    step_fn = nn.value_and_grad(model, cls_loss)
    ce, acc, m_ = evaluate(model)
    yaml_doc({"event": "stage_start", "stage": name, "trainable_params": n_tr, "lr_first_step": 0.0,
              "valid_ce": ce, "valid_acc_pct": acc, "valid_mcc": m_})
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for k in range(steps_per_epoch):
            idx = perm[k * BS:(k + 1) * BS]
            loss, g = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        ce, acc, m_ = evaluate(model)
        yaml_doc({"event": "epoch", "stage": name, "epoch": ep, "train_ce": tot / steps_per_epoch,
                  "valid_ce": ce, "valid_acc_pct": acc, "valid_mcc": m_})

yaml_doc({"event": "done", "final_valid_acc_pct": acc, "final_valid_mcc": m_,
          "bow_valid_mcc": mcc(bow_pred, yva), "seconds": time.perf_counter() - t0})
