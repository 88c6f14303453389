# Non-negative matrix factorisation of a synthetic document-term count matrix
# with the generalised KL (Poisson) objective. W, H are softplus of raw arrays.
# Progress is logged in Apache combined-access-log style.
import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(11)
DOCS, TERMS, K = 300, 120, 6
H_true = np.zeros((K, TERMS), np.float32)
for k in range(K):                       # each topic owns a block of 20 terms + light background
    H_true[k] = rs.gamma(0.3, 0.02, TERMS)
    H_true[k, k * 20:(k + 1) * 20] += rs.gamma(2.0, 0.5, 20)
H_true /= H_true.sum(1, keepdims=True)
W_true = rs.gamma(0.4, 60.0, (DOCS, K)).astype(np.float32)
rate = W_true @ H_true + 1e-3
V = rs.poisson(rate).astype(np.float32)
Vm = mx.array(V)

def gkl(V, R):                           # generalised KL, mean over entries
    return mx.mean(mx.where(V > 0, V * mx.log(mx.maximum(V, 1e-12) / R), 0.0) - V + R)

floor = gkl(Vm, mx.array(rate)).item()   # objective at the TRUE rates (noise floor)

class NMF(nn.Module):
    def __init__(self):
        super().__init__()
        self.w_raw = mx.random.normal((DOCS, K)) * 0.1 + 1.0
        self.h_raw = mx.random.normal((K, TERMS)) * 0.1 - 2.0
    def factors(self):
        return nn.softplus(self.w_raw), nn.softplus(self.h_raw)
    def __call__(self):
        W, H = self.factors()
        return W @ H + 1e-6

mx.random.seed(5)
model = NMF()
mx.eval(model.parameters())
loss_fn = lambda m: gkl(Vm, m())
vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model)
print("# grad max|.| per leaf:", {k: f"{float(mx.abs(v).max()):.3g}" for k, v in tree_flatten(g0)})
print(f"# objective floor at true rates: {floor:.4f}")

def topic_match(H):
    Hn = H / np.linalg.norm(H, axis=1, keepdims=True)
    Tn = H_true / np.linalg.norm(H_true, axis=1, keepdims=True)
    return float((Tn @ Hn.T).max(axis=1).mean())   # best cosine per true topic

opt = optim.Adam(learning_rate=0.05)
t0 = time.time()
for step in range(1, 3001):
    loss, g = vg(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50) or step % 250 == 0:
        W, H = model.factors()
        tm = topic_match(np.array(H))
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        nbytes = int(1000 * (time.time() - t0))
        print(f'127.0.0.1 - nmf [{stamp}] "POST /fit/step/{step:04d} HTTP/1.1" 200 {nbytes} '
              f'"gkl={loss.item():.4f} gap={loss.item() - floor:+.4f} topic_cos={tm:.3f}" "mlx/{mx.__version__}"')
