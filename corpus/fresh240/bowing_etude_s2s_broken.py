import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

block_size = 8
n_embd = 32
n_head = 4
num_notes = 16
num_fingers = 5
start_token = 5
batch_size = 64
max_iters = 300
eval_interval = 50
learning_rate = 2e-3

rng = np.random.default_rng(7)


def make_fingering(notes):
    fingers = np.zeros_like(notes)
    prev = np.zeros(notes.shape[0], dtype=notes.dtype)
    for t in range(notes.shape[1]):
        prev = notes[:, t] % num_fingers
        fingers[:, t] = prev
    return fingers


def get_batch(n):
    notes = rng.integers(0, num_notes, size=(n, block_size))
    return mx.array(notes), mx.array(make_fingering(notes))


class Head(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)

    def __call__(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(0, 2, 1) * C**-0.5
        wei = nn.softmax(wei, axis=-1)
        return wei @ self.value(x)


class DecoderHead(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)

    def __call__(self, x):
        B, T, C = x.shape
        k = self.key(x)
        q = self.query(x)
        wei = q @ k.transpose(0, 2, 1) * C**-0.5
        wei = nn.softmax(wei, axis=-1)
        return wei @ self.value(x)


class CrossHead(nn.Module):
    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)

    def __call__(self, enc, dec):
        C = dec.shape[-1]
        wei = self.query(dec) @ self.key(enc).transpose(0, 2, 1) * C**-0.5
        wei = nn.softmax(wei, axis=-1)
        return wei @ self.value(enc)


class MultiHead(nn.Module):
    def __init__(self, cls):
        super().__init__()
        self.heads = [cls(n_embd // n_head) for _ in range(n_head)]
        self.proj = nn.Linear(n_embd, n_embd)

    def __call__(self, *xs):
        return self.proj(mx.concatenate([h(*xs) for h in self.heads], axis=-1))


def ffwd():
    return nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd))


class EncoderBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.sa = MultiHead(Head)
        self.ff = ffwd()
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def __call__(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ff(self.ln2(x))


class DecoderBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.sa = MultiHead(DecoderHead)
        self.ca = MultiHead(CrossHead)
        self.ff = ffwd()
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.ln3 = nn.LayerNorm(n_embd)

    def __call__(self, enc, x):
        x = x + self.sa(self.ln1(x))
        x = x + self.ca(enc, self.ln2(x))
        return x + self.ff(self.ln3(x))


class MusicFingeringModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.note_emb = nn.Embedding(num_notes, n_embd)
        self.finger_emb = nn.Embedding(num_fingers + 1, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.encoder = [EncoderBlock() for _ in range(2)]
        self.decoder = [DecoderBlock() for _ in range(2)]
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, num_fingers)

    def __call__(self, notes, dec_in):
        p = self.pos(mx.arange(notes.shape[1]))
        enc = self.note_emb(notes) + p
        for blk in self.encoder:
            enc = blk(enc)
        x = self.finger_emb(dec_in) + self.pos(mx.arange(dec_in.shape[1]))
        for blk in self.decoder:
            x = blk(enc, x)
        return self.head(self.ln_f(x))


def shift_right(fingers):
    start = mx.full((fingers.shape[0], 1), start_token, dtype=fingers.dtype)
    return mx.concatenate([start, fingers[:, :-1]], axis=1)


def loss_fn(model, notes, fingers):
    logits = model(notes, shift_right(fingers))
    return nn.losses.cross_entropy(logits, fingers, reduction="mean")


def generate(model, notes):
    dec = mx.full((notes.shape[0], 1), start_token, dtype=mx.int32)
    for t in range(notes.shape[1]):
        logits = model(notes, dec)
        nxt = mx.argmax(logits[:, -1], axis=-1).astype(mx.int32)
        dec = mx.concatenate([dec, nxt[:, None]], axis=1)
    return dec[:, 1:]


mx.random.seed(0)
model = MusicFingeringModel()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=learning_rate, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(model, loss_fn)
val_notes, val_fingers = get_batch(512)

t0 = time.time()
for it in range(max_iters + 1):
    if it % eval_interval == 0:
        model.eval()
        tr_notes, tr_fingers = get_batch(256)
        tr = loss_fn(model, tr_notes, tr_fingers).item()
        va = loss_fn(model, val_notes, val_fingers).item()
        model.train()
        print(f"step {it}: train loss {tr:.4f}, val loss {va:.4f}")
    if it == max_iters:
        break
    xb, yb = get_batch(batch_size)
    loss, grads = loss_and_grad(model, xb, yb)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)

model.eval()
pred = generate(model, val_notes)
acc = (pred == val_fingers).astype(mx.float32).mean().item()
seq_acc = mx.all(pred == val_fingers, axis=1).astype(mx.float32).mean().item()
print(f"generated fingering accuracy: {acc*100:.1f}% per note, {seq_acc*100:.1f}% whole passages")
print(f"chance per note: {100/num_fingers:.1f}%   time {time.time()-t0:.1f}s")
