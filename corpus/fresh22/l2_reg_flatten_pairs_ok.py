# AlphaZero-style policy/value training on synthetic "positions".
# Targets come from a fixed random teacher; loss = policy CE + value MSE + c*||w||^2
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

N_FEAT, N_MOVES = 64, 20
N_POS, BATCH, EPOCHS = 4096, 128, 12

# fixed teacher that produced the self-play targets
Wt = mx.random.normal((N_FEAT, N_MOVES)) * 0.4
vt = mx.random.normal((N_FEAT,)) * 0.2
boards = (mx.random.uniform(shape=(N_POS, N_FEAT)) < 0.3).astype(mx.float32)
target_pi = mx.softmax(boards @ Wt, axis=-1)
target_v = mx.tanh(boards @ vt)


class PolicyValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_FEAT, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.policy_head = nn.Linear(128, N_MOVES)
        self.value_head = nn.Linear(128, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return nn.log_softmax(self.policy_head(h), axis=-1), mx.tanh(self.value_head(h)).squeeze(-1)


model = PolicyValueNet()
mx.eval(model.parameters())
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(model_params, states, policies, values):
    model.update(model_params)
    log_pi, pred_v = model(states)
    p_loss = -mx.mean(mx.sum(policies * log_pi, axis=1))
    v_loss = mx.mean(mx.square(values - pred_v))
    l2_reg = 1e-4  # c parameter from paper
    l2_loss = l2_reg * sum(mx.sum(mx.square(p[1])) for p in tree_flatten(model_params))
    return p_loss + v_loss + l2_loss, (p_loss, v_loss)


grad_fn = mx.value_and_grad(loss_fn)


def bar(i, n, width=24):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + "]"


n_batches = N_POS // BATCH
for epoch in range(EPOCHS):
    perm = mx.random.permutation(N_POS)
    t0 = time.time()
    tot = pl = vl = 0.0
    for b in range(n_batches):
        idx = perm[b * BATCH : (b + 1) * BATCH]
        (loss, (p_loss, v_loss)), grads = grad_fn(
            model.trainable_parameters(), boards[idx], target_pi[idx], target_v[idx]
        )
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        tot += loss.item(); pl += p_loss.item(); vl += v_loss.item()
        sys.stdout.write(f"\repoch {epoch + 1}/{EPOCHS} {bar(b + 1, n_batches)} loss={tot / (b + 1):.4f}")
        sys.stdout.flush()
    sys.stdout.write(
        f"\repoch {epoch + 1}/{EPOCHS} {bar(1, 1)} loss={tot / n_batches:.4f} "
        f"policy={pl / n_batches:.4f} value={vl / n_batches:.4f} ({time.time() - t0:.1f}s)\n"
    )
print("training complete")
