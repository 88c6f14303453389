"""MLX138: a time-limit truncation stored as terminal for a (1 - done) bootstrap."""

from __future__ import annotations

from lint_snippets import fired

CODE = """
def td_loss(model, s, a, r, s2, done, next_max):
    target = r + 0.9 * (1.0 - done) * next_max
    return nn.losses.mse_loss(mx.take_along_axis(model(s), a[:, None], axis=1)[:, 0], target)

for step in range(1000):
    s2, r, terminated, truncated, info = env.step(a)
    done = terminated or truncated
    buffer.append((s, a, r, s2, float(done)))
    s = env.reset() if done else s2
"""


def test_mlx138_a_truncated_episode_stored_as_terminal():
    assert fired(CODE, "MLX138") == [8]


def test_mlx138_only_terminated_stored_or_the_flag_only_tested_is_clean():
    stored_right = CODE.replace("done = terminated or truncated", "done = terminated").replace(
        "if done else", "if terminated or truncated else")
    only_tested = CODE.replace("float(done)", "float(terminated)")
    no_bootstrap = CODE.replace("(1.0 - done) * ", "")
    for code in (stored_right, only_tested, no_bootstrap):
        assert fired(code, "MLX138") == []
