import math, os, random, tempfile, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(3); mx.random.seed(3)
PORTS = ["Dover", "Leith", "Hull", "Poole", "Oban", "Wick"]

def notice(with_marks):
    p = random.choice(PORTS); h = random.randint(0, 23); m = random.randint(0, 59)
    hw = round(random.uniform(3.0, 6.5), 1); lw = round(random.uniform(0.2, 1.5), 1)
    s = f"{p} HW {h:02d}:{m:02d} {hw}m LW {(h+6)%24:02d}:{m:02d} {lw}m"
    if with_marks:
        tag = "\x01" if hw - lw > 4.0 else "\x02"   # spring / neap marker characters added in stage 2
        s = tag + s
    return s + "\n"

base_text = "".join(notice(False) for _ in range(1500))
chars = sorted(set(base_text)); stoi = {c: i for i, c in enumerate(chars)}
V0 = len(chars)
CTX, D = 12, 48

class TideLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok = nn.Embedding(vocab, D)
        self.pos = nn.Embedding(CTX, D)
        self.mix = nn.Linear(CTX * D, 128)
        self.out = nn.Linear(128, D)
    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        h = nn.gelu(self.mix(h.reshape(x.shape[0], -1)))
        return self.tok.as_linear(self.out(h))   # head tied to the token table

def windows(text, n):
    ids = mx.array([stoi[c] for c in text])
    starts = mx.array([random.randint(0, len(text) - CTX - 1) for _ in range(n)])
    idx = starts[:, None] + mx.arange(CTX + 1)[None]
    w = ids[idx]
    return w[:, :-1], w[:, -1]

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def run_stage(name, model, text, steps, peak, row_mask=None):
    opt = optim.SGD(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 50), optim.cosine_decay(peak, steps - 50, peak * 0.05)], [50]),
        momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    vx, vy = windows(text, 2000)
    print(f"stage,{name},vocab,{model.tok.weight.shape[0]},steps,{steps}")
    print("stage,step,lr,train_nats,val_nats")
    for s in range(steps):
        lr = opt.learning_rate.item()
        x, y = windows(text, 64)
        l, g = vg(model, x, y)
        if row_mask is not None and s < 120:
            g["tok"]["weight"] = g["tok"]["weight"] * row_mask   # only the new rows move at first
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        if s % 100 == 0 or s == steps - 1:
            print(f"{name},{s},{lr:.4f},{l.item():.3f},{loss_fn(model, vx, vy).item():.3f}")
    return loss_fn(model, vx, vy).item()

t0 = time.time()
model = TideLM(V0); mx.eval(model.parameters())
print(f"baseline,uniform_nats,{math.log(V0):.3f}")
v1 = run_stage("base", model, base_text, 400, 0.05)
ck = os.path.join(tempfile.mkdtemp(), "stage1.safetensors")
model.save_weights(ck)

# resume from the checkpoint into a fresh module, then grow the vocabulary by two marker tokens
model = TideLM(V0); model.load_weights(ck)
for c in ["\x01", "\x02"]:
    stoi[c] = len(stoi)
V1 = len(stoi)
old = model.tok.weight
new_rows = old.mean(axis=0, keepdims=True) + 0.02 * mx.random.normal((V1 - V0, D))
model.tok = nn.Embedding(V1, D); model.tok.weight = mx.concatenate([old, new_rows])
mask = mx.concatenate([mx.zeros((V0, 1)), mx.ones((V1 - V0, 1))])
ext_text = "".join(notice(True) for _ in range(1500))
print(f"resumed,from,{os.path.basename(ck)},vocab,{V0}->{V1},uniform_nats,{math.log(V1):.3f}")
v2 = run_stage("extend", model, ext_text, 400, 0.05, row_mask=mask)
drift = mx.abs(model.tok.weight[:V0] - old).max().item()
print(f"done,base_val,{v1:.3f},extend_val,{v2:.3f},old_row_drift,{drift:.4f},secs,{time.time()-t0:.1f}")
