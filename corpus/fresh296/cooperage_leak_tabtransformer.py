"""Cooperage pressure-test log: will a finished barrel weep at the 0.5 bar test?

TabTransformer-style model: each categorical column becomes a token (value
embedding + column embedding), two Transformer encoder layers mix the tokens,
the flattened tokens are joined with layer-normalised numeric columns
(median-imputed, plus a missing flag) and a small MLP gives the leak logit.
Leaks are rare, so positive rows get a class weight in the loss.
Training stops half way, writes a checkpoint (weights + optimizer state),
and a fresh process-style rebuild resumes from it.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
N = 8000
CARD = {"cooper": 12, "forest": 6, "grade": 4, "hoop": 3}
cols = list(CARD)
cat = np.stack([np.random.randint(0, CARD[c], N) for c in cols], axis=1)

thick = np.random.normal(27.0, 2.0, N)          # stave thickness mm
moist = np.random.normal(14.0, 2.5, N)          # wood moisture %
toast = np.random.gamma(4.0, 6.0, N)            # toasting minutes
head = np.random.normal(56.0, 1.5, N)           # head diameter cm

cooper_eff = np.random.normal(0.0, 0.7, CARD["cooper"])
forest_grade = np.random.normal(0.0, 1.4, (CARD["forest"], CARD["grade"]))
hoop_eff = np.array([0.0, 0.4, -0.3])
logit = (-3.1 + cooper_eff[cat[:, 0]] + forest_grade[cat[:, 1], cat[:, 2]]
         + hoop_eff[cat[:, 3]] - 0.35 * (thick - 27.0)
         + 0.30 * (moist - 14.0) + 0.02 * (toast - 24.0)
         + 0.25 * np.abs(head - 56.0))
leak = (np.random.rand(N) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)

num = np.stack([thick, moist, toast, head], axis=1).astype(np.float32)
# moisture meter readings go missing more often on damp days
miss_p = 0.08 + 0.08 * (moist > 15.5)
num[np.random.rand(N) < miss_p, 1] = np.nan

# stratified split 70 / 15 / 15
idx_pos = np.random.permutation(np.where(leak == 1)[0])
idx_neg = np.random.permutation(np.where(leak == 0)[0])
def cut(ix):
    a, b = int(0.70 * len(ix)), int(0.85 * len(ix))
    return ix[:a], ix[a:b], ix[b:]
(p_tr, p_va, p_te), (n_tr, n_va, n_te) = cut(idx_pos), cut(idx_neg)
tr = np.random.permutation(np.concatenate([p_tr, n_tr]))
va = np.concatenate([p_va, n_va])
te = np.concatenate([p_te, n_te])

# numeric preprocessing fitted on the training rows only
med = np.nanmedian(num[tr], axis=0)
flag = np.isnan(num[:, 1:2]).astype(np.float32)
num_f = np.where(np.isnan(num), med, num)
mu, sd = num_f[tr].mean(0), num_f[tr].std(0) + 1e-6
num_f = ((num_f - mu) / sd).astype(np.float32)
num_f = np.concatenate([num_f, flag], axis=1)       # 5 numeric inputs

offsets = np.cumsum([0] + [CARD[c] for c in cols[:-1]])
cat_off = (cat + offsets).astype(np.int32)

pos_rate = leak[tr].mean()
POS_W = float((1 - pos_rate) / pos_rate)
print(f"rows train/val/test: {len(tr)}/{len(va)}/{len(te)}  leak rate train "
      f"{pos_rate:.3f}  moisture missing {np.isnan(num[:, 1]).mean():.3f}  "
      f"positive weight {POS_W:.2f}")


# ---------------------------------------------------------------- model
class TabTransformer(nn.Module):
    def __init__(self, n_levels, n_cols, n_num, d=16, layers=2, heads=4):
        super().__init__()
        self.value_emb = nn.Embedding(n_levels, d)
        self.col_emb = nn.Embedding(n_cols, d)
        self.encoder = nn.TransformerEncoder(layers, d, heads, mlp_dims=2 * d,
                                             dropout=0.1)
        self.num_norm = nn.LayerNorm(n_num)
        self.head = nn.Sequential(
            nn.Linear(n_cols * d + n_num, 64), nn.GELU(), nn.Dropout(0.1),
            nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))
        self._col_ids = mx.arange(n_cols)

    def __call__(self, xc, xn):
        tok = self.value_emb(xc) + self.col_emb(self._col_ids)
        tok = self.encoder(tok, None)
        h = mx.concatenate([tok.reshape(tok.shape[0], -1), self.num_norm(xn)], axis=1)
        return self.head(h).squeeze(-1)


def loss_fn(model, xc, xn, y):
    z = model(xc, xn)
    bce = nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction="none")
    w = mx.where(y > 0.5, POS_W, 1.0)
    return (w * bce).sum() / w.sum()


def auc(scores, y):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    npos = y.sum()
    nneg = len(y) - npos
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def predict(model, rows):
    model.eval()
    z = model(mx.array(cat_off[rows]), mx.array(num_f[rows]))
    model.train()
    return np.array(z)


EPOCHS, BS, PEAK_LR = 14, 256, 3e-3
steps_per_epoch = int(np.ceil(len(tr) / BS))
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, warm),
         optim.cosine_decay(PEAK_LR, total - warm, 1e-5)], [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=0.02)


def run_epochs(model, opt, first, last, log_every=2):
    step = nn.value_and_grad(model, loss_fn)
    yv = leak[va]
    for ep in range(first, last + 1):
        perm = np.random.permutation(tr)
        tot, nb = 0.0, 0
        for s in range(0, len(perm), BS):
            b = perm[s:s + BS]
            loss, g = step(model, mx.array(cat_off[b]), mx.array(num_f[b]),
                           mx.array(leak[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if ep % log_every == 0 or ep == first:
            zv = predict(model, va)
            vl = loss_fn(model, mx.array(cat_off[va]), mx.array(num_f[va]),
                         mx.array(yv)).item()
            print(f"epoch {ep:2d}  lr {opt.learning_rate.item():.2e}  "
                  f"train wBCE {tot / nb:.4f}  val wBCE {vl:.4f}  val AUC {auc(zv, yv):.3f}")


t0 = time.time()
model = TabTransformer(int(sum(CARD.values())), len(cols), num_f.shape[1])
mx.eval(model.parameters())
print(f"parameters: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
opt = make_optimizer()
HALF = EPOCHS // 2
run_epochs(model, opt, 1, HALF)

ckdir = tempfile.mkdtemp(prefix="cooperage_ck_")
wpath = os.path.join(ckdir, "weights.safetensors")
opath = os.path.join(ckdir, "optimizer.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch {HALF} ({os.path.getsize(wpath) // 1024} KiB weights)")
del model, opt

model = TabTransformer(int(sum(CARD.values())), len(cols), num_f.shape[1])
model.load_weights(wpath)
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(opath).items()))
print(f"resumed at optimizer step {opt.state['step'].item()}, "
      f"lr {opt.learning_rate.item():.2e}")
run_epochs(model, opt, HALF + 1, EPOCHS)

# ---------------------------------------------------------------- baselines
onehot = np.concatenate([np.eye(CARD[c], dtype=np.float32)[cat[:, i]]
                         for i, c in enumerate(cols)], axis=1)
xlin = mx.array(np.concatenate([onehot, num_f], axis=1))
lin = nn.Linear(xlin.shape[1], 1)
def lin_loss(m, x, y):
    z = m(x).squeeze(-1)
    w = mx.where(y > 0.5, POS_W, 1.0)
    return (w * nn.losses.binary_cross_entropy(z, y, reduction="none")).sum() / w.sum()
lopt = optim.Adam(learning_rate=0.05)
lstep = nn.value_and_grad(lin, lin_loss)
xtr, ytr = xlin[mx.array(tr)], mx.array(leak[tr])
for _ in range(300):
    _, g = lstep(lin, xtr, ytr)
    lopt.update(lin, g)
    mx.eval(lin.parameters(), lopt.state)
lin_auc = auc(np.array(lin(xlin[mx.array(te)]).squeeze(-1)), leak[te])

zt = predict(model, te)
yt = leak[te]
pred = zt > 0.0
rec = (pred & (yt == 1)).sum() / yt.sum()
prec = (pred & (yt == 1)).sum() / max(pred.sum(), 1)
print(f"test AUC  tabtransformer {auc(zt, yt):.3f}  | one-hot logistic {lin_auc:.3f}"
      f"  | constant score 0.500")
print(f"test leak recall {rec:.3f}  precision {prec:.3f}  (base rate {yt.mean():.3f})")
print(f"done in {time.time() - t0:.1f}s")
