"""Ordinal grade regression (5 ordered grades) with a cumulative-logit head.

Model = small MLP scorer + ordered cutpoints; a loss head wraps the model and
computes the cumulative link negative log-likelihood.  Dense weights are trained
with an Adam-atan2 optimizer that works on name -> array dictionaries.
"""

import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

mx.random.seed(7)

N_FEAT = 8
N_GRADES = 5
N_TRAIN = 2048
N_VAL = 512
BATCH = 64
STEPS = 400
LR = 1e-2


def make_data(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, N_FEAT), key=k1)
    w = mx.array([1.2, -0.8, 0.5, 0.0, 0.9, -0.3, 0.0, 0.4])
    latent = x @ w + 0.3 * mx.random.normal((n,), key=k2)
    cuts = mx.array([-1.3, -0.45, 0.45, 1.3])
    y = mx.sum(latent[:, None] > cuts[None, :], axis=1).astype(mx.int32)
    return x, y


class GradeNet(nn.Module):
    def __init__(self, d_in, hidden, n_grades):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.score = nn.Linear(hidden, 1)
        self.cut_first = mx.array([-1.0])
        self.cut_gaps = mx.zeros((n_grades - 2,))

    def cutpoints(self):
        gaps = nn.softplus(self.cut_gaps) + 1e-3
        return mx.concatenate([self.cut_first, self.cut_first + mx.cumsum(gaps)])

    def __call__(self, x):
        h = nn.gelu(self.fc1(x))
        h = nn.gelu(self.fc2(h))
        return self.score(h).squeeze(-1)


class CumulativeLinkHead(nn.Module):
    """Wraps the scorer and turns scores into a cumulative-logit NLL."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def class_probs(self, x):
        s = self.model(x)
        c = self.model.cutpoints()
        cdf = mx.sigmoid(c[None, :] - s[:, None])
        ones = mx.ones((s.shape[0], 1))
        zeros = mx.zeros((s.shape[0], 1))
        upper = mx.concatenate([cdf, ones], axis=1)
        lower = mx.concatenate([zeros, cdf], axis=1)
        return mx.maximum(upper - lower, 1e-7)

    def __call__(self, x, y):
        p = self.class_probs(x)
        picked = mx.take_along_axis(p, y[:, None], axis=1).squeeze(-1)
        return -mx.mean(mx.log(picked))


class AdamAtan2:
    """Adam with atan2(m_hat, sqrt(v_hat)) in place of m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, learning_rate=1e-3, betas=(0.9, 0.999), weight_decay=0.01):
        self.lr = learning_rate
        self.beta1, self.beta2 = betas
        self.weight_decay = weight_decay
        self.step_count = 0
        self.state = {}

    def update_param(self, param, grad, name):
        if name not in self.state:
            self.state[name] = {"m": mx.zeros(param.shape), "v": mx.zeros(param.shape)}
        st = self.state[name]
        m = self.beta1 * st["m"] + (1 - self.beta1) * grad
        v = self.beta2 * st["v"] + (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1 ** self.step_count)
        v_hat = v / (1 - self.beta2 ** self.step_count)
        step = mx.arctan2(m_hat, mx.sqrt(v_hat))
        if self.weight_decay > 0:
            param = param * (1 - self.lr * self.weight_decay)
        param = param - self.lr * step
        st["m"], st["v"] = m, v
        return param

    def update(self, model_params, gradients):
        self.step_count += 1
        out = {}
        for name, param in model_params.items():
            if name in gradients:
                out[name] = self.update_param(param, gradients[name], name)
            else:
                out[name] = param
        return out


def evaluate(head, x, y):
    p = head.class_probs(x)
    pred = mx.argmax(p, axis=1)
    acc = mx.mean(pred == y).item()
    mae = mx.mean(mx.abs(pred - y).astype(mx.float32)).item()
    nll = head(x, y).item()
    return nll, acc, mae


def main():
    key = mx.random.key(0)
    ktr, kva = mx.random.split(key)
    xtr, ytr = make_data(N_TRAIN, ktr)
    xva, yva = make_data(N_VAL, kva)

    counts = [int(mx.sum(ytr == g).item()) for g in range(N_GRADES)]
    majority = max(range(N_GRADES), key=lambda g: counts[g])
    base_acc = mx.mean(yva == majority).item()
    print(f"grade counts (train): {counts}  majority-grade val acc: {base_acc:.3f}")

    model = GradeNet(N_FEAT, 32, N_GRADES)
    head = CumulativeLinkHead(model)
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"parameters: {n_params}")

    optimizer = AdamAtan2(learning_rate=LR, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(head, head.__call__)

    nll, acc, mae = evaluate(head, xva, yva)
    print(f"init   | val nll {nll:.4f} | val acc {acc:.3f} | val MAE {mae:.3f}")

    t0 = time.time()
    running = 0.0
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        xb, yb = xtr[idx], ytr[idx]
        loss, grads = loss_and_grad(xb, yb)

        model_params = head.model.parameters()
        updated_params = optimizer.update(model_params, grads)
        head.model.update(updated_params)

        mx.eval(head.parameters(), optimizer.state, loss)
        running += loss.item()
        if step % 50 == 0:
            print(f"step {step:4d} | train nll {running / 50:.4f} | cuts {[round(c, 2) for c in model.cutpoints().tolist()]}")
            running = 0.0
        if step % 200 == 0:
            nll, acc, mae = evaluate(head, xva, yva)
            print(f"eval   | val nll {nll:.4f} | val acc {acc:.3f} | val MAE {mae:.3f}")

    nll, acc, mae = evaluate(head, xva, yva)
    print(f"final  | val nll {nll:.4f} | val acc {acc:.3f} (majority {base_acc:.3f}) | val MAE {mae:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
