# Behaviour cloning + value regression for a tiny actor-critic net (ported from a PyTorch
# script that did `loss = torch.mean(p_losses + v_losses); loss.backward()`).
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N_OBS, N_ACT = 8, 4

# synthetic "expert" data
W_pi = mx.random.normal((N_OBS, N_ACT))
w_v = mx.random.normal((N_OBS,))
obs = mx.random.normal((2048, N_OBS))
acts = mx.argmax(obs @ W_pi, axis=-1)
rets = obs @ w_v + 0.1 * mx.random.normal((2048,))


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(N_OBS, 32)
        self.pi = nn.Linear(32, N_ACT)
        self.v = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.tanh(self.body(x))
        return self.pi(h), self.v(h).squeeze(-1)


def per_sample_losses(model, o, a, r):
    logits, value = model(o)
    p_losses = nn.losses.cross_entropy(logits, a, reduction="none")
    v_losses = 0.5 * (value - r) ** 2
    return p_losses, v_losses


def total_loss(model, o, a, r):
    p_losses, v_losses = per_sample_losses(model, o, a, r)
    return mx.mean(p_losses + v_losses)


model = ActorCritic()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, total_loss)

BS = 64
for upd in range(1, 601):
    idx = mx.random.randint(0, obs.shape[0], (BS,))
    o, a, r = obs[idx], acts[idx], rets[idx]
    loss, grads = loss_and_grad(model, o, a, r)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if upd % 50 == 0:
        p, v = per_sample_losses(model, obs[:512], acts[:512], rets[:512])
        print(f"upd {upd:04d} | loss {loss.item():.4f} | pi {p.mean().item():.4f} | v {v.mean().item():.4f}")
