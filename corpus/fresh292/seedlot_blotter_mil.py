"""Seed-lot blotter test: flag a lot when any seed in the tray shows blight.

Each lot is a tray of 6-20 seeds (feature vectors). A lot is labelled
'blighted' if at least one seed carries the blight signature. Lot labels
come from a lab sheet with about 6% clerical slips, so training loss
levels off above zero.
"""
import time, os, tempfile, math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
D, MAXN, HEADS = 12, 20, 4
SIG = mx.random.normal((D,)); SIG = SIG / mx.linalg.norm(SIG)

def make_lots(n, key):
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    sizes = mx.random.randint(6, MAXN + 1, (n,), key=k1)
    valid = mx.arange(MAXN)[None, :] < sizes[:, None]
    x = mx.random.normal((n, MAXN, D), key=k2)
    pos_lot = mx.random.bernoulli(0.5, (n,), key=k3)
    pick = (mx.random.uniform(shape=(n, MAXN), key=k4) < 0.15) & valid
    first = mx.argmax(valid.astype(mx.int32) * mx.random.uniform(shape=(n, MAXN), key=k5), axis=1)
    force = mx.arange(MAXN)[None, :] == first[:, None]
    sick = (pick | force) & pos_lot[:, None]
    x = x + 3.0 * sick[..., None] * SIG
    x = mx.where(valid[..., None], x, 0.0)
    return x, valid, pos_lot.astype(mx.float32), sick

class TrayReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 32)
        self.qkv = nn.Linear(32, 96, bias=False)
        self.out = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)
        self.att_v = nn.Linear(32, 16)
        self.att_u = nn.Linear(32, 16)
        self.att_w = nn.Linear(16, 1)
        self.head = nn.Linear(32, 1)

    def __call__(self, x, valid):
        B, N, _ = x.shape
        h = nn.gelu(self.inp(x))
        q, k, v = mx.split(self.qkv(self.norm(h)), 3, axis=-1)
        sp = lambda t: t.reshape(B, N, HEADS, 8).transpose(0, 2, 1, 3)
        keymask = (valid[:, None, :] & valid[:, :, None]) | mx.eye(N, dtype=mx.bool_)[None]
        a = mx.fast.scaled_dot_product_attention(sp(q), sp(k), sp(v), scale=8 ** -0.5,
                                                 mask=keymask[:, None])
        h = h + self.out(a.transpose(0, 2, 1, 3).reshape(B, N, 32))
        gate = mx.tanh(self.att_v(h)) * mx.sigmoid(self.att_u(h))
        s = self.att_w(gate).squeeze(-1)
        s = mx.where(valid, s, -mx.inf)
        w = mx.softmax(s, axis=-1)
        pooled = (w[..., None] * h).sum(axis=1)
        return self.head(pooled).squeeze(-1), w

def loss_fn(model, x, valid, y):
    logit, _ = model(x, valid)
    return nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="mean")

Xtr, Vtr, Ytrue, _ = make_lots(1200, mx.random.key(1))
slip = mx.random.bernoulli(0.06, Ytrue.shape, key=mx.random.key(2))
Ytr = mx.where(slip, 1 - Ytrue, Ytrue)
Xva, Vva, Yva, Sva = make_lots(400, mx.random.key(3))
print(f"lots train={Xtr.shape[0]} valid={Xva.shape[0]} sheet slip rate={slip.mean().item():.3f}")
print(f"majority-class valid acc={max(Yva.mean().item(), 1 - Yva.mean().item()):.3f}")

# cosine cycles with warm restarts, first cycle starts from exactly 0
warm = optim.linear_schedule(0.0, 5e-2, 20)
cycles = [optim.cosine_decay(5e-2, 120, 1e-3) for _ in range(2)]
sched = optim.join_schedules([warm] + cycles, [20, 140])
TOTAL, BS = 260, 64

def evaluate(model):
    logit, w = model(Xva, Vva)
    acc = ((logit > 0).astype(mx.float32) == Yva).mean().item()
    # seed localisation on blighted lots: is the top-weighted seed a sick one?
    top = mx.argmax(w, axis=1)
    hit = mx.take_along_axis(Sva, top[:, None], axis=1).squeeze(1)
    pos = Yva > 0
    loc = (hit & pos).sum().item() / pos.sum().item()
    rnd = (Sva.sum(1) / Vva.sum(1) * pos).sum().item() / pos.sum().item()
    return acc, loc, rnd

def run(start, stop, model, opt, ckdir):
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time(); run_loss = []
    for step in range(start, stop + 1):
        idx = mx.random.randint(0, Xtr.shape[0], (BS,), key=mx.random.key(1000 + step))
        loss, g = step_fn(model, Xtr[idx], Vtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss.append(loss.item())
        if step in (1, 20) or step % 40 == 0 or step == stop:
            acc, loc, rnd = evaluate(model)
            print(f"step {step:4d} lr {opt.learning_rate.item():.2e} train_bce {sum(run_loss)/len(run_loss):.4f} "
                  f"valid_acc {acc:.3f} top_seed_hit {loc:.3f} (random pick {rnd:.3f}) {time.time()-t0:.1f}s")
            run_loss = []
    model.save_weights(os.path.join(ckdir, "tray.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))

with tempfile.TemporaryDirectory() as ckdir:
    model = TrayReader(); opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    print("session 1")
    run(1, 140, model, opt, ckdir)
    del model, opt
    print("session 2 (rebuilt from files; lr restarts at the cycle peak)")
    model = TrayReader(); model.load_weights(os.path.join(ckdir, "tray.safetensors"))
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    print(f"resumed at optimizer step {opt.step.item()}")
    run(141, TOTAL, model, opt, ckdir)
acc, loc, rnd = evaluate(model)
print(f"final valid_acc {acc:.3f} top_seed_hit {loc:.3f} random pick {rnd:.3f} (label slips cap train_bce near {-(0.06*math.log(0.06)+0.94*math.log(0.94)):.3f})")
