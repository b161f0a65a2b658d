"""Measure and print the resumption matrix of every real peer (markdown), without pytest.

    /usr/bin/python3 tests/interop/print_matrices.py            # every peer configuration
    /usr/bin/python3 tests/interop/print_matrices.py nginx jetty  # some (names: peers.CONFIGS)
    /usr/bin/python3 tests/interop/print_matrices.py --trials     # also every trial

The tables are the ones in docs/real-stacks.md. The tests (test_*.py) assert the same matrices.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
import resumption_client as rc  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="peer configurations (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", action="store_true", help="print every trial")
    args = parser.parse_args()
    configs = [peers.config(n) for n in args.names] if args.names else list(peers.CONFIGS)

    print("## Versions\n")
    for k, v in peers.versions().items():
        print(f"- {k}: {v}")
    print()
    with tempfile.TemporaryDirectory(prefix="tlslab-interop-") as tmp:
        work = Path(tmp)
        creds = peers.make_credentials(work / "creds")
        classes = None
        if any(c.kind in peers.JAVA_MAIN for c in configs):
            classes = peers.compile_java(work / "classes")
        for cfg in configs:
            if cfg.kind == "jetty" and peers.jetty_missing():
                print(f"### {cfg.name}\n\nskipped: {peers.jetty_missing()}\n")
                continue
            started = time.monotonic()
            with peers.running(cfg, creds, work / cfg.name, classes) as peer:
                matrix = rc.measure_matrix("127.0.0.1", peer.port, repeats=args.repeats)
            took = time.monotonic() - started
            print(f"### {cfg.name}\n\n{cfg.what} ({took:.1f} s)\n")
            print(matrix.markdown())
            for t in matrix.failures():
                print(f"\nfailed trial: {t.mechanism} {t.close_mode}: {t.error}")
            if args.trials:
                print()
                for t in matrix.trials:
                    print(f"    {t}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
