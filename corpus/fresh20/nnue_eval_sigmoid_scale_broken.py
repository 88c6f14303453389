"""Tiny NNUE-style evaluator trained on synthetic 'positions'.

Each position is a set of active sparse features (piece-on-square ids).
Target = blend of sigmoid(search_score / 410) and the game result,
as in Stockfish-style NNUE training.
"""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

EVAL_SCALE = 410.0

NUM_FEATURES = 768
MAX_ACTIVE = 16
BATCH = 256
EPOCHS = 20
BATCHES_PER_EPOCH = 40

rng = np.random.default_rng(7)
piece_values = rng.normal(0.0, 120.0, size=NUM_FEATURES).astype(np.float32)


def make_positions(n):
    n_active = rng.integers(6, MAX_ACTIVE + 1, size=n)
    feats = rng.integers(0, NUM_FEATURES, size=(n, MAX_ACTIVE)).astype(np.int32)
    mask = (np.arange(MAX_ACTIVE)[None, :] < n_active[:, None]).astype(np.float32)
    score = (piece_values[feats] * mask).sum(axis=1)  # centipawns
    p_win = 1.0 / (1.0 + np.exp(-score / EVAL_SCALE))
    result = (rng.random(n) < p_win).astype(np.float32)
    return feats, mask, score.astype(np.float32), result


class ClippedReLU(nn.Module):
    def __call__(self, x):
        return mx.clip(x, 0.0, 1.0)


class NNUE(nn.Module):
    def __init__(self, num_features, acc=64, l1=16, l2=16):
        super().__init__()
        self.feature_table = nn.Embedding(num_features, acc)
        self.feature_table.weight = mx.random.normal(self.feature_table.weight.shape) * 0.01
        self.ft_bias = mx.zeros((acc,))
        self.crelu = ClippedReLU()
        self.l1 = nn.Linear(acc, l1)
        self.l2 = nn.Linear(l1, l2)
        self.output = nn.Linear(l2, 1)

    def __call__(self, feats, mask):
        a = (self.feature_table(feats) * mask[..., None]).sum(axis=1) + self.ft_bias
        x = self.crelu(a)
        x = self.crelu(self.l1(x))
        x = self.crelu(self.l2(x))
        return self.output(x)


def nnue_loss(predicted, score, result, lambda_=0.5):
    p = mx.sigmoid(mx.squeeze(predicted, axis=-1) / EVAL_SCALE)
    t_eval = mx.sigmoid(score / EVAL_SCALE)
    target = lambda_ * t_eval + (1.0 - lambda_) * result
    return mx.mean((p - target) ** 2)


mx.random.seed(0)
model = NNUE(NUM_FEATURES)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=1e-3)


def loss_fn(model, feats, mask, score, result):
    return nnue_loss(model(feats, mask), score, result)


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state]


def train_step(feats, mask, score, result):
    loss, grads = loss_and_grad(model, feats, mask, score, result)
    optimizer.update(model, grads)
    return loss


step_fn = mx.compile(train_step, inputs=state, outputs=state)

vf, vm, vs, vr = make_positions(2048)
vf, vm, vs, vr = mx.array(vf), mx.array(vm), mx.array(vs), mx.array(vr)

print(f"{'epoch':>5} | {'train':>9} | {'val':>9} | {'time':>6}")
print("-" * 40)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    total = mx.array(0.0)
    for _ in range(BATCHES_PER_EPOCH):
        f, m, s, r = make_positions(BATCH)
        loss = step_fn(mx.array(f), mx.array(m), mx.array(s), mx.array(r))
        mx.eval(loss)
        total = total + loss
    train = (total / BATCHES_PER_EPOCH).item()
    val = nnue_loss(model(vf, vm), vs, vr).item()
    print(f"{epoch:>5} | {train:9.6f} | {val:9.6f} | {time.time() - t0:5.1f}s")
