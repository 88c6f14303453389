# 20 m band: will a logged contact attempt be completed?  Binary classifier on
# synthetic propagation-log features, evaluated each epoch in eval mode, with a
# hand-written reduce-on-plateau learning rate, early stopping that restores the
# best weights, and metrics reported next to two baselines.  Output is written
# as ADIF-style records (<FIELD:len>value ... <EOR>).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def make_logs(n, rng):
    sfi = rng.uniform(65, 210, n)                 # solar flux index
    kidx = rng.integers(0, 8, n).astype(float)    # planetary K index
    hour = rng.uniform(0, 24, n)                  # local hour at path midpoint
    day = rng.uniform(0, 365, n)
    path_km = rng.uniform(300, 12000, n)
    gain = rng.uniform(-2, 12, n)                 # antenna gain dBi
    watts = np.exp(rng.uniform(np.log(5), np.log(1000), n))
    daylight = np.cos(2 * np.pi * (hour - 13) / 24)
    season = np.cos(2 * np.pi * (day - 172) / 365)
    muf_margin = 0.018 * (sfi - 110) + 1.1 * daylight - 0.25 * season * daylight
    logit = (1.3 * np.tanh(muf_margin) - 0.45 * np.maximum(kidx - 3, 0)
             - 0.00018 * path_km + 0.09 * gain + 0.35 * np.log10(watts) + 0.2)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    x = np.stack([(sfi - 135) / 42, (kidx - 3.5) / 2.3,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  np.sin(2 * np.pi * day / 365), np.cos(2 * np.pi * day / 365),
                  (path_km - 6000) / 3400, (gain - 5) / 4, (np.log10(watts) - 1.85) / 0.6],
                 axis=1).astype(np.float32)
    return x, y, p


class ContactNet(nn.Module):
    def __init__(self, d_in=9, width=64, p_drop=0.2):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.hid = nn.Linear(width, width)
        self.drop = nn.Dropout(p_drop)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.norm(self.inp(x))))
        h = self.drop(nn.gelu(self.hid(h)))
        return self.head(h).squeeze(-1)


def metrics(logits, y):
    """bits per attempt, Brier score, ROC AUC (rank statistic) from arrays."""
    p = mx.sigmoid(logits)
    bits = nn.losses.binary_cross_entropy(logits, y, reduction="mean") / math.log(2)
    brier = mx.mean((p - y) ** 2)
    ranks = mx.argsort(mx.argsort(logits)).astype(mx.float32) + 1
    n_pos = mx.sum(y)
    n_neg = y.size - n_pos
    auc = (mx.sum(ranks * y) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    mx.eval(bits, brier, auc)
    return bits.item(), brier.item(), auc.item()


def adif(**fields):
    return " ".join(f"<{k.upper()}:{len(str(v))}>{v}" for k, v in fields.items()) + " <EOR>"


def main():
    t0 = time.time()
    rng = np.random.default_rng(20)
    mx.random.seed(20)
    xtr, ytr, _ = make_logs(6000, rng)
    xva, yva, pva = make_logs(1500, rng)
    xte, yte, pte = make_logs(1500, rng)
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)
    Xte, Yte = mx.array(xte), mx.array(yte)

    print("<ADIF_VER:5>3.1.4 <PROGRAMID:15>skywave-logbook <EOH>")
    # baseline 1: always predict the training completion rate
    rate = float(ytr.mean())
    base_logit = mx.full((1500,), math.log(rate / (1 - rate)))
    b_bits, b_brier, _ = metrics(base_logit, Yva)
    # baseline 2: logistic regression on the solar flux index alone (full batch, silent)
    w = mx.zeros((2,))
    sfi_va = mx.stack([Xva[:, 0], mx.ones((1500,))], axis=1)
    sfi_tr = mx.stack([Xtr[:, 0], mx.ones((6000,))], axis=1)

    def lr_loss(w):
        return nn.losses.binary_cross_entropy(sfi_tr @ w, Ytr, reduction="mean")

    g_fn = mx.grad(lr_loss)
    for _ in range(400):
        w = w - 0.5 * g_fn(w)
        mx.eval(w)
    s_bits, s_brier, s_auc = metrics(sfi_va @ w, Yva)
    oracle_bits = float(-(yva * np.log2(pva) + (1 - yva) * np.log2(1 - pva)).mean())
    print(adif(CALL="BASELINE", NAME="rate-only", VAL_BITS=f"{b_bits:.4f}", VAL_BRIER=f"{b_brier:.4f}",
               VAL_AUC="0.500"))
    print(adif(CALL="BASELINE", NAME="sfi-logistic", VAL_BITS=f"{s_bits:.4f}", VAL_BRIER=f"{s_brier:.4f}",
               VAL_AUC=f"{s_auc:.3f}"))
    print(adif(CALL="BASELINE", NAME="true-probability", VAL_BITS=f"{oracle_bits:.4f}"))

    model = ContactNet()
    mx.eval(model.parameters())
    peak_lr, warmup = 3e-3, 200
    opt = optim.Adam(learning_rate=0.0)
    loss_and_grad = nn.value_and_grad(
        model, lambda m, x, y: nn.losses.binary_cross_entropy(m(x), y, reduction="mean"))

    base_lr = peak_lr
    best_bits, best_epoch, best_weights = float("inf"), 0, None
    since_best, since_cut, patience, cut_patience = 0, 0, 6, 2
    step, batch = 0, 128
    for epoch in range(1, 61):
        model.train()
        perm = mx.array(rng.permutation(6000))
        run, nb = 0.0, 0
        for i in range(0, 6000, batch):
            idx = perm[i:i + batch]
            opt.learning_rate = base_lr * min(1.0, step / warmup)  # step 0 uses lr 0
            loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
            step += 1
        model.eval()
        v_bits, v_brier, v_auc = metrics(model(Xva), Yva)
        note = ""
        if v_bits < best_bits - 1e-4:
            best_bits, best_epoch, since_best, since_cut = v_bits, epoch, 0, 0
            best_weights = dict(tree_flatten(model.parameters()))
            note = "best"
        else:
            since_best += 1
            since_cut += 1
            if since_cut >= cut_patience and base_lr > 2e-5:
                base_lr *= 0.3
                since_cut = 0
                note = "lr-cut"
        print(adif(EPOCH=f"{epoch:02d}", STEP=step, LR=f"{float(opt.learning_rate.item()):.2e}",
                   TRAIN_BITS=f"{run / nb / math.log(2):.4f}", VAL_BITS=f"{v_bits:.4f}",
                   VAL_BRIER=f"{v_brier:.4f}", VAL_AUC=f"{v_auc:.3f}", NOTE=note or "-"))
        if since_best >= patience:
            print(adif(CALL="EARLYSTOP", EPOCH=f"{epoch:02d}", BEST_EPOCH=f"{best_epoch:02d}"))
            break

    model.load_weights(list(best_weights.items()))
    model.eval()
    r_bits, _, _ = metrics(model(Xva), Yva)
    t_bits, t_brier, t_auc = metrics(model(Xte), Yte)
    te_rate = mx.full((1500,), math.log(rate / (1 - rate)))
    tb_bits, tb_brier, _ = metrics(te_rate, Yte)
    print(adif(CALL="RESTORED", BEST_EPOCH=f"{best_epoch:02d}", VAL_BITS=f"{r_bits:.4f}"))
    print(adif(CALL="TEST", TEST_BITS=f"{t_bits:.4f}", TEST_BRIER=f"{t_brier:.4f}", TEST_AUC=f"{t_auc:.3f}",
               RATE_ONLY_BITS=f"{tb_bits:.4f}", RATE_ONLY_BRIER=f"{tb_brier:.4f}",
               SECS=f"{time.time() - t0:.1f}"))


if __name__ == "__main__":
    main()
