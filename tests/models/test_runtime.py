"""``precision="auto"`` on CPU: bf16 only where it is native and faster than fp32."""

from __future__ import annotations

import pytest

from vocabfree.models import _runtime
from vocabfree.models._runtime import cpu_prefers_bf16, select_runtime


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch):
    monkeypatch.delenv("VOCABFREE_CPU_BF16", raising=False)
    cpu_prefers_bf16.cache_clear()
    yield
    cpu_prefers_bf16.cache_clear()


@pytest.mark.parametrize(
    ("native", "amx", "fp32_s", "bf16_s", "expected"),
    [
        (False, False, 1.0, 0.1, False),  # emulated bf16 is never the default
        (True, True, 1.0, 2.0, True),  # AMX: bf16 without timing
        (True, False, 2.0, 1.0, True),  # AVX512-BF16 where bf16 is 2x faster (timed)
        (True, False, 1.0, 2.0, False),  # AVX512-BF16 at half the fp32 rate (an Intel Xeon with AMX hidden)
        (True, False, 1.1, 1.0, False),  # not worth its rounding below 1.25x
    ],
)
def test_auto_precision_follows_the_cpu(monkeypatch, native, amx, fp32_s, bf16_s, expected):
    import torch

    timed = []
    monkeypatch.setattr(_runtime, "cpu_supports_bf16", lambda: native)
    monkeypatch.setattr(_runtime, "_amx", lambda: amx)
    monkeypatch.setattr(
        _runtime, "_matmul_seconds", lambda dtype: timed.append(dtype) or (fp32_s if dtype == torch.float32 else bf16_s)
    )
    assert cpu_prefers_bf16() is expected
    assert select_runtime("cpu").precision == ("bf16" if expected else "fp32")
    assert len(timed) == (2 if native and not amx else 0)  # timed once per process at most (cached)


@pytest.mark.parametrize(("value", "precision"), [("1", "bf16"), ("0", "fp32")])
def test_environment_fixes_the_choice(monkeypatch, value, precision):
    monkeypatch.setenv("VOCABFREE_CPU_BF16", value)
    monkeypatch.setattr(_runtime, "_matmul_seconds", lambda dtype: pytest.fail("no timing when the choice is fixed"))
    assert select_runtime("cpu").precision == precision
    assert select_runtime("cpu", "fp32").precision == "fp32"  # an explicit precision always wins


def test_timing_probe_runs_on_this_cpu():
    import torch

    assert 0 < _runtime._matmul_seconds(torch.float32) < 5
