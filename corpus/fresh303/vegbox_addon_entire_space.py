"""Veg-box add-on suggestions: impression -> click -> buy, trained over the
entire impression space (ESMM): pCTCVR = pCTR * pCVR, so the conversion head
is learned without ever being fitted on the clicked subset alone."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(303)
N_HOUSE, N_ADDON, LAT = 300, 80, 4

house_taste = rng.normal(0, 1, (N_HOUSE, LAT)).astype(np.float32)
addon_look = rng.normal(0, 1, (N_ADDON, LAT)).astype(np.float32)
addon_fit = rng.normal(0, 1, (N_ADDON, LAT)).astype(np.float32)
addon_eye = rng.normal(0, 0.6, N_ADDON).astype(np.float32)   # eye-catching photo
addon_price = rng.uniform(-1, 1, N_ADDON).astype(np.float32)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


n_imp = 60000
hh = rng.integers(0, N_HOUSE, n_imp)
ad = rng.integers(0, N_ADDON, n_imp)
p_click = sigmoid(0.8 * np.sum(house_taste[hh] * addon_look[ad], 1) + addon_eye[ad] - 1.6)
p_buy = sigmoid(0.9 * np.sum(house_taste[hh] * addon_fit[ad], 1) - 0.9 * addon_price[ad] - 0.3)
click = (rng.random(n_imp) < p_click).astype(np.float32)
buy = click * (rng.random(n_imp) < p_buy).astype(np.float32)

n_tr = 50000
tr, te = slice(0, n_tr), slice(n_tr, n_imp)


def bce_np(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


floor_click = bce_np(p_click[te], click[te])
floor_ctcvr = bce_np((p_click * p_buy)[te], buy[te])


def auc(score, y):
    y = np.asarray(y)
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    npos = y.sum()
    nneg = len(y) - npos
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


# popularity baseline: train click-through and buy-through per add-on
pop_ctr = np.array([click[tr][ad[tr] == a].mean() for a in range(N_ADDON)])
pop_ctcvr = np.array([buy[tr][ad[tr] == a].mean() for a in range(N_ADDON)])
clk_te = click[te] == 1
base = {
    "pop_auc_click": auc(pop_ctr[ad[te]], click[te]),
    "pop_auc_buy_given_click": auc((pop_ctcvr / np.maximum(pop_ctr, 1e-6))[ad[te]][clk_te], buy[te][clk_te]),
    "pop_auc_buy": auc(pop_ctcvr[ad[te]], buy[te]),
}


class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 48), nn.ReLU(), nn.Linear(48, 24), nn.ReLU(), nn.Linear(24, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


class EntireSpace(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.house = nn.Embedding(N_HOUSE, dim)
        self.addon = nn.Embedding(N_ADDON, dim)
        self.ctr = Tower(3 * dim)
        self.cvr = Tower(3 * dim)

    def __call__(self, h, a):
        eh, ea = self.house(h), self.addon(a)
        x = mx.concatenate([eh, ea, eh * ea], axis=-1)
        return self.ctr(x), self.cvr(x)


def loss_fn(model, h, a, yc, yb):
    lc, lv = model(h, a)
    p_ctr = mx.sigmoid(lc)
    p_ctcvr = p_ctr * mx.sigmoid(lv)
    p_ctcvr = mx.clip(p_ctcvr, 1e-7, 1 - 1e-7)
    l_click = nn.losses.binary_cross_entropy(lc, yc, with_logits=True, reduction="mean")
    l_ctcvr = -mx.mean(yb * mx.log(p_ctcvr) + (1 - yb) * mx.log(1 - p_ctcvr))
    return l_click + l_ctcvr, (l_click, l_ctcvr)


mx.random.seed(303)
model = EntireSpace()
mx.eval(model.parameters())

STEPS, BATCH, WARM = 750, 512, 120
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.05)
vg = nn.value_and_grad(model, lambda m, *b: loss_fn(m, *b)[0])
aux = lambda m, *b: loss_fn(m, *b)[1]

H_te, A_te = mx.array(hh[te]), mx.array(ad[te])


def evaluate():
    lc, lv = model(H_te, A_te)
    p_ctr = np.array(mx.sigmoid(lc))
    p_cvr = np.array(mx.sigmoid(lv))
    return {
        "test_click_bce": round(bce_np(p_ctr, click[te]), 4),
        "test_ctcvr_bce": round(bce_np(p_ctr * p_cvr, buy[te]), 4),
        "auc_click": round(auc(p_ctr, click[te]), 4),
        "auc_buy_given_click": round(auc(p_cvr[clk_te], buy[te][clk_te]), 4),
        "auc_buy": round(auc(p_ctr * p_cvr, buy[te]), 4),
    }


def logfmt(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


logfmt(event="data", impressions=n_imp, train=n_tr, ctr=round(float(click.mean()), 4),
       buy_per_click=round(float(buy.sum() / click.sum()), 4), floor_click=round(floor_click, 4),
       floor_ctcvr=round(floor_ctcvr, 4), **{k: round(v, 4) for k, v in base.items()})
logfmt(event="untrained", **evaluate())

order = rng.permutation(n_tr)
cursor = 0
win = []
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    if cursor + BATCH > n_tr:
        order = rng.permutation(n_tr)
        cursor = 0
    idx = order[cursor:cursor + BATCH]
    cursor += BATCH
    b = (mx.array(hh[idx]), mx.array(ad[idx]), mx.array(click[idx]), mx.array(buy[idx]))
    loss, grads = vg(model, *b)
    lr_now = float(sched(step - 1))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(float(loss))
    if step == 1 or step % 150 == 0:
        lc_b, lcv_b = aux(model, *b)
        logfmt(event="report", step=step, lr=f"{lr_now:.2e}", train_total=round(float(np.mean(win)), 4),
               batch_click=round(float(lc_b), 4), batch_ctcvr=round(float(lcv_b), 4),
               **evaluate(), secs=round(time.perf_counter() - t0, 1))
        win = []

final = evaluate()
logfmt(event="done", steps=STEPS, gap_click=round(final["test_click_bce"] - floor_click, 4),
       gap_ctcvr=round(final["test_ctcvr_bce"] - floor_ctcvr, 4),
       lift_auc_buy=round(final["auc_buy"] - base["pop_auc_buy"], 4))
