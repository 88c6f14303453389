# Archive conservation survey: tag six deterioration types on scanned folios from
# 10 condition-sensor readings. Surveyors only marked some of the six boxes per folio,
# so unmarked boxes are left out of the loss. Stage 2 adds confident pseudo-marks.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TAGS = ["foxing", "tideline", "cockling", "mould", "ink_burn", "tear"]
rng = np.random.default_rng(301)
N_TR, N_VA, D, K = 7000, 1500, 10, len(TAGS)

W_true = rng.standard_normal((D, K)) * 0.9
B_true = np.array([-1.6, -0.4, -0.9, -2.2, -1.2, -0.2])
mix = rng.standard_normal((D, D)) / np.sqrt(D)


def folios(n):
    z = rng.standard_normal((n, D))
    x = np.tanh(z @ mix) + 0.1 * rng.standard_normal((n, D))
    logit = z @ W_true + B_true + 0.8 * (z[:, :1] * z[:, 1:2])
    y = (rng.random((n, K)) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x.astype(np.float32), y


x_tr, y_tr = folios(N_TR)
x_va, y_va = folios(N_VA)
marked = (rng.random((N_TR, K)) < 0.45).astype(np.float32)   # 55% of boxes never marked
prior = (y_tr * marked).sum(0) / marked.sum(0)
pos_w = np.clip((1 - prior) / prior, 1.0, 6.0).astype(np.float32)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.out = nn.Linear(96, K)

    def __call__(self, x):
        return self.out(self.body(x))


def masked_bce(model, x, y, m, pw):
    z = model(x)
    per = -(pw * y * nn.log_sigmoid(z) + (1 - y) * nn.log_sigmoid(-z))
    return (per * m).sum() / mx.maximum(m.sum(), 1.0)


def avg_precision(scores, labels):
    out = []
    for k in range(labels.shape[1]):
        order = np.argsort(-scores[:, k])
        hits = labels[order, k]
        if hits.sum() == 0:
            continue
        prec = np.cumsum(hits) / (np.arange(len(hits)) + 1)
        out.append((prec * hits).sum() / hits.sum())
    return float(np.mean(out))


mx.random.seed(301)
model = Tagger()
mx.eval(model.parameters())
warm = 120
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, 2400, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, masked_bce)
X_va = mx.array(x_va)
pw_mx = mx.array(pos_w)

base_ap = float(np.mean(y_va.mean(0)))
untrained = avg_precision(np.array(model(X_va)), y_va)
print("stage,epoch,step,lr,train_masked_bce,marked_share,val_mAP,prevalence_mAP,secs")
print(f"init,0,0,{0.0:.2e},nan,{marked.mean():.3f},{untrained:.4f},{base_ap:.4f},0.0")

t0 = time.time()
step = 0
labels_now, mask_now = y_tr.copy(), marked.copy()
for epoch in range(1, 17):
    if epoch == 9:
        # stage 2: pseudo-mark unmarked boxes where the model is very sure
        p = np.array(mx.sigmoid(model(mx.array(x_tr))))
        sure = ((p > 0.93) | (p < 0.04)) & (marked == 0)
        labels_now = np.where(sure, (p > 0.5).astype(np.float32), y_tr * marked)
        mask_now = np.maximum(marked, sure.astype(np.float32) * 0.5)
        print(f"# pseudo-marked {int(sure.sum())} boxes at half weight")
    perm = rng.permutation(N_TR)
    run, nb = 0.0, 0
    for s in range(0, N_TR, 64):
        idx = perm[s:s + 64]
        loss, grads = grad_fn(model, mx.array(x_tr[idx]), mx.array(labels_now[idx]),
                              mx.array(mask_now[idx]), pw_mx)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
        step += 1
    if epoch <= 8 and epoch not in (1, 8):
        continue  # stage 1 reports only its first and last epoch
    ap = avg_precision(np.array(mx.sigmoid(model(X_va))), y_va)
    stage = "marked" if epoch <= 8 else "pseudo"
    lr_now = sched(mx.array(step)).item()
    print(f"{stage},{epoch},{step},{lr_now:.2e},{run / nb:.4f},{mask_now.mean():.3f},"
          f"{ap:.4f},{base_ap:.4f},{time.time() - t0:.1f}")

print(f"done: val mAP {ap:.4f} vs prevalence {base_ap:.4f} (untrained {untrained:.4f})")
