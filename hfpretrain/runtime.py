"""Process-level settings that make CPU training fast. Called by the entry points, never by the model files."""

import ctypes
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers (malloc.h)


def tune_cpu_allocator(threshold: int = 1 << 30) -> bool:
    """Keep large freed blocks in the heap for reuse instead of returning them to the OS.

    glibc serves every allocation above 32 MB with a fresh mmap() and unmaps it on free, so each training step
    page-faults its logits, their gradient and every other large activation back in: on a 2-core CPU that was a
    third of the cross-entropy time and ~20% of a small model's step (BENCHMARKS.md). Raising the mmap and trim
    thresholds to 1 GiB makes those buffers reusable. Returns whether the setting took effect (glibc Linux only)."""
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another libc
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(threshold)) == 1
    return libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(threshold)) == 1 and ok
