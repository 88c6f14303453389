"""Behaviour cloning of a scripted controller on a toy 1-D navigation task."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

OBS, ACTIONS = 6, 3   # actions: left / stay / right


def expert_dataset(n, key):
    obs = mx.random.uniform(-1, 1, (n, OBS), key=key)
    # expert moves toward the goal: sign of (goal - position)
    delta = obs[:, 1] - obs[:, 0]
    act = mx.where(delta < -0.1, 0, mx.where(delta > 0.1, 2, 1))
    return obs, act


class Agent:
    def __init__(self, lr=1e-2):
        self.policy = nn.Sequential(
            nn.Linear(OBS, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, ACTIONS)
        )
        # start from zero biases, as in the reference implementation
        self.policy.apply(nn.init.constant(0.0))
        self.opt = optim.Adam(learning_rate=lr)
        self.state = [self.policy.state, self.opt.state]
        self._loss_and_grad = nn.value_and_grad(self.policy, self.bc_loss)
        self._step = mx.compile(self._raw_step, inputs=self.state, outputs=self.state)

    def bc_loss(self, obs, act):
        return nn.losses.cross_entropy(self.policy(obs), act, reduction="mean")

    def _raw_step(self, obs, act):
        loss, grads = self._loss_and_grad(obs, act)
        self.opt.update(self.policy, grads)
        return loss

    def update(self, obs, act):
        loss = self._step(obs, act)
        mx.eval(self.state)
        return loss.item()

    def act_accuracy(self, obs, act):
        return (mx.argmax(self.policy(obs), axis=-1) == act).astype(mx.float32).mean().item()


def main():
    mx.random.seed(0)
    obs, act = expert_dataset(4096, mx.random.key(0))
    test_obs, test_act = expert_dataset(1024, mx.random.key(1))
    agent = Agent()
    for epoch in range(5):
        for s in range(0, 4096, 256):
            loss = agent.update(obs[s : s + 256], act[s : s + 256])
        w_norm = mx.linalg.norm(agent.policy.layers[0].weight).item()
        print(f"epoch {epoch} bc loss {loss:.4f} test acc {agent.act_accuracy(test_obs, test_act):.3f}"
              f" |W0| {w_norm:.3f}")


if __name__ == "__main__":
    main()
