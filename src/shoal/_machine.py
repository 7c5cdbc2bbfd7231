"""The processor a number was computed on: its model, and the instruction sets that pick kernels.

BLAS, faiss and ONNX Runtime each choose their kernels from the CPU's instruction sets
(AVX2, AVX-512, VNNI on x86; NEON and its dot-product extension on Arm), and two
kernels of the same formula round differently. Benchmarks and datasets record what
this module reports, so a figure or a vector says which kernels made it.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

__all__ = ["KERNEL_FLAGS", "cpu_flags", "cpu_model", "simd_level"]

KERNEL_FLAGS = (
    # x86-64: what MLAS, OpenBLAS and faiss dispatch on.
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
    # Arm64: NEON (asimd), its int8 dot product and matrix multiply, SVE.
    "asimd", "asimddp", "i8mm", "sve", "bf16",
)  # fmt: skip
"""The CPU flags that change which kernels run (/proc/cpuinfo spelling)."""


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: the platform module's one-line description only
        return platform.processor() or platform.machine(), frozenset()
    model, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), frozenset(flags)


def cpu_model() -> str:
    """The processor's model name, e.g. "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8480+"."""
    return _cpuinfo()[0]


def cpu_flags() -> list[str]:
    """Which of KERNEL_FLAGS this processor has, in KERNEL_FLAGS order."""
    present = _cpuinfo()[1]
    return [flag for flag in KERNEL_FLAGS if flag in present]


def simd_level() -> str:
    """The widest integer-matrix instruction set present, the one ONNX Runtime's int8 kernels use.

    One of "amx", "avx512-vnni", "avx-vnni", "avx512", "avx2", "avx", "sse" (x86-64),
    "neon-i8mm", "neon-dotprod", "neon" (Arm64), or the machine name elsewhere.
    """
    flags = set(cpu_flags())
    levels = (
        ("amx", {"amx_int8"}),
        ("avx512-vnni", {"avx512_vnni"}),
        ("avx-vnni", {"avx_vnni"}),
        ("avx512", {"avx512bw"}),
        ("avx2", {"avx2"}),
        ("avx", {"avx"}),
        ("sse", {"sse4_2"}),
        ("neon-i8mm", {"i8mm"}),
        ("neon-dotprod", {"asimddp"}),
        ("neon", {"asimd"}),
    )
    for name, needs in levels:
        if needs <= flags:
            return name
    return platform.machine() or os.name
