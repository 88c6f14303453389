# REINFORCE on a hand-written CartPole (no gym dependency)
import math
import random

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class CartPole:
    """Classic cart-pole, same constants as gym CartPole-v1."""

    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.gravity, self.masscart, self.masspole = 9.8, 1.0, 0.1
        self.total_mass = self.masscart + self.masspole
        self.length, self.force_mag, self.tau = 0.5, 10.0, 0.02
        self.polemass_length = self.masspole * self.length
        self.theta_limit = 12 * 2 * math.pi / 360
        self.x_limit = 2.4

    def reset(self):
        self.state = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.t = 0
        return np.array(self.state, dtype=np.float32)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        c, s = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * s) / self.total_mass
        thetaacc = (self.gravity * s - c * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * c**2 / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * c / self.total_mass
        x += self.tau * x_dot
        x_dot += self.tau * xacc
        theta += self.tau * theta_dot
        theta_dot += self.tau * thetaacc
        self.state = [x, x_dot, theta, theta_dot]
        self.t += 1
        terminated = abs(x) > self.x_limit or abs(theta) > self.theta_limit
        truncated = self.t >= 500
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated


class Policy(nn.Module):
    def __init__(self, num_layers, input_dim, hidden_dim, output_dim):
        super().__init__()
        sizes = [input_dim] + [hidden_dim] * num_layers + [output_dim]
        self.layers = [nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)

    def get_action(self, obs):
        logits = self(obs)
        return mx.random.categorical(logits).item()


def discount_cumsum(rewards, gamma):
    out, running = [], 0.0
    for r in reversed(rewards):
        running = r + gamma * running
        out.append(running)
    out = np.array(out[::-1], dtype=np.float32)
    return mx.array((out - out.mean()) / (out.std() + 1e-8))


def compute_loss(observations, actions, rewards):
    log_probs = get_log_probs(agent, observations, actions)
    return mx.sum(-log_probs * rewards)


def get_log_probs(agent, observations, actions):
    logits = agent(observations)
    return nn.log_softmax(logits)[mx.arange(actions.size), actions]


def train(env, agent, optimizer, loss_and_grad_fn, n_episodes):
    returns = []
    for episode in range(n_episodes):
        observations, actions, rewards = [], [], []
        obs = env.reset()
        while True:
            observations.append(obs)
            action = agent.get_action(mx.array(obs))
            obs, reward, terminated, truncated = env.step(action)
            actions.append(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        observations = mx.array(np.stack(observations))
        actions = mx.array(actions)
        discounted = discount_cumsum(rewards, gamma=0.99)
        loss, grads = loss_and_grad_fn(observations, actions, discounted)
        optimizer.update(agent, grads)
        mx.eval(agent.parameters(), optimizer.state)
        returns.append(sum(rewards))
        if episode % 10 == 0:
            print(f"Episode {episode} reward: {np.mean(returns[-20:]):.1f}")


if __name__ == "__main__":
    mx.random.seed(3)
    env = CartPole(seed=3)
    agent = Policy(num_layers=1, input_dim=4, hidden_dim=64, output_dim=2)
    mx.eval(agent.parameters())
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_and_grad_fn = nn.value_and_grad(agent, compute_loss)
    train(env, agent, optimizer, loss_and_grad_fn, n_episodes=300)
