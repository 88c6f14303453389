# Cricket scorebook: read the ball-by-ball symbols of one over and predict
# the runs conceded in that over. Small transformer encoder (post-LN) with a
# [CLS] slot and learned positions. Two stages: plain overs first, then
# overs with extras (wides / no-balls re-bowled). The run is checkpointed
# after stage 1 and resumed into a freshly built model + optimizer.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SYMS = ['.', '1', '2', '3', '4', '6', 'W', 'wd', 'nb', 'lb']
RUNS = {'.': 0, '1': 1, '2': 2, '3': 3, '4': 4, '6': 6, 'W': 0, 'wd': 1, 'nb': 1, 'lb': 1}
PAD, CLS = 0, 1
TOK = {s: i + 2 for i, s in enumerate(SYMS)}
MAXLEN = 1 + 6 + 4          # CLS + 6 legal balls + up to 4 extras
rng = np.random.default_rng(7)

LEGAL_P = np.array([0.38, 0.30, 0.08, 0.02, 0.10, 0.04, 0.04, 0.0, 0.0, 0.04])
LEGAL_P = LEGAL_P / LEGAL_P.sum()

def make_overs(n, extras):
    X = np.zeros((n, MAXLEN), np.int32)
    y = np.zeros(n, np.float32)
    for i in range(n):
        seq = [CLS]; legal = 0; runs = 0; n_extra = 0
        while legal < 6:
            if extras and n_extra < 4 and rng.random() < 0.12:
                s = 'wd' if rng.random() < 0.6 else 'nb'
                n_extra += 1
            else:
                s = SYMS[rng.choice(len(SYMS), p=LEGAL_P)]
                legal += 1
            seq.append(TOK[s]); runs += RUNS[s]
        X[i, :len(seq)] = seq
        y[i] = runs
    return X, y

def digits_only_guess(X):
    # scorer's shortcut: add up the numbers written, ignore wd/nb marks
    inv = {v: k for k, v in TOK.items()}
    out = []
    for row in X:
        out.append(sum(RUNS[inv[t]] for t in row if t in inv and inv[t] not in ('wd', 'nb')))
    return np.array(out, np.float32)

class OverReader(nn.Module):
    def __init__(self, vocab=len(SYMS) + 2, d=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.enc = nn.TransformerEncoder(layers, d, heads, mlp_dims=2 * d, norm_first=False)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        keep = (x != PAD)
        mask = mx.where(keep, 0.0, -1e9)[:, None, None, :].astype(h.dtype)
        h = self.enc(h, mask)
        return self.head(h[:, 0]).squeeze(-1)

SCALE = 10.0
def loss_fn(model, x, y):
    return mx.mean((model(x) - y / SCALE) ** 2)

def mae(model, X, y):
    p = model(mx.array(X)) * SCALE
    return float(mx.mean(mx.abs(p - mx.array(y))))

def make_opt(total):
    warm = 25
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)

def run_stage(model, opt, extras, steps, start, bs=64):
    PX, Py = make_overs(6000, extras)
    step_fn = nn.value_and_grad(model, loss_fn)
    for s in range(start, start + steps):
        idx = rng.integers(0, len(PX), bs)
        X, y = PX[idx], Py[idx]
        loss, g = step_fn(model, mx.array(X), mx.array(y))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s % 25 == 0 or s == start or s == start + steps - 1:
            print(f"step {s:4d}  lr {float(opt.learning_rate):.2e}  mse(scaled) {loss.item():.4f}")
    return start + steps

if __name__ == "__main__":
    t0 = time.time()
    mx.random.seed(0)
    TOTAL = 260
    Xa, ya = make_overs(600, extras=False)
    Xb, yb = make_overs(600, extras=True)
    print(f"held-out plain overs: mean runs {ya.mean():.2f}; overs with extras: mean runs {yb.mean():.2f}")
    print(f"baseline MAE (predict the mean): plain {np.abs(ya - ya.mean()).mean():.2f}  extras {np.abs(yb - yb.mean()).mean():.2f}")
    print(f"baseline MAE (digits-only scorer): plain {np.abs(digits_only_guess(Xa) - ya).mean():.2f}  extras {np.abs(digits_only_guess(Xb) - yb).mean():.2f}")

    model = OverReader(); opt = make_opt(TOTAL)
    print("== stage 1: plain overs ==")
    step = run_stage(model, opt, extras=False, steps=120, start=0)
    print(f"stage 1 done  MAE plain {mae(model, Xa, ya):.3f}  MAE extras {mae(model, Xb, yb):.3f}")

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {step}")

    # resume into fresh objects, as a restarted job would
    model = OverReader(); model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = make_opt(TOTAL); opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    print(f"resumed: optimizer step {int(opt.state['step'])}, lr {float(opt.learning_rate):.2e}, MAE plain {mae(model, Xa, ya):.3f}")

    print("== stage 2: overs with wides and no-balls ==")
    step = run_stage(model, opt, extras=True, steps=TOTAL - 120, start=step)
    print(f"final  MAE plain {mae(model, Xa, ya):.3f}  MAE extras {mae(model, Xb, yb):.3f}  ({time.time() - t0:.1f}s)")
