# Toy agent tool router: pick which of 6 tools a short request needs
# (calculator, calendar, weather, web_search, unit_convert, email).
# Requests are 7 token ids: 2 tool keywords + filler words. Stage "hard"
# adds a decoy keyword from another tool (majority still names the tool).
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TOOLS = ["calculator", "calendar", "weather", "web_search", "unit_convert", "email"]
KW_PER_TOOL = 6
N_FILLER = 30
VOCAB = len(TOOLS) * KW_PER_TOOL + N_FILLER
SEQ = 7

rng = random.Random(181)
mx.random.seed(181)


def make_request(tool, hard):
    kws = [tool * KW_PER_TOOL + rng.randrange(KW_PER_TOOL) for _ in range(2)]
    toks = list(kws)
    if hard:
        other = rng.choice([t for t in range(len(TOOLS)) if t != tool])
        toks.append(other * KW_PER_TOOL + rng.randrange(KW_PER_TOOL))
    while len(toks) < SEQ:
        toks.append(len(TOOLS) * KW_PER_TOOL + rng.randrange(N_FILLER))
    rng.shuffle(toks)
    return toks


def make_split(n, hard):
    xs, ys = [], []
    for _ in range(n):
        t = rng.randrange(len(TOOLS))
        xs.append(make_request(t, hard))
        ys.append(t)
    return mx.array(xs), mx.array(ys)


class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.attn_score = nn.Linear(32, 1)
        self.head = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, len(TOOLS)))

    def __call__(self, x):
        e = self.emb(x)                                  # B,T,D
        w = mx.softmax(self.attn_score(e).squeeze(-1), axis=-1)
        pooled = (w[..., None] * e).sum(axis=1)
        return self.head(pooled)


def loss_fn(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ce, logits


model = Router()
mx.eval(model.parameters())

STEPS_PER_STAGE = 500
warm = optim.linear_schedule(0.0, 1e-3, 60)
cos = optim.cosine_decay(1e-3, 2 * STEPS_PER_STAGE - 60, end=1e-4)
lr_sched = optim.join_schedules([warm, cos], [60])
opt = optim.Lion(learning_rate=lr_sched, weight_decay=0.01)

vg = nn.value_and_grad(model, loss_fn)

data = {}
for stage in ("easy", "hard"):
    data[stage] = (make_split(2400, stage == "hard"), make_split(600, stage == "hard"))

# sanity: every trainable tensor must receive gradient
(xb0, yb0), _ = data["easy"]
(_, _), g0 = vg(model, xb0[:64], yb0[:64])
from mlx.utils import tree_flatten
for name, g in tree_flatten(g0):
    n = mx.abs(g).sum().item()
    assert n > 0, name
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "all_nonzero": True}))

t0 = time.time()
global_step = 0
B = 128
for stage in ("easy", "hard"):
    (xtr, ytr), (xva, yva) = data[stage]
    n = xtr.shape[0]
    for step in range(STEPS_PER_STAGE):
        idx = mx.array(rng.sample(range(n), B))
        lr_now = opt.learning_rate.item()
        (ce, logits), grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, ce)
        global_step += 1
        if step % 100 == 0 or step == STEPS_PER_STAGE - 1:
            acc = (logits.argmax(-1) == ytr[idx]).mean().item() * 100
            vce, vlog = loss_fn(model, xva, yva)
            vacc = (vlog.argmax(-1) == yva).mean().item() * 100
            print(json.dumps({
                "stage": stage, "step": step, "global": global_step,
                "lr": round(lr_now, 7), "ce": round(ce.item(), 4),
                "val_ce": round(vce.item(), 4), "acc_pct": round(acc, 1),
                "val_acc_pct": round(vacc, 1), "chance_pct": round(100 / len(TOOLS), 1),
            }))

# final audit on both request styles
summary = {"event": "final", "secs": round(time.time() - t0, 2)}
for stage in ("easy", "hard"):
    _, (xva, yva) = data[stage]
    vce, vlog = loss_fn(model, xva, yva)
    summary[f"{stage}_val_ce"] = round(vce.item(), 4)
    summary[f"{stage}_val_acc_pct"] = round((vlog.argmax(-1) == yva).mean().item() * 100, 1)
print(json.dumps(summary))
