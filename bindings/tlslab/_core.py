"""The compiled core, tlslab._tlslab, with a clear message when it was not built."""

from __future__ import annotations

try:
    from tlslab import _tlslab as core
except ImportError as e:  # pragma: no cover - depends on the build
    raise ImportError(
        "tlslab's compiled module (tlslab._tlslab) is missing or does not load: configure with "
        "-DTLSLAB_BUILD_PYTHON=ON -DPython3_EXECUTABLE=/usr/bin/python3, build, and put "
        f"<build>/python on PYTHONPATH ({e})"
    ) from e

__all__ = ["core"]
