"""``python -m bench``: run the benchmarks, or rebuild ``docs/benchmarks.md`` from results.

Usage::

    python -m bench run --quick            # smoke run (~1 min), results in bench/results/quick
    python -m bench run --full             # the numbers (about 35 min on 2 cores), then the doc
    python -m bench run --full --only speed
    python -m bench run --full --only transfer   # real pretrained weights (~1 h on 2 cores)
    python -m bench report                 # docs/benchmarks.md from bench/results/*.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import RESULTS, setup_env

SECTIONS = ("speed", "scale", "quality", "transfer", "caching", "tta")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmarks and write JSON results")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="profile",
                      help="tiny sizes, digits data: a smoke run for CI")
    size.add_argument("--full", action="store_const", const="full", dest="profile",
                      help="the sizes of docs/benchmarks.md (default)")
    run.add_argument("--only", default=",".join(SECTIONS),
                     help=f"comma-separated sections to run (default: {','.join(SECTIONS)})")
    run.add_argument("--out", type=Path, default=None,
                     help="results folder (default: bench/results, or bench/results/quick)")
    run.add_argument("--no-doc", action="store_true",
                     help="do not rewrite docs/benchmarks.md after a full run")
    report = sub.add_parser("report", help="write docs/benchmarks.md from JSON results")
    report.add_argument("--results", type=Path, default=RESULTS)
    report.add_argument("--doc", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    args = _parser().parse_args(argv)
    setup_env()
    if args.command == "run" and args.only.strip() in ("transfer", "tta"):
        # before TensorFlow is imported: oneDNN runs VGG16's backward pass ~2x faster on
        # CPU (measured: 18.7 against 7.1 images per CPU-second)
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if args.command == "report":
        from .report import write_doc

        path = write_doc(args.results, args.doc)
        print(f"wrote {path}")
        return 0
    profile_name = args.profile or "full"
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}: choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    out = args.out or (RESULTS / "quick" if profile_name == "quick" else RESULTS)
    from .runner import run

    if "transfer" in sections:
        from .transfer.tasks import all_tasks

        missing = [f"{t.key}: {why}" for t in all_tasks() if (why := t.available())]
        if missing and profile_name == "full":  # the quick mode runs what it can
            print("error: transfer tasks unavailable (run bash bench/setup.sh):\n  "
                  + "\n  ".join(missing), file=sys.stderr)
            return 2
    if profile_name == "full" and "quality" in sections:
        from .quality import FASHION_DIR, DataMissing, load_fashion

        try:  # fail before the long speed section, not after it
            load_fashion(FASHION_DIR)
        except DataMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    written = run(profile_name, sections, out)
    for path in written:
        print(f"wrote {path}")
    if profile_name == "full" and not args.no_doc:
        from .report import write_doc

        print(f"wrote {write_doc(out, None)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
