# Two-stage-style proposal scorer: per-position features plus a small set of
# learned "pattern" embeddings tiled over positions (as in DINO two-stage).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
D, NPAT, NPOS = 32, 4, 12


class ProposalScorer(nn.Module):
    def __init__(self, d, n_pat):
        super().__init__()
        self.n_pat = n_pat
        self.inp = nn.Linear(6, d)
        self.pat_embed = nn.Embedding(n_pat, d)
        # re-initialise the pattern table with N(0, 1)
        self.pat_embed = nn.init.normal()(self.pat_embed.weight)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

    def __call__(self, x):  # x: (B, NPOS, 6)
        B, P, _ = x.shape
        h = self.inp(x)                                     # (B, P, d)
        h = mx.repeat(h[:, :, None, :], self.n_pat, axis=2)  # (B, P, n_pat, d)
        pats = self.pat_embed.weight[None, None]             # (1, 1, n_pat, d)
        return self.head(h + pats).squeeze(-1)              # (B, P, n_pat)


def make_batch(n):
    x = mx.random.normal((n, NPOS, 6))
    w = mx.array([[1.0, -0.5, 0.3, 0.0, 0.8, -1.0]]).T
    base = (x @ w).squeeze(-1)                                   # (n, P)
    shift = mx.array([-1.0, 0.0, 0.5, 1.5])
    y = (base[..., None] + shift > 0).astype(mx.float32)          # (n, P, NPAT)
    return x, y


model = ProposalScorer(D, NPAT)
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(512)
t0 = time.time()
for it in range(1, 601):
    x, y = make_batch(64)
    loss, g = step(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 100 == 0 or it == 1:
        acc = ((model(xv) > 0) == (yv > 0.5)).astype(mx.float32).mean().item()
        print(f"it {it:4d}  bce {loss.item():.4f}  val_acc {acc:.3f}  ({time.time()-t0:.1f}s)")
print("done")
