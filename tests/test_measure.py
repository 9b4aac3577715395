"""core.testing's measurement helpers: peak memory from a fresh (spawned) process, round-robin timing."""

import time

import pytest

from hyperzoo.core import testing

MiB = 2**20
HERE = __file__


def allocate(nbytes):
    """Touch ``nbytes`` of fresh memory (bytes * n writes every page; bytearray(n) would not)."""
    block = b"\x01" * nbytes
    return len(block)


def setup_then_allocate(setup_bytes, nbytes):
    """A large setup that is freed, then a reset of the peak, then the measured part."""
    scratch = b"\x02" * setup_bytes
    del scratch
    testing.reset_peak_memory()
    return allocate(nbytes)


def fail():
    raise ValueError("the case broke")


def test_peak_memory_sees_what_the_case_allocates():
    peak = testing.peak_memory(allocate, 200 * MiB)
    assert isinstance(peak, int) and peak.result == 200 * MiB
    assert peak >= 200 * MiB and peak.above_baseline >= 0.95 * 200 * MiB, repr(peak)
    small = testing.peak_memory(f"{HERE}::allocate", 1 * MiB)  # the string form, as in check_parity_interpreted
    assert small.above_baseline < 50 * MiB and small < peak, repr(small)


def test_a_parent_that_allocated_a_lot_does_not_inflate_the_childs_peak():
    hog = b"\x03" * (400 * MiB)  # the parent's resident set (and peak) is now at least 400 MiB
    peak = testing.peak_memory(allocate, 10 * MiB)
    assert len(hog) == 400 * MiB
    assert peak < 200 * MiB, f"{peak!r}: a forked child's peak would hold the parent's 400 MiB"


def test_a_case_may_reset_the_peak_after_its_own_setup():
    peak = testing.peak_memory(setup_then_allocate, 300 * MiB, 20 * MiB)
    if peak.reset:
        assert peak.above_baseline < 100 * MiB and peak < 300 * MiB, repr(peak)
    else:  # documented fallback: no reset, so the whole life of the child (setup included) is the peak
        assert peak >= 300 * MiB, repr(peak)


def test_peak_memory_reports_the_cases_error_and_unsendable_cases():
    with pytest.raises(RuntimeError, match="ValueError: the case broke"):
        testing.peak_memory(fail)
    with pytest.raises(TypeError, match="module-level function"):
        testing.peak_memory(lambda: None)


def test_interleaved_takes_turns_and_records_every_repeat():
    calls = []
    cases = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": lambda: calls.append("c")}
    times = testing.interleaved(cases, repeats=4, warmup=2)
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert len(calls) == 18
    rounds = [calls[i:i + 3] for i in range(0, 18, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # every round runs each case once
    assert [r[0] for r in rounds] == ["a", "b", "c", "a", "b", "c"]  # the first case rotates


def test_interleaved_times_per_call_and_medians():
    times = testing.interleaved({"slow": lambda: time.sleep(0.004), "fast": lambda: None}, repeats=3, number=2)
    med = testing.medians(times)
    assert 0.004 <= med["slow"] < 0.05 and med["fast"] < 0.001
    assert testing.medians({"x": [3.0, 1.0, 2.0]}) == {"x": 2.0}
    calls = {"a": 0, "b": 0}
    cases = {k: (lambda k=k: calls.__setitem__(k, calls[k] + 1)) for k in calls}
    times = testing.interleaved(cases, repeats=2, warmup=1, number={"a": 5})  # b: the default, 1
    assert calls == {"a": 15, "b": 3} and all(len(v) == 2 for v in times.values())
    with pytest.raises(ValueError, match="number names cases that do not exist: \\['c'\\]"):
        testing.interleaved(cases, repeats=1, number={"c": 2})
    with pytest.raises(ValueError, match="number for 'a' must be an int >= 1"):
        testing.interleaved({"a": lambda: None}, repeats=1, number=0)
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        testing.interleaved({"a": lambda: None}, repeats=0)
    with pytest.raises(TypeError, match="case 'a' is int"):
        testing.interleaved({"a": 1}, repeats=1)
    with pytest.raises(ValueError, match="case 'x' has no times"):
        testing.medians({"x": []})
