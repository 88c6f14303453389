"""MLX069 on small programs: a forward that sends a layer's output through NumPy and back;
and the near misses that stay silent (the same arithmetic in mx ops, a helper on the raw
inputs, a helper whose result keeps a live path)."""

from __future__ import annotations

from lint_snippets import fired

NET = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)

    def norm(self, h):
        {norm}

    def __call__(self, x):
        {forward}
"""
HOST = "h_np = np.array(h)\n        return mx.array((h_np - h_np.mean(0)) / h_np.std(0))"


def test_mlx069_a_layer_output_through_numpy_and_back() -> None:
    code = NET.format(norm=HOST, forward="return self.head(self.norm(self.feat(x)))")
    assert fired(code, "MLX069") == [13]
    code = NET.format(norm=HOST, forward="h = self.feat(x)\n        return self.head(self.norm(h))")
    assert fired(code, "MLX069") == [14]


def test_mlx069_silent_on_mx_ops_on_raw_inputs_and_a_live_path() -> None:
    mx_ops = "return (h - h.mean(0)) / h.std(0)"
    assert fired(NET.format(norm=mx_ops, forward="return self.head(self.norm(self.feat(x)))"),
                 "MLX069") == []
    assert fired(NET.format(norm=HOST, forward="return self.head(self.feat(self.norm(x)))"),
                 "MLX069") == []
    live = "scale = mx.array(np.array(h).std())\n        return h / scale"
    assert fired(NET.format(norm=live, forward="return self.head(self.norm(self.feat(x)))"),
                 "MLX069") == []
