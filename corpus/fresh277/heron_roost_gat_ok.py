# Heron roost survey: classify each roost site into one of 4 colony types
# from noisy site readings plus the flight-line graph between roosts.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, C, F = 240, 4, 12
colony = rng.integers(0, C, N)
centers = rng.normal(0, 1, (C, F))
feats = centers[colony] * 0.6 + rng.normal(0, 1.0, (N, F))

src, dst = [], []
for i in range(N):
    for j in range(i + 1, N):
        p = 0.08 if colony[i] == colony[j] else 0.006
        if rng.random() < p:
            src += [i, j]
            dst += [j, i]
src += list(range(N))
dst += list(range(N))
edge_index = mx.array(np.array([src, dst], dtype=np.int32))
x = mx.array(feats.astype(np.float32))
y = mx.array(colony.astype(np.int32))
perm = rng.permutation(N)
train_idx = mx.array(perm[:96])
val_idx = mx.array(perm[96:168])
test_idx = mx.array(perm[168:])
print(f"roosts={N} flight_lines={(len(src) - N) // 2} features={F} colony_types={C}")


def glorot(shape):
    fan = shape[-2] + shape[-1]
    lim = (6.0 / fan) ** 0.5
    return mx.random.uniform(-lim, lim, shape)


def segment_softmax(score, index, num_nodes):
    seg_max = mx.full((num_nodes,) + score.shape[1:], -1e9).at[index].maximum(score)
    e = mx.exp(score - seg_max[index])
    seg_sum = mx.zeros((num_nodes,) + score.shape[1:]).at[index].add(e)
    return e / (seg_sum[index] + 1e-16)


class GATConv(nn.Module):
    def __init__(self, in_dim, h_dim, heads=1, concat=True, bias=True,
                 negative_slope=0.2, dropout=0.0):
        super().__init__()
        self.h_dim = h_dim
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.lin_proj = nn.Linear(in_dim, heads * h_dim, bias=False)
        self.att_src = glorot((1, heads, h_dim))
        self.att_dst = glorot((1, heads, h_dim))
        if bias:
            bias_shape = (heads * h_dim) if concat else (h_dim)
            self.bias = mx.zeros(bias_shape)
        if dropout > 0.0:
            self.dropout = nn.Dropout(dropout)

    def __call__(self, x, edge_index):
        H, Cd = self.heads, self.h_dim
        n = x.shape[0]
        h = self.lin_proj(x).reshape(-1, H, Cd)
        a_src = (h * self.att_src).sum(-1)
        a_dst = (h * self.att_dst).sum(-1)
        s, d = edge_index[0], edge_index[1]
        alpha = nn.leaky_relu(a_src[s] + a_dst[d], self.negative_slope)
        alpha = segment_softmax(alpha, d, n)
        if "dropout" in self:
            alpha = self.dropout(alpha)
        msg = mx.expand_dims(alpha, -1) * h[s]
        out = mx.zeros((n, H, Cd)).at[d].add(msg)
        if self.concat:
            out = out.reshape(-1, H * Cd)
        else:
            out = mx.mean(out, axis=1)
        if "bias" in self:
            out = out + self.bias
        return out


class GAT(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GATConv(F, 8, heads=4, concat=True, dropout=0.2)
        self.conv2 = GATConv(8 * 4, C, heads=6, concat=False)
        self.drop = nn.Dropout(0.3)

    def __call__(self, x, edge_index):
        h = self.drop(x)
        h = nn.elu(self.conv1(h, edge_index))
        h = self.drop(h)
        return self.conv2(h, edge_index)


mx.random.seed(3)
model = GAT()
opt = optim.Adam(learning_rate=5e-3)


def loss_fn(m):
    logits = m(x, edge_index)
    return nn.losses.cross_entropy(logits[train_idx], y[train_idx], reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def accuracy(idx):
    model.eval()
    pred = mx.argmax(model(x, edge_index), axis=1)
    model.train()
    return (pred[idx] == y[idx]).astype(mx.float32).mean().item()


t0 = time.time()
for epoch in range(1, 201):
    loss, grads = loss_and_grad(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if epoch % 20 == 0 or epoch == 1:
        print(f"epoch {epoch:3d} loss {loss.item():.4f} train_acc {accuracy(train_idx):.3f} "
              f"val_acc {accuracy(val_idx):.3f}")
print(f"test_acc {accuracy(test_idx):.3f}  ({time.time() - t0:.1f}s)")
