# Tiny visual question answering on synthetic board-game photos.
# Stage "align": the image encoder is frozen on purpose (LLaVA-style projector
# warm-up); only question embedding, cross-attention and answer head train.
# Stage "tune": everything unfrozen, learning rate ramps up from exactly 0.
# Output: one JSON object per report line.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
G = 6                      # 6x6 board
COLORS = np.array([[0.9, 0.1, 0.1], [0.1, 0.7, 0.2], [0.15, 0.3, 0.9], [0.95, 0.85, 0.1]], dtype=np.float32)
CNAMES = ["red", "green", "blue", "yellow"]
# questions: count <colour>  (answers 0..4)  | any <colour> in row r (yes/no)
VOCAB = ["count", "any", "row"] + CNAMES + [f"r{i}" for i in range(G)]
TOK = {w: i for i, w in enumerate(VOCAB)}
ANSWERS = ["0", "1", "2", "3", "4", "no", "yes"]
CELL = 4                   # pixels per cell -> 24x24 image

def render(board):
    img = np.full((G * CELL, G * CELL, 3), 0.55, dtype=np.float32)
    img[::CELL, :, :] = 0.3
    img[:, ::CELL, :] = 0.3
    for r in range(G):
        for c in range(G):
            k = board[r, c]
            if k >= 0:
                img[r * CELL + 1:r * CELL + 3, c * CELL + 1:c * CELL + 3] = COLORS[k]
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    return img

def sample(n):
    imgs, qs, ans = [], [], []
    for _ in range(n):
        board = -np.ones((G, G), dtype=np.int64)
        cells = rng.choice(G * G, size=rng.integers(2, 9), replace=False)
        for cidx in cells:
            board.flat[cidx] = rng.integers(0, 4)
        col = int(rng.integers(0, 4))
        if rng.random() < 0.5:
            q = [TOK["count"], TOK[CNAMES[col]], TOK["count"]]
            a = min(int((board == col).sum()), 4)
        else:
            r = int(rng.integers(0, G))
            q = [TOK["any"], TOK[CNAMES[col]], TOK[f"r{r}"]]
            a = 6 if (board[r] == col).any() else 5
        imgs.append(render(board)); qs.append(q); ans.append(a)
    return mx.array(np.stack(imgs)), mx.array(np.array(qs)), mx.array(np.array(ans))

class VQA(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=CELL, stride=CELL), nn.GELU(),
            nn.Conv2d(32, d, kernel_size=1))
        self.pos = mx.random.normal((G * G, d)) * 0.02
        self.qemb = nn.Embedding(len(VOCAB), d)
        self.qpos = mx.random.normal((3, d)) * 0.02
        self.xattn = nn.MultiHeadAttention(d, 4)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, 128), nn.GELU(), nn.Linear(128, len(ANSWERS)))

    def __call__(self, img, q):
        v = self.encoder(img).reshape(img.shape[0], G * G, -1) + self.pos
        t = self.qemb(q) + self.qpos
        h = self.norm(t + self.xattn(t, v, v))
        return self.head(h.mean(axis=1))

mx.random.seed(11)
model = VQA()
mx.eval(model.parameters())

Xv, Qv, Av = sample(600)
prior = np.bincount(np.array(Av), minlength=len(ANSWERS)).max() / Av.shape[0]

def loss_fn(m, x, q, a):
    return nn.losses.cross_entropy(m(x, q), a, reduction="mean")

def accuracy(m, x, q, a):
    return (m(x, q).argmax(axis=1) == a).mean().item()

def run_stage(name, steps, peak_lr, warmup, freeze_encoder):
    model.unfreeze()
    if freeze_encoder:
        model.encoder.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
    state = [model.state, opt.state]

    def step(x, q, a, lr):
        opt.learning_rate = lr
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, q, a)
        opt.update(model, grads)
        return loss, grads

    print(json.dumps({"event": "stage_start", "stage": name, "trainable_params": n_train,
                      "encoder_frozen": freeze_encoder}), flush=True)
    for s in range(steps):
        if s < warmup:
            lr = peak_lr * s / warmup          # exactly 0 at s == 0
        else:
            p = (s - warmup) / max(1, steps - warmup)
            lr = peak_lr * 0.5 * (1 + math.cos(math.pi * p))
        x, q, a = sample(64)
        loss, grads = step(x, q, a, lr)
        mx.eval(state, loss)
        if s == 0:
            gn = {k: round(float(mx.sqrt((g * g).sum()).item()), 5)
                  for k, g in tree_flatten(grads) if k.endswith("weight") and "head.layers.2" in k or k == "encoder.layers.0.weight"}
            print(json.dumps({"event": "grad_audit", "stage": name, "norms": gn}), flush=True)
        if s % 50 == 0 or s == steps - 1:
            model.eval()
            va = accuracy(model, Xv, Qv, Av)
            model.train()
            print(json.dumps({"stage": name, "step": s, "lr": round(lr, 6), "loss": round(loss.item(), 4),
                              "val_acc": round(va, 4), "prior_acc": round(float(prior), 4)}), flush=True)

run_stage("align", steps=300, peak_lr=3e-3, warmup=1, freeze_encoder=True)
run_stage("tune", steps=300, peak_lr=1e-3, warmup=60, freeze_encoder=False)
model.eval()
print(json.dumps({"event": "done", "val_acc": round(accuracy(model, Xv, Qv, Av), 4), "prior_acc": round(float(prior), 4)}))
