"""Two-layer graph attention network (GAT) for semi-supervised node classification.

Graph: a 3-community stochastic block model (600 nodes, p_in=0.04, p_out=0.004)
with self-loops.  Node features are 16-d and only weakly informative (class mean
shift 0.35 sd), so the graph has to do most of the work.  Only 10 labelled nodes
per class are used for the loss; accuracy is reported on the other 570 nodes.
Edge softmax is done per destination node with scatter ops (.at[].maximum /
.at[].add); the per-node max is taken under stop_gradient as usual.
Full-graph Adam steps, one per epoch; ce_drop is the labelled-node loss of that
step (dropout on), accuracies come from a separate eval-mode pass after it.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)
N_PER, K, F = 200, 3, 16
N = N_PER * K
labels_np = np.repeat(np.arange(K), N_PER)
same = labels_np[:, None] == labels_np[None, :]
prob = np.where(same, 0.04, 0.004)
adj = np.triu(rng.random((N, N)) < prob, 1)
adj = adj | adj.T | np.eye(N, dtype=bool)
src_np, dst_np = np.nonzero(adj)          # message flows src -> dst
means = rng.standard_normal((K, F)) * 0.35
x_np = (means[labels_np] + rng.standard_normal((N, F))).astype(np.float32)

train_idx = np.concatenate([rng.choice(np.where(labels_np == c)[0], 10, replace=False) for c in range(K)])
test_mask = np.ones(N, dtype=bool); test_mask[train_idx] = False

X, Y = mx.array(x_np), mx.array(labels_np.astype(np.int32))
SRC, DST = mx.array(src_np.astype(np.int32)), mx.array(dst_np.astype(np.int32))
TR, TE = mx.array(train_idx.astype(np.int32)), mx.array(np.where(test_mask)[0].astype(np.int32))


class GATLayer(nn.Module):
    def __init__(self, d_in, d_out, heads):
        super().__init__()
        self.heads, self.d_out = heads, d_out
        self.proj = nn.Linear(d_in, heads * d_out, bias=False)
        scale = (2.0 / (d_out + 1)) ** 0.5
        self.att_src = mx.random.normal((heads, d_out)) * scale
        self.att_dst = mx.random.normal((heads, d_out)) * scale
        self.bias = mx.zeros((heads * d_out,))

    def __call__(self, h):
        n = h.shape[0]
        wh = self.proj(h).reshape(n, self.heads, self.d_out)
        s_src = (wh * self.att_src).sum(-1)            # (n, H)
        s_dst = (wh * self.att_dst).sum(-1)
        e = nn.leaky_relu(s_src[SRC] + s_dst[DST], negative_slope=0.2)   # (E, H)
        e_max = mx.stop_gradient(mx.full((n, self.heads), -1e9).at[DST].maximum(e))
        w = mx.exp(e - e_max[DST])
        denom = mx.zeros((n, self.heads)).at[DST].add(w)
        alpha = w / denom[DST]                          # softmax over incoming edges
        out = mx.zeros((n, self.heads, self.d_out)).at[DST].add(alpha[..., None] * wh[SRC])
        return out.reshape(n, -1) + self.bias, alpha


class GAT(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = GATLayer(F, 8, heads=4)
        self.l2 = GATLayer(32, K, heads=1)
        self.drop = nn.Dropout(0.3)

    def __call__(self, x):
        h, _ = self.l1(self.drop(x))
        h = nn.elu(h)
        logits, alpha = self.l2(self.drop(h))
        return logits, alpha


def loss_fn(model):
    logits, _ = model(X)
    return nn.losses.cross_entropy(logits[TR], Y[TR], reduction="mean")


model = GAT()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=5e-3)
step = nn.value_and_grad(model, loss_fn)
deg = np.bincount(dst_np, minlength=N)
print(f"graph: {N} nodes, {len(src_np)} directed edges (incl. self-loops), mean in-degree {deg.mean():.1f}; "
      f"{len(train_idx)} labelled")

for epoch in range(1, 701):
    model.train()
    loss, grads = step(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if epoch % 50 == 0 or epoch == 1:
        model.eval()
        logits, alpha = model(X)
        pred = mx.argmax(logits, axis=-1)
        tr_acc = (pred[TR] == Y[TR]).mean().item()
        te_acc = (pred[TE] == Y[TE]).mean().item()
        # mean attention entropy over incoming edges, in nats (uniform = log(deg))
        ent = mx.zeros((N,)).at[DST].add(-(alpha[:, 0] * mx.log(alpha[:, 0] + 1e-12)))
        print(f"epoch={epoch:03d} ce_drop={loss.item():.4f} acc_lab={tr_acc:.2f} acc_unlab={te_acc:.3f} "
              f"attn_H={ent.mean().item():.3f} (uniform {np.log(deg).mean():.3f})")
