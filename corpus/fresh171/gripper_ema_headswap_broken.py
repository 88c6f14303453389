# Behaviour cloning for a toy 2-link arm: stage 1 learns joint torques,
# stage 2 bolts on a gripper head and keeps training. EMA weights used for eval.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class EMAModel:
    """Exponential Moving Average of model parameters (shadow weights)."""

    def __init__(self, model, decay=0.999):
        self.decay = decay
        self.shadow = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
        self._backup = None

    def update(self, model):
        for k, v in tree_flatten(model.parameters()):
            if k in self.shadow:
                self.shadow[k] = self.decay * self.shadow[k] + (1 - self.decay) * v
        mx.eval(*self.shadow.values())

    def apply(self, model):
        self._backup = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
        model.load_weights(list(self.shadow.items()))

    def restore(self, model):
        if self._backup is None:
            raise RuntimeError("restore() called without prior apply()")
        model.load_weights(list(self._backup.items()))
        self._backup = None


class ArmPolicy(nn.Module):
    def __init__(self, obs_dim=6, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.torque = nn.Linear(hidden, 2)

    def __call__(self, obs):
        h = self.trunk(obs)
        out = {"torque": self.torque(h)}
        if "gripper" in self:
            out["grip"] = self.gripper(h)[:, 0]
        return out


def make_demos(key, n):
    obs = mx.random.uniform(-1, 1, (n, 6), key=key)
    q, dq, tgt = obs[:, :2], obs[:, 2:4], obs[:, 4:6]
    torque = 2.0 * (tgt - q) - 0.5 * dq            # PD expert
    dist = mx.sqrt(mx.sum((tgt - q) ** 2, axis=1))
    grip = (dist < 0.6).astype(mx.float32)         # close when near target
    return obs, torque, grip


def loss_fn(model, obs, torque, grip, use_grip):
    out = model(obs)
    l = nn.losses.mse_loss(out["torque"], torque)
    if use_grip:
        l = l + nn.losses.binary_cross_entropy(out["grip"], grip, with_logits=True)
    return l


def evaluate(model, ema, data, use_grip):
    ema.apply(model)
    obs, torque, grip = data
    out = model(obs)
    tmse = nn.losses.mse_loss(out["torque"], torque).item()
    acc = None
    if use_grip:
        acc = ((out["grip"] > 0).astype(mx.float32) == grip).mean().item()
    ema.restore(model)
    return tmse, acc


mx.random.seed(3)
k1, k2 = mx.random.split(mx.random.key(11))
train = make_demos(k1, 2048)
val = make_demos(k2, 512)

model = ArmPolicy()
mx.eval(model.parameters())
ema = EMAModel(model, decay=0.95)
opt = optim.Adam(learning_rate=3e-3)

for stage, steps in (("torque", 300), ("torque+grip", 300)):
    use_grip = stage != "torque"
    if use_grip:
        model.gripper = nn.Linear(64, 1)
        mx.eval(model.parameters())
        opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"== stage {stage} ({steps} steps) ==")
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, 2048, (128,))
        loss, grads = step_fn(model, train[0][idx], train[1][idx], train[2][idx], use_grip)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema.update(model)
        if it % 60 == 0:
            tmse, acc = evaluate(model, ema, val, use_grip)
            extra = f"  grip_acc={acc:.3f}" if acc is not None else ""
            print(f"[{stage}] it {it:3d}  train={loss.item():.4f}  ema_val_torque_mse={tmse:.4f}{extra}")

tmse, acc = evaluate(model, ema, val, True)
print(f"final EMA policy: torque mse {tmse:.4f}, gripper accuracy {acc*100:.1f}%")
