"""The NVFlare contract of a candidate's client and job scripts, checked on their AST.

Nothing here imports or runs candidate code: the source is parsed with `ast.parse` and
inspected. Each check returns a list of violations, one line each, saying what is missing
and what to write instead; an empty list means the script keeps the contract.

Client script (`<task>/client.py`), NVFlare Client API:

    import nvflare.client as flare                       (any alias, or `from nvflare import client`)
    flare.init()
    while flare.is_running():
        input_model = flare.receive()
        model.load_state_dict(input_model.params)        (strict=True or no strict kwarg)
        if flare.is_evaluate():
            ...                                          (evaluation reply, exempt from the DIFF rule)
        ...train...
        flare.send(FLModel(params=diff, params_type=ParamsType.DIFF,
                           meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))

Job script (`<task>/job.py`): a top-level `def build_recipe(budget, knobs)`; the round and
client counts come from `budget`, never from numeric literals.

Reading the data (afr_box.tasks.shared.site_env): a site's data is read lazily, a batch at a
time, so that a site larger than the container's memory trains as well as a small one:

    from afr_box.tasks.shared.site_env import open_site
    data = open_site(flare.get_site_name())   # nothing is loaded yet
    len(data)                                 # the site's samples
    batch = data.batch(idx)                   # {"x": (len(idx), ...) array, "y": (len(idx),) array}
    data.sample(i)                            # one sample; a ragged input (a bag of tiles) is its own array
    for b in data.batches(500): ...           # consecutive batches, e.g. a metric over the site

Batches are fresh, writable copies (`torch.from_numpy` works); a ragged input comes as a list of
per-sample arrays. Holding a whole large site in memory (one batch of everything, or every
batch kept) exceeds the container's memory limit: the client is killed and the run is a crash
that names its site and the memory limit.
"""
from __future__ import annotations

import ast
from typing import Iterator, Optional

CLIENT_MODULE = "nvflare.client"
# The Client API functions are re-exported by nvflare.client from nvflare.client.api.
_API_MODULES = (CLIENT_MODULE, "nvflare.client.api")

NUM_STEPS_KEY = "NUM_STEPS_CURRENT_ROUND"
DIFF = "DIFF"

# Sends in these branches are not training updates (evaluation results, cross-site model
# submission) and are exempt from the DIFF rule.
_NON_TRAINING_BRANCHES = ("is_evaluate", "is_submit_model")

# Keyword / variable names that carry the budget in a job script, and where they come from.
BUDGET_KWARGS = {
    "num_rounds": 'budget["rounds"]',
    "min_clients": 'budget["clients"]',
    "num_clients": 'budget["clients"]',
}

_SEND_EXAMPLE = ("flare.send(FLModel(params=diff, params_type=ParamsType.DIFF, "
                 "meta={FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}))")


# --------------------------------------------------------------------------- helpers


def _dotted(node: ast.AST) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _Names:
    """Local names bound by absolute imports anywhere in the module -> qualified names."""

    def __init__(self, tree: ast.AST) -> None:
        self.bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.bound[top] = top
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                for alias in node.names:
                    if alias.name != "*":
                        self.bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualify(self, node: ast.AST) -> Optional[str]:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head not in self.bound:
            return dotted
        return self.bound[head] + ("." + rest if rest else "")

    def is_api_call(self, node: ast.AST, fn: str) -> bool:
        return isinstance(node, ast.Call) and self.qualify(node.func) in {f"{m}.{fn}" for m in _API_MODULES}

    def is_nvflare(self, node: ast.AST, suffix: str) -> bool:
        """`node` names `<something in nvflare>.<suffix>` through its imports."""
        q = self.qualify(node)
        return q is not None and q.startswith("nvflare.") and (q == suffix or q.endswith("." + suffix))


def _imports_client_api(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == CLIENT_MODULE or a.name.startswith(CLIENT_MODULE + ".") for a in node.names):
                return True
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module == "nvflare" and any(a.name == "client" for a in node.names):
                return True
            if node.module == CLIENT_MODULE or node.module.startswith(CLIENT_MODULE + "."):
                return True
    return False


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _scope_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            return node
    return node


def _walk_scope(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of one scope, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _show(node: ast.AST, limit: int = 60) -> str:
    """Source text of `node` for a message: one line, bounded."""
    try:
        text = " ".join(ast.unparse(node).split())
    except Exception:  # pathological trees (deep nesting); the message stays useful without it
        return "..."
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pos(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _reaching_value(name: str, use: ast.AST, parents: dict[ast.AST, ast.AST]) -> Optional[ast.AST]:
    """The value of the last plain assignment `name = <value>` before `use`, in use's scope."""
    best, best_pos = None, (-1, -1)
    for node in _walk_scope(_scope_of(use, parents)):
        value = None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            value = node.value
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            value = node.value
        if value is not None and best_pos < _pos(node) <= _pos(use):
            best, best_pos = value, _pos(node)
    return best


def _resolve(node: Optional[ast.AST], use: ast.AST, parents: dict[ast.AST, ast.AST]) -> Optional[ast.AST]:
    if isinstance(node, ast.NamedExpr):
        return node.value
    if isinstance(node, ast.Name):
        return _reaching_value(node.id, use, parents)
    return node


def _call_arg(call: ast.Call, keyword: str, position: int) -> Optional[ast.AST]:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return call.args[position]
    return None


def _loop_nodes(loop: ast.While) -> Iterator[ast.AST]:
    for stmt in loop.body:
        yield from ast.walk(stmt)


def _in_non_training_branch(node: ast.AST, names: _Names, parents: dict[ast.AST, ast.AST]) -> bool:
    """`node` sits in the body of `if flare.is_evaluate():` (or the else of `if not ...:`)."""
    child = node
    while child in parents:
        parent = parents[child]
        if isinstance(parent, ast.If):
            test, negated = parent.test, False
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, negated = test.operand, True
            if any(names.is_api_call(test, fn) for fn in _NON_TRAINING_BRANCHES):
                branch = parent.orelse if negated else parent.body
                if child in branch:
                    return True
        if isinstance(parent, ast.While):
            return False
        child = parent
    return False


def _is_numeric_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _parse(source: str, filename: str) -> tuple[Optional[ast.Module], Optional[str]]:
    try:
        return ast.parse(source, filename=filename), None
    except SyntaxError as exc:
        return None, f"{filename}:{exc.lineno or 0}: does not parse ({exc.msg}); fix the syntax"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"{filename}: does not parse ({type(exc).__name__}); write plain UTF-8 Python source"


# --------------------------------------------------------------------------- client contract


def _check_sent_model(send: ast.Call, filename: str, names: _Names, parents: dict[ast.AST, ast.AST]) -> list[str]:
    where = f"{filename}:{send.lineno}"
    arg = _call_arg(send, "model", 0)
    if arg is None:
        return [f"{where}: send() has no model argument; write {_SEND_EXAMPLE}"]
    ctor = _resolve(arg, send, parents)
    if not (isinstance(ctor, ast.Call) and names.is_nvflare(ctor.func, "FLModel")):
        return [f"{where}: send() must send an FLModel built in the same function "
                f"(imported from nvflare); write {_SEND_EXAMPLE}"]
    out = []
    params_type = _call_arg(ctor, "params_type", 0)
    is_diff = (isinstance(params_type, ast.Constant) and params_type.value == DIFF) or (
        params_type is not None and names.is_nvflare(params_type, "ParamsType.DIFF"))
    if params_type is None:
        out.append(f"{filename}:{ctor.lineno}: the FLModel sent has no params_type; the update must be a "
                   f"difference: add params_type=ParamsType.DIFF with params = local - global weights")
    elif not is_diff:
        out.append(f"{filename}:{ctor.lineno}: sends params_type={_show(params_type)}; the update must be a "
                   f"difference: write params_type=ParamsType.DIFF with params = local - global weights")
    if not _meta_has_num_steps(ctor, arg, send, names, parents):
        out.append(f"{filename}:{ctor.lineno}: the FLModel sent has no meta key NUM_STEPS_CURRENT_ROUND "
                   f"(the aggregation weight); add meta={{FLMetaKey.NUM_STEPS_CURRENT_ROUND: steps}}")
    return out


def _is_num_steps_key(node: Optional[ast.AST], names: _Names) -> bool:
    if isinstance(node, ast.Constant):
        return node.value == NUM_STEPS_KEY
    return node is not None and names.is_nvflare(node, f"FLMetaKey.{NUM_STEPS_KEY}")


def _meta_has_num_steps(ctor: ast.Call, model_arg: ast.AST, send: ast.Call, names: _Names,
                        parents: dict[ast.AST, ast.AST]) -> bool:
    meta_arg = _call_arg(ctor, "meta", 7)
    meta = _resolve(meta_arg, ctor, parents)
    if isinstance(meta, ast.Dict) and any(_is_num_steps_key(k, names) for k in meta.keys):
        return True
    if isinstance(meta, ast.Call) and _dotted(meta.func) == "dict":
        if any(kw.arg == NUM_STEPS_KEY for kw in meta.keywords):
            return True
        if meta.args and isinstance(meta.args[0], ast.Dict) and any(
                _is_num_steps_key(k, names) for k in meta.args[0].keys):
            return True
    # `meta[KEY] = ...` on the meta variable, or `model.meta[KEY] = ...` on the sent model.
    targets = set()
    if isinstance(meta_arg, ast.Name):
        targets.add(meta_arg.id)
    if isinstance(model_arg, ast.Name):
        targets.add(f"{model_arg.id}.meta")
    if not targets:
        return False
    for node in _walk_scope(_scope_of(send, parents)):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in getattr(node, "targets", None) or [node.target]:
                if (isinstance(target, ast.Subscript) and _dotted(target.value) in targets
                        and _is_num_steps_key(target.slice, names)):
                    return True
    return False


def check_client_contract(source: str, filename: str) -> list[str]:
    """Violations of the NVFlare Client API contract by a client script; [] = keeps it."""
    tree, error = _parse(source, filename)
    if tree is None:
        return [error]
    names = _Names(tree)
    parents = _parents(tree)
    out: list[str] = []

    if not _imports_client_api(tree):
        out.append(f"{filename}: does not import the NVFlare Client API; write `import nvflare.client as flare`")
    else:
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        if not any(names.is_api_call(c, "init") for c in calls):
            out.append(f"{filename}: never calls flare.init(); call `flare.init()` once before the training loop")
        loops = [n for n in ast.walk(tree) if isinstance(n, ast.While) and names.is_api_call(n.test, "is_running")]
        if not loops:
            out.append(f"{filename}: has no `while flare.is_running():` loop; receive, train and send inside "
                       f"`while flare.is_running():`")
        else:
            in_loop = [n for loop in loops for n in _loop_nodes(loop)]
            if not any(names.is_api_call(n, "receive") for n in in_loop):
                out.append(f"{filename}: never calls flare.receive() inside the `while flare.is_running():` loop; "
                           f"write `input_model = flare.receive()` at the top of the loop")
            if not any(isinstance(n, ast.If) and any(names.is_api_call(t, "is_evaluate") for t in ast.walk(n.test))
                       for n in in_loop):
                out.append(f"{filename}: has no `if flare.is_evaluate():` branch in the loop; add one that "
                           f"evaluates the received global model and sends FLModel(metrics=...)")
            sends = [n for n in in_loop if names.is_api_call(n, "send")]
            training = [s for s in sends if not _in_non_training_branch(s, names, parents)]
            if not training:
                out.append(f"{filename}: never sends a training update inside the `while flare.is_running():` "
                           f"loop; write {_SEND_EXAMPLE}")
            for send in training:
                out.extend(_check_sent_model(send, filename, names, parents))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load_state_dict":
            if any(kw.arg is None for kw in node.keywords):
                out.append(f"{filename}:{node.lineno}: load_state_dict(**...) hides its strict flag; "
                           f"pass the state dict alone or with strict=True")
                continue
            strict = _call_arg(node, "strict", 1)
            if strict is not None and not (isinstance(strict, ast.Constant) and strict.value is True):
                out.append(f"{filename}:{node.lineno}: load_state_dict(..., strict={_show(strict)}) may "
                           f"silently skip weights; write load_state_dict(state_dict) or strict=True")
    return out


# --------------------------------------------------------------------------- job contract


def _accepts_two_positional(fn: ast.FunctionDef) -> bool:
    a = fn.args
    positional = a.posonlyargs + a.args
    if len(positional) < 2 and a.vararg is None:
        return False
    required = len(positional) - len(a.defaults)
    if required > 2:
        return False
    required_kwonly = [arg for arg, default in zip(a.kwonlyargs, a.kw_defaults) if default is None]
    return not required_kwonly


def check_job_contract(source: str, filename: str = "job.py") -> list[str]:
    """Violations of the job contract by a job script; [] = keeps it."""
    tree, error = _parse(source, filename)
    if tree is None:
        return [error]
    out: list[str] = []

    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "build_recipe"]
    if not defs:
        out.append(f"{filename}: no top-level `def build_recipe(budget, knobs):`; the runner calls "
                   f"build_recipe(budget, knobs) and runs the recipe it returns")
    elif isinstance(defs[-1], ast.AsyncFunctionDef):
        out.append(f"{filename}:{defs[-1].lineno}: build_recipe is async; write a plain "
                   f"`def build_recipe(budget, knobs):`")
    elif not _accepts_two_positional(defs[-1]):
        out.append(f"{filename}:{defs[-1].lineno}: build_recipe cannot be called as build_recipe(budget, knobs); "
                   f"write `def build_recipe(budget, knobs):`")

    for node in ast.walk(tree):
        pairs: list[tuple[str, ast.AST, ast.AST]] = []
        if isinstance(node, ast.Call):
            pairs = [(kw.arg, kw.value, kw.value) for kw in node.keywords if kw.arg]
        elif isinstance(node, ast.Assign):
            pairs = [(t.id, node.value, node) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            pairs = [(node.target.id, node.value, node)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            positional = a.posonlyargs + a.args
            pairs = [(arg.arg, d, d) for arg, d in zip(positional[len(positional) - len(a.defaults):], a.defaults)]
            pairs += [(arg.arg, d, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        for name, value, at in pairs:
            if name in BUDGET_KWARGS and _is_numeric_literal(value):
                out.append(f"{filename}:{getattr(at, 'lineno', 0)}: {name}={_show(value)} hard-codes the "
                           f"budget; take it from the budget argument: {name}={BUDGET_KWARGS[name]}")
    return out
