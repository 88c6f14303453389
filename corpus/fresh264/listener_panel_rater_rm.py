# Podcast-summary reward model from a listener panel.
# Each verdict comes from one of 60 panel members; members differ in how
# reliably they track summary quality (careful, sloppy, and a few who
# systematically prefer the worse summary). The reward model learns a scalar
# score per summary and, jointly, one signed reliability per panel member:
#     P(a beats b | member m) = sigmoid(s_m * (r(a) - r(b)))
# Two sessions: the first trains 6 epochs and writes a checkpoint, the second
# rebuilds everything from disk and continues to epoch 14.
# Reports are shell-sourceable `export` lines.
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_FEAT = 9
N_MEMBERS = 60
N_SUMMARIES = 1500
N_PAIRS = 24000
BATCH = 256
WARMUP = 150
DROP_AT = 800
EPOCHS_FIRST = 6
EPOCHS_TOTAL = 14

rng = np.random.default_rng(264)

# ---- synthetic summaries -------------------------------------------------
# coverage, faithfulness errors, length (log words), readability, quote use,
# speaker attribution, timestamp refs, jargon, filler ratio
X = rng.normal(size=(N_SUMMARIES, N_FEAT)).astype(np.float32)


def true_quality(x):
    return (1.2 * x[:, 0] - 1.0 * np.maximum(x[:, 1], 0) * 1.5
            - 0.6 * (x[:, 2] - 0.3) ** 2 + 0.5 * np.tanh(2 * x[:, 3])
            + 0.4 * x[:, 4] * x[:, 5] - 0.3 * x[:, 8])


Q = true_quality(X).astype(np.float32)

# panel reliabilities: 40 careful, 14 sloppy, 6 contrarian
s_true = np.concatenate([rng.uniform(1.6, 2.4, 40), rng.uniform(0.2, 0.6, 14),
                         rng.uniform(-1.2, -0.6, 6)]).astype(np.float32)
rng.shuffle(s_true)

a = rng.integers(0, N_SUMMARIES, N_PAIRS)
b = rng.integers(0, N_SUMMARIES, N_PAIRS)
keep = a != b
a, b = a[keep], b[keep]
m = rng.integers(0, N_MEMBERS, a.shape[0])
p_a = 1.0 / (1.0 + np.exp(-s_true[m] * (Q[a] - Q[b])))
y = (rng.random(a.shape[0]) < p_a).astype(np.float32)

n = a.shape[0]
perm = rng.permutation(n)
n_val = 3000
val_idx, tr_idx = perm[:n_val], perm[n_val:]

# clean held-out check: ordering of summary pairs by true quality (no panel)
ca = rng.integers(0, N_SUMMARIES, 4000)
cb = rng.integers(0, N_SUMMARIES, 4000)
ck = (ca != cb) & (np.abs(Q[ca] - Q[cb]) > 1e-6)
ca, cb = ca[ck], cb[ck]

X_mx = mx.array(X)


class PanelRM(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1, bias=False)
        self.member = nn.Embedding(N_MEMBERS, 1)
        self.member.weight = mx.ones((N_MEMBERS, 1))

    def score(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)

    def __call__(self, ia, ib, im):
        r = self.score(X_mx[mx.concatenate([ia, ib])])
        k = ia.shape[0]
        gap = r[:k] - r[k:]
        s = self.member(im).squeeze(-1)
        return s * gap, r


def loss_fn(model, ia, ib, im, yy):
    logit, r = model(ia, ib, im)
    nll = nn.losses.binary_cross_entropy(logit, yy, with_logits=True, reduction="mean")
    return nll + 1e-3 * mx.mean(r * r)


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARMUP),
         optim.step_decay(3e-3, 0.3, DROP_AT - WARMUP)], [WARMUP])
    return optim.Adam(learning_rate=sched)


def evaluate(model):
    ia = mx.array(a[val_idx]); ib = mx.array(b[val_idx]); im = mx.array(m[val_idx])
    logit, _ = model(ia, ib, im)
    yy = mx.array(y[val_idx])
    ll = -nn.losses.binary_cross_entropy(logit, yy, with_logits=True, reduction="mean")
    agree = mx.mean(((logit > 0).astype(mx.float32) == yy).astype(mx.float32))
    r = model.score(X_mx)
    mx.eval(ll, agree, r)
    rn = np.array(r)
    clean = float(np.mean((rn[ca] > rn[cb]) == (Q[ca] > Q[cb])))
    s_hat = np.array(model.member.weight).ravel()
    sign_ok = float(np.mean(np.sign(s_hat) == np.sign(s_true)))
    corr = float(np.corrcoef(s_hat, s_true)[0, 1]) if s_hat.std() > 0 else 0.0
    return float(ll), 100 * float(agree), 100 * clean, 100 * sign_ok, corr


def report(tag, **kv):
    parts = [f"RM_TAG={tag}"] + [f"RM_{k.upper()}={v}" for k, v in kv.items()]
    print("export " + " ".join(parts), flush=True)


def run_epochs(model, opt, start_epoch, end_epoch, step, np_rng, session):
    lg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for ep in range(start_epoch, end_epoch + 1):
        order = np_rng.permutation(tr_idx)
        tot, cnt = 0.0, 0
        for i in range(0, len(order) - BATCH + 1, BATCH):
            bi = order[i:i + BATCH]
            lr_now = float(opt.learning_rate) if step > 0 else 0.0
            loss, g = lg(model, mx.array(a[bi]), mx.array(b[bi]), mx.array(m[bi]),
                         mx.array(y[bi]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            if step == 0:
                flat = tree_flatten(g)
                nz = sum(1 for _, v in flat if float(mx.abs(v).max()) > 0)
                report("gradcheck", leaves=len(flat), nonzero_leaves=nz, lr_first_update=lr_now)
            tot += float(loss); cnt += 1
            step += 1
        ll, agree, clean, sign_ok, corr = evaluate(model)
        report("epoch", session=session, epoch=ep, step=step,
               lr=f"{float(opt.learning_rate):.2e}", train_objective=f"{tot / cnt:.4f}",
               val_loglik_per_pair=f"{ll:.4f}", val_agree_pct=f"{agree:.1f}",
               clean_order_pct=f"{clean:.1f}", member_sign_ok_pct=f"{sign_ok:.1f}",
               member_corr=f"{corr:.3f}", secs=f"{time.time() - t0:.1f}")
    return step


# ---- baselines ------------------------------------------------------------
p_or = 1.0 / (1.0 + np.exp(-s_true[m[val_idx]].astype(np.float64)
                          * (Q[a[val_idx]] - Q[b[val_idx]])))
p_or = np.clip(p_or, 1e-12, 1 - 1e-12)
yv = y[val_idx]
oracle_ll = float(np.mean(yv * np.log(p_or) + (1 - yv) * np.log(1 - p_or)))
oracle_agree = 100 * float(np.mean((p_or > 0.5) == (yv > 0.5)))
report("setup", pairs_train=len(tr_idx), pairs_val=n_val, members=N_MEMBERS,
       coin_loglik=f"{np.log(0.5):.4f}", oracle_loglik=f"{oracle_ll:.4f}",
       oracle_agree_pct=f"{oracle_agree:.1f}")

mx.random.seed(7)
model = PanelRM()
opt = make_opt()
ll0, ag0, cl0, so0, _ = evaluate(model)
report("untrained", val_loglik_per_pair=f"{ll0:.4f}", val_agree_pct=f"{ag0:.1f}",
       clean_order_pct=f"{cl0:.1f}")

np_rng = np.random.default_rng(11)
step = run_epochs(model, opt, 1, EPOCHS_FIRST, 0, np_rng, 1)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": EPOCHS_FIRST, "step": step,
               "rng": np_rng.bit_generator.state}, f)
ll_saved = evaluate(model)[0]
report("checkpoint", dir=ckpt, epoch=EPOCHS_FIRST, step=step)
del model, opt

# ---- session 2: rebuild from disk ----------------------------------------
mx.random.seed(999)
model = PanelRM()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
np_rng = np.random.default_rng()
np_rng.bit_generator.state = meta["rng"]
ll_loaded = evaluate(model)[0]
report("resumed", epoch=meta["epoch"], step=int(opt.state["step"]),
       loglik_saved=f"{ll_saved:.5f}", loglik_loaded=f"{ll_loaded:.5f}")
step = run_epochs(model, opt, meta["epoch"] + 1, EPOCHS_TOTAL, meta["step"], np_rng, 2)

ll, agree, clean, sign_ok, corr = evaluate(model)
report("done", val_loglik_per_pair=f"{ll:.4f}", oracle_loglik=f"{oracle_ll:.4f}",
       val_agree_pct=f"{agree:.1f}", oracle_agree_pct=f"{oracle_agree:.1f}",
       clean_order_pct=f"{clean:.1f}", member_corr=f"{corr:.3f}")
shutil.rmtree(ckpt)
