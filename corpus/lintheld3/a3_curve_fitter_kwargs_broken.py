"""Fit a damped oscillator  a * exp(-k t) * cos(w t + phi)  to noisy samples by
plain gradient descent on a parameter dict."""
import mlx.core as core


def oscillator(theta, t):
    return theta["a"] * core.exp(-theta["k"] * t) * core.cos(theta["w"] * t + theta["phi"])


def residual_loss(theta, t, obs):
    return core.mean(core.square(oscillator(theta, t) - obs))


class Fitter:
    def __init__(self, lr=0.05, iters=1500):
        self.lr = lr
        self.iters = iters
        self._loss_and_grad = core.value_and_grad(residual_loss)

    def _descent_step(self, theta, t, obs):
        loss, g = self._loss_and_grad(theta=theta, t=t, obs=obs)
        new = {name: theta[name] - self.lr * g[name] for name in theta}
        return loss, new

    def fit(self, theta, t, obs):
        for it in range(self.iters):
            loss, theta = self._descent_step(theta, t, obs)
            core.eval(loss, theta)
            if it % 300 == 0:
                print(f"iter {it:5d} loss {loss.item():.5f}")
        return theta


def main():
    core.random.seed(11)
    t = core.linspace(0, 6, 200)
    truth = {"a": core.array(1.5), "k": core.array(0.3), "w": core.array(2.0), "phi": core.array(0.4)}
    obs = oscillator(truth, t) + 0.02 * core.random.normal(t.shape)
    init = {"a": core.array(1.0), "k": core.array(0.1), "w": core.array(1.9), "phi": core.array(0.0)}
    fitted = Fitter().fit(init, t, obs)
    print({k: round(v.item(), 3) for k, v in fitted.items()})


if __name__ == "__main__":
    main()
