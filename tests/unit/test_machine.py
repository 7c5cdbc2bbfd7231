"""The processor description that benchmarks and datasets record."""

from __future__ import annotations

import pytest

from shoal import _machine
from shoal._machine import KERNEL_FLAGS, cpu_flags, cpu_model, simd_level


def test_this_machine_is_described() -> None:
    assert cpu_model()
    assert set(cpu_flags()) <= set(KERNEL_FLAGS)
    assert simd_level()


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ("fpu sse4_2 avx avx2 fma", "avx2"),
        ("sse4_2 avx avx2 avx512f avx512bw avx512vl avx512_vnni", "avx512-vnni"),
        ("sse4_2 avx avx2 avx_vnni", "avx-vnni"),
        ("sse4_2 avx avx2 avx512f avx512bw", "avx512"),
        ("sse4_2 avx avx2 avx512_vnni amx_tile amx_int8", "amx"),
        ("sse4_2", "sse"),
        ("fp asimd asimddp", "neon-dotprod"),
        ("fp asimd asimddp i8mm sve", "neon-i8mm"),
    ],
)
def test_the_int8_instruction_set_is_the_widest_present(
    flags: str, level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_machine, "_cpuinfo", lambda: ("test cpu", frozenset(flags.split())))
    assert simd_level() == level
    assert cpu_flags() == [f for f in KERNEL_FLAGS if f in flags.split()]
