"""Property-based fuzzing of registered operators with ``hypothesis`` (a test dependency, like ``pytest``).

Every operator declares, in its plugin's ``tests/test_fuzz.py``, a :class:`Spec`: a strategy drawing inputs
within its contract (``valid``) and one drawing inputs outside it with the error they must raise (``invalid``).
The checks below turn a table of specs into the properties every operator must have:

    from hyperzoo.core import fuzz

    FUZZ = {"myplugin.scale": fuzz.Spec(valid=scale_cases(), invalid=scale_bad_cases())}

    @pytest.mark.parametrize("name", sorted(FUZZ))
    def test_fuzz_valid(name):              # backends == reference, finite in -> finite out, layout-independent
        fuzz.check_valid(name, FUZZ[name])

    @pytest.mark.parametrize("name", sorted(FUZZ))
    def test_fuzz_invalid(name):            # out-of-contract inputs raise the documented error
        fuzz.check_invalid(name, FUZZ[name])

    def test_fuzz_covers_every_operator():  # a new operator without a spec fails here
        fuzz.check_coverage(FUZZ, plugin="myplugin")

Properties of :func:`check_valid`, on each drawn case:

1. **Parity**: every backend that can run here (available, and ``supports`` the case) equals the reference through
   :func:`hyperzoo.core.testing.check_parity` (outputs and gradients). On a machine with a CUDA GPU, cases are moved
   to it, so the compiled kernels are fuzzed; :func:`check_interpreted` fuzzes Triton backends under
   ``TRITON_INTERPRET=1`` on a CPU. Each runnable backend must be exercised by at least one case.
   Where a float32 (or narrower) case is so ill-conditioned that the reference itself misses the float64 answer by
   more than the parity tolerance, two roundings of it cannot agree within that tolerance; such a case passes when
   every backend is as accurate as the reference: its largest error against the reference evaluated in float64
   is at most 4x the reference's own (outputs and gradients, each tensor; :func:`as_accurate_as_reference`).
2. **Finite**: finite inputs give finite outputs and gradients (``Spec.finite``; ``Spec.check`` adds
   operator-specific assertions, e.g. "−inf is allowed, NaN is not").
3. **Layout**: the same values as non-contiguous (permuted or strided) or broadcast (stride-0) tensors give the
   same result as contiguous ones, for the reference and every runnable backend.

Runs are reproducible: under CI (``CI=true``) hypothesis is derandomised (a fixed seed); elsewhere every failure
prints its ``@reproduce_failure`` blob (``print_blob=True``). ``HYPERZOO_FUZZ_EXAMPLES`` scales every budget
(e.g. ``=10`` for ten times more examples in a long local run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from .dispatch import Operator, get_operator
from .testing import DEFAULT_TOLERANCES, _clone, _leaves, _run, _tensors, check_parity

__all__ = ["Spec", "check_valid", "check_invalid", "check_coverage", "check_interpreted", "missing_specs",
           "as_accurate_as_reference", "randn", "dtypes", "lengths", "exponent", "LAYOUTS", "device"]

Case = tuple[tuple, dict]

#: memory layouts a tensor argument may be given in (values are the same, strides differ)
LAYOUTS = ("contiguous", "permuted", "strided", "broadcast")


@dataclass
class Spec:
    """How to fuzz one operator.

    ``valid`` draws ``(args, kwargs)`` within the operator's contract; ``invalid`` draws
    ``((args, kwargs), exception_type, message_regex)`` outside it. ``finite``: finite inputs must give finite
    outputs and gradients. ``check(args, kwargs, outputs)`` adds assertions of its own. ``layout_args``: indices of
    the positional tensor arguments whose layout may change (default: every tensor argument).
    """

    valid: Any
    invalid: Any = None
    finite: bool = True
    check: Callable[[tuple, dict, list], None] | None = None
    max_examples: int = 25
    max_invalid_examples: int = 15
    layout_args: tuple[int, ...] | None = None


# ------------------------------------------------------------------------------------------- strategy helpers


def dtypes(*choices: torch.dtype) -> Any:
    """float32 and float64 (or the given dtypes)."""
    return st.sampled_from(choices or (torch.float32, torch.float64))


def lengths(max_value: int, *, min_value: int = 1) -> Any:
    """Sizes for one axis: 1, sizes just off powers of two (not multiples of any block or chunk), or any size."""
    odd = [n for n in (1, 2, 3, 7, 15, 17, 31, 33, 63, 65, 127, 129, 1023, 1025) if min_value <= n <= max_value]
    return st.one_of(st.sampled_from(odd or [min_value]), st.integers(min_value, max_value))


def exponent(dtype: torch.dtype, *, share: float = 1.0) -> Any:
    """A decimal exponent e for a magnitude 10^e: usually 0, sometimes extreme within ``share`` of the dtype's
    range (``share=0.5`` for values that get multiplied pairwise, so products stay finite)."""
    limit = int((37 if dtype in (torch.float32, torch.bfloat16) else 300) * share)
    return st.one_of(st.just(0), st.just(0), st.integers(-limit, limit), st.sampled_from([-limit, limit]))


def randn(draw: Callable[[Any], Any], shape: Iterable[int], dtype: torch.dtype, *, scale_exp: int | None = None,
          positive: bool = False, requires_grad: bool = False) -> torch.Tensor:
    """A tensor of ``shape`` with standard-normal values (from a drawn seed) times 10^e (``scale_exp`` or drawn)."""
    seed = draw(st.integers(0, 2**31 - 1))
    e = draw(exponent(dtype)) if scale_exp is None else scale_exp
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(tuple(shape), generator=g, dtype=torch.float64)
    if positive:
        t = t.abs() + 0.1
    big = torch.finfo(dtype).max
    t = (t * 10.0**e).clamp(-big, big).to(dtype)  # finite: extreme, never beyond the dtype's range
    return t.requires_grad_(requires_grad)


def device() -> str:
    """Where fuzzed cases run: ``HYPERZOO_FUZZ_DEVICE`` if set, else ``"cuda"`` when a CUDA GPU is present (so
    its backends are fuzzed), else ``"cpu"``. Interpreted Triton runs use the CPU."""
    return os.environ.get("HYPERZOO_FUZZ_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


def _settings(max_examples: int) -> settings:
    scale = float(os.environ.get("HYPERZOO_FUZZ_EXAMPLES", "1") or 1)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return settings(max_examples=max(1, int(max_examples * scale)), deadline=None, derandomize=ci,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ------------------------------------------------------------------------------------------- layouts


def _arrange(t: torch.Tensor, layout: str, dim: int) -> torch.Tensor:
    """``t``'s values (for "broadcast": ``t`` constant along ``dim``) in another memory layout (no autograd)."""
    t = t.detach()
    if layout == "contiguous" or t.dim() == 0:
        return t.clone()
    if layout == "permuted":  # same shape, reversed strides
        perm = list(range(t.dim()))[::-1]
        return t.permute(perm).contiguous().permute(perm)
    if layout == "strided":  # every other element of a twice-longer last axis
        big = t.new_zeros(*t.shape[:-1], 2 * t.shape[-1])
        big[..., ::2] = t
        return big[..., ::2]
    if layout == "broadcast":  # stride 0 along dim: its first slice expanded
        return t.narrow(dim, 0, 1).expand(t.shape)
    raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")


def _with_layouts(data: Any, case: Case, spec: Spec) -> tuple[Case, Case]:
    """(arranged case, its contiguous twin): the same values, the twin contiguous (and requiring grad like the
    drawn case), the arranged one in drawn layouts (used without autograd)."""
    args, kwargs = case
    chosen = range(len(args)) if spec.layout_args is None else spec.layout_args
    arranged, twin = list(args), list(args)
    for i in chosen:
        t = args[i]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() == 0 or t.numel() == 0:
            continue
        layout = data.draw(st.sampled_from(LAYOUTS), label=f"layout of argument {i}")
        dim = data.draw(st.integers(0, t.dim() - 1), label=f"axis of argument {i}") if layout == "broadcast" else 0
        arranged[i] = _arrange(t, layout, dim)
        twin[i] = arranged[i].clone(memory_format=torch.contiguous_format).requires_grad_(t.requires_grad)
    return (tuple(arranged), dict(kwargs)), (tuple(twin), dict(kwargs))


# ------------------------------------------------------------------------------------------- properties


def _to(value: Any, dev: str) -> Any:
    if isinstance(value, torch.Tensor):
        out = value.detach().to(dev)
        return out.requires_grad_(value.requires_grad) if value.is_floating_point() else out
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, dev) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, dev) for k, v in value.items()}
    if hasattr(value, "to") and callable(value.to) and not isinstance(value, type):
        return value.to(dev)  # e.g. a Hypergraph
    return value


def _finite(label: str, tensors: list[Any]) -> None:
    for i, t in enumerate(tensors):
        if t is not None and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = (~torch.isfinite(t)).nonzero()[0].tolist()
            raise AssertionError(f"{label}[{i}] ({t.dtype}, shape {tuple(t.shape)}) is not finite at index {bad} "
                                 f"although every input is finite")


def _runnable(op: Operator, names: Iterable[str] | None) -> list[str]:
    out = []
    for name in (op.backends if names is None else names):
        ok, _ = op.backends[name].available()
        if ok:
            out.append(name)
    return out


def _max_abs(tensors: list[Any]) -> float:
    vals = [float(t.detach().abs().max()) for t in tensors if t is not None and t.numel() and t.is_floating_point()]
    return max(vals, default=0.0)


def _widen(value: Any) -> Any:
    """``value`` with every float32/16 tensor in float64 (same values, same ``requires_grad``)."""
    if isinstance(value, torch.Tensor):
        if value.dtype in (torch.float32, torch.float16, torch.bfloat16):
            return value.detach().double().requires_grad_(value.requires_grad)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_widen(v) for v in value)
    if isinstance(value, dict):
        return {k: _widen(v) for k, v in value.items()}
    return value


def as_accurate_as_reference(op: Operator, case: Case, backends: Iterable[str], *, grad: bool = True,
                             tolerances: dict[str, tuple[float, float]] | None = None) -> bool:
    """Whether, on a narrow-float ``case``, every backend misses the float64 answer (the reference on the same
    values in float64) by at most 4x what the reference misses it by, per output and gradient tensor, and the
    reference's own miss exceeds the parity tolerance (so the case is ill-conditioned, not the backend wrong)."""
    args, kwargs = case
    narrow = [t for t in _tensors(case) if t.dtype in (torch.float32, torch.float16, torch.bfloat16)]
    if not narrow:
        return False
    truth = _run(op.reference, *_widen((args, kwargs)), grad, 0)
    ref = _run(op.reference, args, kwargs, grad, 0)

    def misses(got: tuple[list, list]) -> list[tuple[float, float]]:
        out = []
        for g, t in zip([*got[0], *got[1]], [*truth[0], *truth[1]]):
            if g is None or t is None or not g.numel():
                continue
            out.append((float((g.double().cpu() - t.double().cpu()).abs().max()), float(t.abs().max())))
        return out

    base = misses(ref)
    dtype = str(narrow[0].dtype).removeprefix("torch.")
    for name in backends:
        tol = {**DEFAULT_TOLERANCES, **op.backends[name].tolerances, **(tolerances or {})}
        rtol, atol = tol.get(dtype, (0.0, 0.0))
        if not any(e > atol + rtol * m for e, m in base):
            return False   # the reference is accurate here: the plain parity failure stands
        got = misses(_run(partial(op, backend=name), args, kwargs, grad, 0))
        if len(got) != len(base) or any(e > 4 * e_ref + atol + rtol * m for (e, _), (e_ref, m) in zip(got, base)):
            return False
    return True


def check_valid(name: str, spec: Spec, *, backends: Iterable[str] | None = None,
                max_examples: int | None = None, only_supported: bool = False) -> dict[str, Any]:
    """Run properties 1-3 (see the module docstring) on ``spec.valid``; returns how often each backend ran.
    ``only_supported``: discard cases that none of the runnable ``backends`` supports (every example then
    exercises one; used for the interpreted Triton runs)."""
    op = get_operator(name)
    runnable = _runnable(op, backends)
    dev = device()
    ran: Counter[str] = Counter()

    @_settings(max_examples or spec.max_examples)
    @given(case=spec.valid, data=st.data())
    def prop(case: Case, data: Any) -> None:
        case = _to(case, dev)
        if only_supported:
            assume(any(op.backends[b].check(*case[0], **case[1])[0] for b in runnable))
        arranged, twin = _with_layouts(data, case, spec)
        args, kwargs = twin
        inputs = _tensors((args, kwargs))
        finite_in = all(bool(torch.isfinite(t).all()) for t in inputs if t.is_floating_point() and t.numel())
        # the reference: outputs, gradients under a fixed cotangent, finiteness, the spec's own assertions
        a, k = _clone(args), _clone(kwargs)
        outs = _tensors(op.reference(*a, **k))
        leaves, diff = _leaves(a, k), [o for o in outs if o.requires_grad]
        grads = []
        if leaves and diff:
            gen = torch.Generator().manual_seed(0)
            cot = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.device, o.dtype) for o in diff]
            grads = list(torch.autograd.grad(diff, leaves, cot, allow_unused=True))
        if spec.finite and finite_in:
            _finite(f"{name}: reference output", outs)
            _finite(f"{name}: reference gradient", grads)
        if spec.check is not None:
            spec.check(args, kwargs, [o.detach() for o in outs])
        ran["reference"] += 1
        # parity of every backend that supports this case, through core.testing.check_parity
        here = [b for b in runnable if op.backends[b].check(*args, **kwargs)[0]]
        if here:
            scale = max(1.0, _max_abs(outs))
            if scale > 1e3 or _max_abs(grads) > 1e3 or 0 < _max_abs(outs) < 1e-3:
                # extreme magnitudes: outputs only, absolute tolerance relative to the output's scale
                tol = {dt: (r, a_ * scale) for dt, (r, a_) in DEFAULT_TOLERANCES.items()}
                tol = {**tol, **{dt: (r, a_ * scale) for b in here
                                 for dt, (r, a_) in op.backends[b].tolerances.items()}}
            else:
                tol = None
            try:
                check_parity(op, [twin], backends=here, grad=tol is None, tolerances=tol)
            except AssertionError:
                if not as_accurate_as_reference(op, twin, here, grad=tol is None, tolerances=tol):
                    raise
            ran.update(here)
        # layout independence: the arranged case gives what its contiguous twin gives, per implementation
        with torch.no_grad():
            for impl in ["reference", *here]:
                fn = op.reference if impl == "reference" else op.backends[impl].impl
                want = _tensors(fn(*_clone(twin[0]), **_clone(twin[1])))
                got = _tensors(fn(*arranged[0], **arranged[1]))
                tol = {**DEFAULT_TOLERANCES, **(op.backends[impl].tolerances if impl != "reference" else {})}
                for i, (w, g) in enumerate(zip(want, got)):
                    rtol, atol = tol.get(str(w.dtype).removeprefix("torch."), (0.0, 0.0))
                    torch.testing.assert_close(g, w, rtol=rtol, atol=atol * max(1.0, _max_abs([w])),
                                               equal_nan=True,
                                               msg=lambda m, i=i, impl=impl: f"{name} [{impl}] output {i} "
                                               f"depends on the inputs' memory layout: {m}")

    prop()
    never = [b for b in runnable if ran[b] == 0]
    if never:
        raise AssertionError(f"{name}: backend(s) {never} can run here but no fuzzed case was supported by them; "
                             f"widen the spec's valid strategy")
    return dict(ran)


def check_invalid(name: str, spec: Spec, *, max_examples: int | None = None) -> None:
    """Every case of ``spec.invalid`` raises its exception type with a message matching its regex, both through
    dispatch and from the reference: a clear error, never a wrong answer."""
    if spec.invalid is None:
        raise AssertionError(f"{name}: the fuzz spec has no invalid-input strategy; every operator has a contract "
                             f"whose violations must raise (give Spec(invalid=...))")
    op = get_operator(name)
    dev = device()

    @_settings(max_examples or spec.max_invalid_examples)
    @given(bad=spec.invalid)
    def prop(bad: tuple[Case, type[BaseException] | tuple, str]) -> None:
        import re

        (args, kwargs), exc, pattern = bad
        args, kwargs = _to(args, dev), _to(kwargs, dev)
        for label, fn in (("dispatch", op), ("reference", op.reference)):
            try:
                out = fn(*_clone(args), **_clone(kwargs))
            except exc as e:
                if not re.search(pattern, str(e)):
                    raise AssertionError(f"{name} ({label}) raised {type(e).__name__} but its message does not "
                                         f"match {pattern!r}: {e}") from e
            else:
                shapes = [tuple(t.shape) for t in _tensors(out)]
                raise AssertionError(f"{name} ({label}) returned {shapes} for out-of-contract inputs instead of "
                                     f"raising {exc}")

    prop()


def missing_specs(specs: Mapping[str, Spec], plugin: str) -> tuple[list[str], list[str]]:
    """(operators registered by ``plugin`` without a spec, spec names that are not registered operators)."""
    from .discovery import entries

    table = entries("operator")
    mine = sorted(n for n, e in table.items() if e.plugin == plugin)
    return [n for n in mine if n not in specs], sorted(n for n in specs if n not in table)


def check_coverage(specs: Mapping[str, Spec], plugin: str) -> None:
    """Fail when an operator of ``plugin`` has no fuzz spec (or a spec names no registered operator)."""
    missing, unknown = missing_specs(specs, plugin)
    if missing or unknown:
        raise AssertionError(
            (f"operators of plugin {plugin!r} without fuzz strategies: {missing}; add a fuzz.Spec for each to the "
             f"plugin's tests/test_fuzz.py FUZZ table. " if missing else "")
            + (f"fuzz specs for operators that are not registered: {unknown}" if unknown else ""))


# ------------------------------------------------------------------------------------------- interpreted Triton


def check_interpreted(names: str | Iterable[str], specs: str, *, backends: Iterable[str] = ("triton",),
                      max_examples: int = 6, timeout: float = 600) -> dict[str, dict[str, int]]:
    """:func:`check_valid` for ``backends`` of each operator in ``names``, in one fresh Python with
    ``TRITON_INTERPRET=1`` (Triton kernels fuzzed on a CPU). ``specs`` names the table:
    ``"path/to/test_fuzz.py::FUZZ"``. Returns, per operator, how often each implementation ran."""
    names = [names] if isinstance(names, str) else list(names)
    request = {"operators": names, "specs": specs, "backends": list(backends), "max_examples": max_examples}
    env = {**os.environ, "TRITON_INTERPRET": "1", "HYPERZOO_FUZZ_DEVICE": "cpu"}
    proc = subprocess.run([sys.executable, "-c", "from hyperzoo.core.fuzz import _main; _main()",
                           json.dumps(request)], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"interpreted fuzzing of {names} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _main() -> None:
    import runpy

    request = json.loads(sys.argv[1])
    path, _, table = request["specs"].rpartition("::")
    specs = runpy.run_path(path, run_name="hyperzoo_fuzz_specs")[table]
    ran = {name: check_valid(name, specs[name], backends=request["backends"], max_examples=request["max_examples"],
                             only_supported=True)
           for name in request["operators"]}
    print(json.dumps(ran))
