# Railway semaphore cipher desk: each signal box re-encodes 8-digit line codes by
# its own rule. A small transformer is trained on boxes 0-4 with a box token in
# front. For box 3 we then drop the box token, freeze the network, and learn
# only 2 soft prompt vectors. The desk stops after 100 prompt steps and resumes
# from the saved prompt and optimizer state.
import os, time, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
rng = np.random.default_rng(3)
L, V, D, NBOX = 8, 10, 32, 5
RULES = [lambda x: (x + 1) % 10, lambda x: (x * 3) % 10, lambda x: 9 - x,
         lambda x: (x * 7 + 2) % 10, lambda x: (x + 5) % 10]


def batch(n, boxes):
    x = rng.integers(0, V, (n, L))
    b = rng.choice(boxes, n)
    y = np.empty_like(x)
    for k in set(b.tolist()):
        y[b == k] = RULES[k](x[b == k])
    return mx.array(x), mx.array(b), mx.array(y)


class Desk(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D); self.box = nn.Embedding(NBOX, D)
        self.pos = mx.random.normal((L + 2, D)) * 0.02
        self.enc = nn.TransformerEncoder(2, D, 4, mlp_dims=64)
        self.head = nn.Linear(D, V)

    def __call__(self, x, lead):        # lead: (B, P, D)
        h = mx.concatenate([lead, self.tok(x)], axis=1)
        P = lead.shape[1]
        h = h + self.pos[: h.shape[1]]
        h = self.enc(h, None)
        return self.head(h[:, P:])


def acc(logits, y):
    return float((logits.argmax(-1) == y).mean())


desk = Desk()
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 300, 2e-4), weight_decay=0.01)


def pre_loss(m, x, b, y):
    return nn.losses.cross_entropy(m(x, m.box(b)[:, None, :]), y, reduction="mean")


t0 = time.time()
vg = nn.value_and_grad(desk, pre_loss)
for step in range(300):
    x, b, y = batch(64, [0, 1, 2, 3, 4])
    loss, g = vg(desk, x, b, y)
    opt.update(desk, g)
    mx.eval(desk.parameters(), opt.state)
    if (step + 1) % 100 == 0:
        xv, bv, yv = batch(500, [0, 1, 2, 3, 4])
        print(f"pretrain step {step + 1}  loss {float(loss):.3f}  all-box acc {acc(desk(xv, desk.box(bv)[:, None, :]), yv):.3f}")

xv, _, yv = batch(500, [3])
blank = mx.zeros((500, 1, D))
print(f"box 3 baselines: no box token {acc(desk(xv, blank), yv):.3f}  with box token {acc(desk(xv, desk.box(mx.full((500,), 3))[:, None, :]), yv):.3f}  chance 0.100")

desk.freeze()
frozen_sum = sum(float(mx.abs(v).sum()) for _, v in tree_flatten(desk.parameters()))


class Prompt(nn.Module):
    def __init__(self, P=2):
        super().__init__()
        self.vec = mx.random.normal((P, D)) * 0.5


def prompt_loss(p, x, y):
    pre = mx.broadcast_to(p.vec[None], (x.shape[0],) + p.vec.shape)
    return nn.losses.cross_entropy(desk(x, pre), y, reduction="mean")


def run(prompt, popt, start, stop):
    pg = nn.value_and_grad(prompt, prompt_loss)
    for step in range(start, stop):
        x, _, y = batch(64, [3])
        loss, g = pg(prompt, x, y)
        popt.update(prompt, g)
        mx.eval(prompt.parameters(), popt.state)
        if (step + 1) % 25 == 0:
            pre = mx.broadcast_to(prompt.vec[None], (500, 2, D))
            print(f"prompt step {step + 1:3d}  loss {float(loss):.3f}  box-3 acc {acc(desk(xv, pre), yv):.3f}")


prompt = Prompt()
popt = optim.Adam(learning_rate=1e-2)
run(prompt, popt, 0, 100)
ck = os.path.join(tempfile.mkdtemp(), "prompt_100.npz")
mx.savez(ck, vec=prompt.vec, **{f"opt.{k}": v for k, v in tree_flatten(popt.state)})
print(f"saved {os.path.basename(ck)}; desk closes for the night")

prompt = Prompt()
saved = mx.load(ck)
prompt.vec = saved["vec"]
popt = optim.Adam(learning_rate=1e-2)
popt.init(prompt.trainable_parameters())
popt.state = tree_unflatten([(k[4:], v) for k, v in saved.items() if k.startswith("opt.")])
print(f"resumed at optimizer step {int(popt.state['step'])}")
run(prompt, popt, 100, 200)

pre = mx.broadcast_to(prompt.vec[None], (500, 2, D))
after = sum(float(mx.abs(v).sum()) for _, v in tree_flatten(desk.parameters()))
print(f"desk weights untouched: {abs(after - frozen_sum) < 1e-3}")
print(f"box 3 acc with learned prompt {acc(desk(xv, pre), yv):.3f} ({time.time() - t0:.1f}s)")
