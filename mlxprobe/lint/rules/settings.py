"""MLX084: a training setting that changes the update (gradient clipping, weight decay,
warm-up, accumulation, momentum, label smoothing) declared in a config and never read.

Job: collect the settings a module declares (a `@dataclass` field, a name in a class body
whose name says it holds settings (`*Config`, `*Args`, `*Params`, `*Settings`,
`*HParams`), an `argparse` option, a key of a dict literal bound to a config-like name) and
report each one whose name says it shapes the update and that nothing in the module reads:
no `cfg.max_grad_norm`, no `["max_grad_norm"]`/`.get("max_grad_norm")`, no
`getattr(cfg, "max_grad_norm")`, no bare name. The run then trains without it, silently:
the config validates and nobody is told. A module that hands its config on whole
(`asdict(cfg)`, `vars(args)`, `**cfg`, `cfg.__dict__`, `json.dump(cfg ...)`) may read it
elsewhere and is left alone.
Measured (mlx 0.32.4 CPU, failure corpus fresh9 `b9_max_grad_norm_config_ignored`, Soup
issue 749: `training.max_grad_norm` accepted and never applied on the MLX path): an SGD
loop whose config asks for `max_grad_norm = 1.0`: the loss reached 4e8 by step 20 and NaN
from step 23; applying `optim.clip_grad_norm(grads, cfg.max_grad_norm)` it fell 1.13 ->
0.05.

MLX085: an option given a default (`add_argument("--learning-rate", default=1e-5)`) in a
module that fills its options from a config file only where they are None (`if
getattr(args, k, None) is None: setattr(args, k, v)`, `if args.get(k) is None: args[k] =
v`): the option is never None, so the config's value for it never applies, and the run
trains with the parser's default. Measured (mlx 0.32.4 CPU, failure corpus fresh8
`a8_cli_default_shadows_config_lr`, mlx-examples' LoRA config loading): the config's
learning_rate 3e-3 shadowed by a default of 1e-5: loss 0.99 -> 0.96 over 600 steps; with no
default it fell to 0.017.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments
from ..names import last_name
from ..source import SourceFile
from .base import Rule

KNOB = re.compile(r"(?i)^(?:max_grad_norm|grad_norm_clip|max_norm|\w*clip\w*|weight_decay|"
                  r"warmup\w*|\w*warmup_steps|grad(?:ient)?_accum\w*|accum\w*_steps|"
                  r"momentum|nesterov|label_smoothing)$")
KNOB_WORDS = ("grad_norm", "max_norm", "clip_", "_clip", "weight_decay", "warmup", "accum",
              "momentum", "nesterov", "label_smoothing", "grad-norm", "max-norm", "clip-",
              "-clip", "weight-decay", "label-smoothing")
SETTINGS_WORDS = ("dataclass", "add_argument", "config", "Config", "cfg")
# a knob declared: a class-body field, an option, a dict key (checked last: a regex pass)
DECLARATION = re.compile(r"^[ \t]+(?:max_grad_norm|grad_norm_clip|max_norm|\w*clip\w*|"
                         r"weight_decay|warmup\w*|grad(?:ient)?_accum\w*|accum\w*_steps|"
                         r"momentum|nesterov|label_smoothing)\s*[:=]|add_argument\(|"
                         r"[\"'](?:max_grad_norm|\w*clip\w*|weight_decay|warmup\w*|"
                         r"\w*accum\w*|momentum|label_smoothing)[\"']\s*:", re.MULTILINE)
SETTINGS_CLASS = re.compile(r"(?i)(config|args|params|settings|hparams|options)$")
SETTINGS_NAME = re.compile(r"(?i)^(cfg|config|conf|hparams|hps|params|settings|args|"
                           r"\w*_config|\w*_cfg)$")
WHOLE = re.compile(r"asdict\(|vars\(|__dict__|\*\*\s*\w*(?:cfg|conf|args|params|settings)|"
                   r"json\.dumps?\(\s*\w*(?:cfg|conf)|to_dict\(|model_dump\(|OmegaConf|yaml")


def dataclass_fields(node: ast.ClassDef) -> Iterator[tuple[str, ast.AST]]:
    """The names a settings class declares in its body (annotated or assigned)."""
    decorated = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
    if not (decorated or SETTINGS_CLASS.search(node.name)):
        return
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            yield statement.target.id, statement
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    yield target.id, statement


def option_dest(call: ast.Call) -> str | None:
    """`add_argument("--max-grad-norm", ...)`: its dest (`dest=` when given)."""
    for keyword in call.keywords:
        if keyword.arg == "dest" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    flags = [a.value for a in call.args if isinstance(a, ast.Constant)
             and isinstance(a.value, str)]
    long = [f for f in flags if f.startswith("--")] or flags
    return long[0].lstrip("-").replace("-", "_") if long else None


def options(source: SourceFile) -> Iterator[tuple[str, ast.AST]]:
    for call in source.of_type(ast.Call):
        if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument":
            dest = option_dest(call)
            if dest:
                yield dest, call


def dict_keys(source: SourceFile) -> Iterator[tuple[str, ast.AST]]:
    """Keys of a dict literal bound to a config-like name (`config = {"clip": 1.0}`), unless
    the name is handed whole to an imported function, which may read any key (fresh255
    `lockkeeper_tally_mlxlm_resume`, correct: `sched_cfg = {..., "warmup": 40}` given to
    mlx-lm's `build_schedule(sched_cfg)`); a function of the module itself shows its reads."""
    handed = {a.id for c in source.of_type(ast.Call) if source.imports.resolve(c.func)
              for a in [*c.args, *(k.value for k in c.keywords)] if isinstance(a, ast.Name)}
    for node in source.of_type(ast.Assign):
        named = [t for t in node.targets if isinstance(t, ast.Name)
                 and SETTINGS_NAME.match(t.id) and t.id not in handed]
        if named and isinstance(node.value, ast.Dict):
            for key in node.value.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value, key


def declared(source: SourceFile) -> Iterator[tuple[str, ast.AST]]:
    for node in source.of_type(ast.ClassDef):
        yield from dataclass_fields(node)
    yield from options(source)
    yield from dict_keys(source)


def reads(source: SourceFile, declaring: set[int]) -> set[str]:
    """Every name the module reads as an attribute, a bare name or a string key, apart
    from the declarations themselves."""
    found: set[str] = set()
    for node in source.of_type(ast.Attribute, ast.Name, ast.Constant):
        if id(node) in declaring:
            continue
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


class SettingNeverRead(Rule):
    """MLX084: `max_grad_norm: float = 1.0` in a config nobody reads."""

    id = "MLX084"
    anchors = KNOB_WORDS

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(w in text for w in KNOB_WORDS) and any(w in text for w in SETTINGS_WORDS) \
            and WHOLE.search(text) is None and DECLARATION.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        knobs = [(name, node) for name, node in declared(source) if KNOB.match(name)]
        if not knobs:
            return
        declaring = {id(n) for _, n in knobs} | {id(n.target) for _, n in knobs
                                                  if isinstance(n, ast.AnnAssign)}
        declaring |= {id(t) for _, n in knobs if isinstance(n, ast.Assign) for t in n.targets}
        declaring |= {id(a) for _, n in knobs if isinstance(n, ast.Call) for a in n.args}
        used = reads(source, declaring)
        for name, node in knobs:
            if name not in used and not off_and_never_set(source, name, node):
                yield self.hit(source, node)


def off_and_never_set(source: SourceFile, name: str, node: ast.AST) -> bool:
    """A settings class's field whose default switches it off (`label_smoothing: float =
    0.0`, None, False, `grad_accum: int = 1`) and that nothing in the module sets (no
    `name=` keyword, no `x.name = ...`, no `**` into a call): the run trains as declared,
    so the unread field changes nothing (fresh235 `quayside_manifest_microbatch_ok`). A
    command-line option may be set by its user and is always read for."""
    value = node.value if isinstance(node, (ast.AnnAssign, ast.Assign)) else None
    offs = (None, False, 0, 1) if "accum" in name.lower() else (None, False, 0)
    off = isinstance(value, ast.Constant) and value.value in offs  # 1 micro-batch: none
    return off and not any(
        any(k.arg in (name, None) for k in c.keywords) for c in source.of_type(ast.Call)) \
        and not any(isinstance(t, ast.Attribute) and t.attr == name
                    for t, _ in assignments(source.of_type(ast.Assign)))


FILL_TEXT = re.compile(r"is None:\s*\n\s*(?:setattr\(|\w+\[\w+\] = )")


def unset_test(test: ast.AST) -> bool:
    """`getattr(args, k, None) is None`, `args.get(k) is None`, `args[k] is None`."""
    if not (isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Is)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None):
        return False
    read = test.left
    if isinstance(read, ast.Subscript):
        return True
    return isinstance(read, ast.Call) and last_name(read.func) in ("getattr", "get")


def fills(loop: ast.For) -> bool:
    """A loop over a config's items that sets each option still None."""
    return any(isinstance(s, ast.If) and unset_test(s.test) and any(
        isinstance(n, ast.Assign) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))
        for n in s.body) for s in loop.body)


def defaulted(source: SourceFile) -> Iterator[ast.keyword]:
    """`default=<not None>` of each `add_argument` call."""
    for _, call in options(source):
        for keyword in call.keywords:
            if keyword.arg == "default" and not (isinstance(keyword.value, ast.Constant)
                                                 and keyword.value.value is None):
                yield keyword


class DefaultHidesConfig(Rule):
    """MLX085: `add_argument("--lr", default=1e-5)` where the config fills options that are
    None."""

    id = "MLX085"
    anchors = ("add_argument",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "add_argument" in text and "default=" in text and \
            FILL_TEXT.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if any(fills(loop) for loop in source.of_type(ast.For)):
            for keyword in defaulted(source):
                yield self.hit(source, keyword.value)
