"""Stop 77's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` leaves out groups still by design: groups of vectors that are all zero at
  every look (fresh241 `lockkeeper_tidepool_moe_ok`: an aux-loss-free router's correction
  bias, read only by a stop-gradient top-k) and groups that moved at an earlier look (fresh240
  `tramline_junction_heads_ok`: a probe trained in stage A, left out of stage B's loss);
- the looks inside a real MLX program name both kinds (`blank`, `moved_before`).

Cost: < 1 s (real MLX arrays, no process).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from probe_records import Records
from test_stop71_rules import look

from mlxprobe.inside.params import ParamWatch
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(looks: list[dict]) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    return RawResult(records=records + looks, exit_code=0, watched=True)


def with_(record: dict, **extra: list[str]) -> dict:
    return {**record, **extra}


def test_groups_of_zero_vectors_at_every_look_are_no_part_that_fails() -> None:
    still = ["blocks.0.moe.router", "blocks.1.moe.router"]
    blank = [with_(look(s, still), blank=still) for s in (5, 15, 25, 35)]
    assert classify(run(blank)).label == "pass"


def test_a_group_blank_at_some_looks_only_or_beside_another_still_judges() -> None:
    still = ["blocks.0.moe.router"]
    some = [with_(look(s, still), blank=still if s > 5 else []) for s in (5, 15, 25, 35)]
    assert classify(run(some)).label == "no_update:part"
    more = [with_(look(s, [*still, "head"]), blank=still) for s in (5, 15, 25, 35)]
    verdict = classify(run(more))
    assert verdict.label == "no_update:part"
    assert verdict.evidence["never_changed"] == ["head"]


def test_a_group_that_moved_at_an_earlier_look_is_no_part_that_fails() -> None:
    stage_a = [look(s, []) | {"compared": 20} for s in (2, 4)]
    stage_b = [with_(look(s, ["probe"]), moved_before=["probe"]) for s in (10, 20, 30)]
    assert classify(run(stage_a + stage_b)).label == "pass"
    never = [look(s, ["probe"]) for s in (10, 20, 30)]
    assert classify(run(stage_a + never)).label == "no_update:part"


class Router(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Linear(4, 3, bias=False)
        self.correction = mx.zeros((3,))  # read only by a stop-gradient top-k

    def __call__(self, x: mx.array) -> mx.array:
        scores = mx.softmax(self.classifier(x), axis=-1)
        top = mx.stop_gradient(mx.argmax(scores + self.correction, axis=-1, keepdims=True))
        return mx.take_along_axis(scores, top, axis=-1)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router()
        self.probe = nn.Linear(4, 1)
        self.norm = nn.LayerNorm(4)  # gains of 1, biases of 0: never blank


def steps(net: Net, loss, count: int, watch: ParamWatch) -> None:
    opt = optim.Adam(learning_rate=1e-2)
    grad = nn.value_and_grad(net, loss)
    x = mx.random.normal((8, 4))
    for step in range(count):
        _, grads = grad(net, x)
        opt.update(net, grads)
        watch.saw_model(net, stepped=True)
        mx.eval(net.parameters(), opt.state)
        watch.next_at = 0.0
        watch.after_eval((net.parameters(), opt.state), {}, step=step, updates=step)


def test_the_looks_name_zero_vector_groups_and_groups_that_moved_before() -> None:
    mx.random.seed(0)
    net, sink = Net(), Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    mx.eval(net.parameters())
    steps(net, lambda m, x: (m.probe(m.norm(x)) ** 2).mean() + m.router(x).sum(), 3, watch)
    steps(net, lambda m, x: m.router(x).sum(), 3, watch)
    last = sink.got[-1]
    assert last["blank"] == ["router"]
    assert last["moved_before"] == ["norm", "probe"]
    assert "router.classifier" not in last["unchanged"]


def guarded(ends_on_nan: bool = False, finite_after: int = 16,
            looks: list[dict] | None = None) -> RawResult:
    """fresh267 `moraine_gauge_sentinel`'s shape: a glitch batch's `loss=nan grad_norm=nan ->
    update left out` between epoch rows whose training loss falls, to the end."""
    records: list[dict] = []
    for epoch in range(finite_after):
        step = 60 * epoch + 30
        records.append({"kind": "progress", "source": "output", "step": step - 5,
                        "loss": "nan", "metrics": {"loss": "nan", "grad_norm": "nan"},
                        "t": float(step)})
        records.append({"kind": "progress", "source": "output", "step": step, "loss":
                        0.45 * 0.85 ** epoch, "loss_name": "train_mse_std", "metrics": {
                            "val_rmse": 3.9 * 0.9 ** epoch}, "t": step + 0.5})
    if ends_on_nan:
        records.append({"kind": "progress", "source": "output", "step": 10_000, "loss": "nan",
                        "metrics": {"loss": "nan", "grad_norm": "nan"}, "t": 10_000.0})
    return RawResult(records=records + (looks or []), exit_code=0, watched=True)


def test_non_finite_losses_the_program_went_past_to_the_end_are_no_divergence() -> None:
    assert classify(guarded()).label == "pass"


def test_a_run_ending_non_finite_few_finite_after_or_a_non_finite_parameter_diverged() -> None:
    assert classify(guarded(ends_on_nan=True)).label.startswith("diverged")
    assert classify(guarded(finite_after=2)).label.startswith("diverged")
    bad = look(700, []) | {"nonfinite": ["head"]}
    assert classify(guarded(looks=[bad])).label.startswith("diverged")


BELLCAST = [2.8772, 1.4499, 1.4982, 1.7868, 2.0791, 2.3561, 2.5975, 2.8554, 3.0461, 3.2688,
            3.5052, 3.7017, 3.8975, 3.875, 3.8859, 3.9154, 3.8881, 3.8644, 3.882, 3.8642,
            3.8813, 3.8817, 3.8895, 3.8713]


def beta_vae(kl_gives_way: bool = True) -> RawResult:
    """fresh180 `bellcast_partials_betavae_jsonl`'s epoch rows (as run on a 64-core host):
    the KL weight `beta` ramps 0 -> 1 over 13 epochs, then holds."""
    records = [{"kind": "step", "source": "update", "step": i, "t": i / 100}
               for i in range(1, 1130)]
    for epoch, loss in enumerate(BELLCAST, start=1):
        kl = (15.3 * 0.85 ** min(epoch, 13) if kl_gives_way else 2.3 + 0.1 * min(epoch, 13)
              ) + 0.01 * (epoch % 3)
        records.append({"kind": "progress", "source": "output", "step": epoch, "loss": loss,
                        "metrics": {"beta": round(min(epoch - 1, 12) / 12, 3),
                                    "kl_nats": kl}, "t": epoch * 0.47})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_loss_that_rose_with_its_kl_weight_while_the_kl_gave_way_is_not_judged() -> None:
    assert classify(beta_vae()).label == "pass"


def test_the_same_curve_with_no_weighted_term_giving_way_still_judges() -> None:
    assert classify(beta_vae(kl_gives_way=False)).label != "pass"  # read as exploding


def test_a_source_layers_key_and_value_that_never_train_are_a_part_that_fails() -> None:
    """fresh216 `kvshare_gradckpt_source`: the layer shared from, outside a stack or first in
    it, keeps its K/V projections still only when its gradient is cut."""
    assert classify(run([look(s, ["src.k_proj", "src.v_proj"]) for s in (5, 15, 25, 35)])
                    ).label == "no_update:part"
    first = ["layers.0.attn.k_proj", "layers.0.attn.v_proj"]
    assert classify(run([look(s, first) for s in (5, 15, 25, 35)])).label == "no_update:part"
    two = ["a.layers.1.attn.k_proj", "a.layers.1.attn.v_proj", "b.layers.2.attn.k_proj",
           "b.layers.2.attn.v_proj"]
    assert classify(run([look(s, two) for s in (5, 15, 25, 35)])).label == "no_update:part"


def held_out(val_loss: float, test_loss: float) -> RawResult:
    """fresh269 `tidewater_roster_merge`'s epoch rows and its last line (broken: validation
    rows copied from the training rows by oversampling before the split)."""
    records = [{"kind": "progress", "source": "output", "step": e, "loss": 0.7 / e,
                "metrics": {"val_loss": val_loss * 15 / e, "val_acc": 0.9},
                "t": float(e)} for e in range(1, 16)]
    records.append({"kind": "progress", "source": "output", "step": 15, "metrics": {
        "test_loss": test_loss, "test_acc": 0.86}, "t": 16.0})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_test_loss_five_times_the_validation_loss_is_a_leak_across_the_split() -> None:
    verdict = classify(held_out(0.0356, 0.5538))
    assert verdict.label == "wrong_result:split_gap"
    assert verdict.evidence["loss_ratio"] == 5.0


def test_held_out_losses_within_the_corpus_widest_correct_ratio_pass() -> None:
    assert classify(held_out(0.4973, 0.5969)).label == "pass"  # fresh181's 1.20x
    assert classify(held_out(0.1, 0.45)).label == "pass"


def warmups(looks_changed: bool, losses: list[float]) -> RawResult:
    """fresh271 `qsl_bureau_twotower`'s shape: `lr 0.00e+00` printed only at the first step
    of each of two warm-ups from 0."""
    records: list[dict] = []
    for i, loss in enumerate(losses):
        metrics = {"learning_rate": 0.0} if i in (0, len(losses) // 2) else {}
        records.append({"kind": "progress", "source": "output", "step": 25 * i + 1,
                        "loss": loss, "metrics": metrics, "t": float(i)})
    records += [look(25 * i, []) | {"changed": 30 if looks_changed else 0}
                for i in range(1, 5)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_zero_learning_rate_printed_at_warm_up_starts_of_a_moving_model_is_no_verdict() -> None:
    falling = [7.0, 2.6, 0.56, 0.35, 0.29, 0.25, 0.61, 0.64, 0.58, 0.47, 0.39, 0.35]
    assert classify(warmups(True, falling)).label == "pass"
    assert classify(warmups(True, [7.0, 6.9] * 6)).label == "pass"  # the looks saw it move


def test_a_zero_learning_rate_with_nothing_moving_is_still_no_update() -> None:
    assert classify(warmups(False, [7.0, 6.9] * 6)).label == "no_update:learning_rate"


LOGGED = "".join(f"ERROR harbour_lm: Error in batch {i}: Invalid axis 1 for array with 1 "
                 "dimensions.\n" for i in range(24))


def swallowed(stderr: str) -> RawResult:
    """fresh272 `quayside_skiff_lengths`'s shape: an Adam built, never stepped, 7 epoch lines
    of loss 0.0000, and the step's error logged at every batch."""
    records = [{"kind": "optimizer", "name": "Adam", "t": 0.0}] + [
        {"kind": "progress", "source": "output", "step": 24 * e, "loss": 0.0,
         "metrics": {"tokens": 0.0}, "t": float(e)} for e in (1, 5, 10, 15, 20, 25, 30)]
    return RawResult(records=records, exit_code=0, watched=True, stderr_tail=stderr)


def test_an_error_a_logger_wrote_at_every_batch_is_read_with_its_count() -> None:
    from mlxprobe.judging import tracebacks

    assert tracebacks.most_printed_error(LOGGED) == (
        "Error in batch 0: Invalid axis 1 for array with 1 dimensions.", 24)
    assert tracebacks.most_printed_error("val error: 0.3\nERRORS 3\n") is None


def test_an_idle_optimizer_beside_an_error_printed_at_every_batch_is_no_update() -> None:
    verdict = classify(swallowed(LOGGED))
    assert verdict.label == "no_update:optimizer_idle"
    assert "Invalid axis 1" in verdict.hint
    # 7 losses alone: judged only because the run finished (exit 0) with no update at all
    # (stop 90); they no longer stand for the loop having run
    quiet = classify(swallowed(""))
    assert quiet.label == "no_update:optimizer_idle" and "ran to its end" in quiet.reason
