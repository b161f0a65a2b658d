"""Installed by `cmake --install` (bindings/CMakeLists.txt) as tlslab/_build_info.py: where an
installed tlslab finds its command. The package lives in PREFIX/lib/python3.X/dist-packages/tlslab,
the command in PREFIX/bin/tlslab; there is no source tree."""

from pathlib import Path

SOURCE_DIR = None
BINARY_DIR = None
TLSLAB_BIN = str(Path(__file__).resolve().parents[4] / "bin" / "tlslab")
