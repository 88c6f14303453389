"""Tiny NNUE-style evaluator trained on synthetic material scores, then used
to report centipawn evaluations for a held-out set of positions."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

EVAL_SCALE = 410.0
OUTPUT_SCALE = 32.0     # model output x OUTPUT_SCALE -> centipawn-like range
LOSS_EXPONENT = 2.6

N_SQ, N_PIECE = 32, 5
N_FEAT = N_SQ * N_PIECE
PIECE_CP = np.array([100, 300, 320, 500, 900], dtype=np.float32)


def make_positions(n, rng):
    feats = np.zeros((n, N_FEAT), dtype=np.float32)
    scores = np.zeros((n,), dtype=np.float32)
    for i in range(n):
        k = rng.integers(2, 9)
        sq = rng.choice(N_SQ, size=k, replace=False)
        pc = rng.integers(0, N_PIECE, size=k)
        sign = rng.choice([-1.0, 1.0], size=k)
        feats[i, sq * N_PIECE + pc] = sign
        scores[i] = float((sign * PIECE_CP[pc]).sum()) + rng.normal(0, 15)
    return feats, scores


class TinyNNUE(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.ft = nn.Linear(N_FEAT, hidden)
        self.l1 = nn.Linear(hidden, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        h = mx.clip(self.ft(x), 0.0, 1.0)
        h = mx.clip(self.l1(h), 0.0, 1.0)
        return self.out(h)


def nnue_loss(model, x, score):
    raw = mx.squeeze(model(x), axis=-1)
    p = mx.sigmoid(raw * OUTPUT_SCALE / EVAL_SCALE)
    t = mx.sigmoid(score / EVAL_SCALE)
    w = mx.clip(mx.abs(score) / 200.0, 0.5, 2.0)
    return mx.mean(w * mx.abs(p - t) ** LOSS_EXPONENT)


class NNUEEvaluator:
    """Converts raw network output into centipawns for search/adjudication."""
    EVAL_OUTPUT_SCALE = OUTPUT_SCALE  # inverse of the training loss scaling

    def __init__(self, model):
        self.model = model

    def evaluate(self, x):
        raw = mx.squeeze(self.model(x), axis=-1)
        return raw * self.EVAL_OUTPUT_SCALE


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_positions(12000, rng)
    xva, yva = make_positions(500, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    model = TinyNNUE()
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, nnue_loss)
    bs = 128
    t0 = time.time()
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        if epoch % 4 and epoch != 1:
            continue
        vl = nnue_loss(model, xva, yva).item()
        print(f"[epoch {epoch:02d}] train_loss={tot / nb:.3e} val_loss={vl:.3e} ({time.time() - t0:.1f}s)")

    ev = NNUEEvaluator(model)
    cp = ev.evaluate(xva)
    mae = mx.mean(mx.abs(cp - yva)).item()
    base = mx.mean(mx.abs(yva)).item()
    adjudicated = mx.mean((mx.abs(cp) >= 1000).astype(mx.float32)).item()
    true_adj = mx.mean((mx.abs(yva) >= 1000).astype(mx.float32)).item()
    print(f"eval check: centipawn MAE={mae:.1f} (predict-0 baseline {base:.1f})")
    print(f"eval check: |eval|>=1000cp on {adjudicated:.1%} of positions (true {true_adj:.1%})")
    print("sample (pred_cp, true_cp):", [(round(a, 1), round(b, 1)) for a, b in zip(cp[:5].tolist(), yva[:5].tolist())])


if __name__ == "__main__":
    main()
