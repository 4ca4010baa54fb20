"""The example company `make run` and `make demo` write: 20,000 leads over 24 months, with the change that the
example hypotheses.yml finds (webinar leads convert 15 points more often from 2026-04-01).

    python -m demo.example FOLDER [--force]

It writes only into a new or empty folder: pointed by mistake at a real landing folder (FUNNEL_LANDING_DIR), it
would mix demo rows into real extracts, which the landing sensor would then load. --force writes all the same.
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from demo.generator import Effect, generate

LEADS = 20_000
MONTHS = 24
SEED = 7
EFFECT = Effect("webinar", datetime(2026, 4, 1), 0.15)


def write_example(folder: Path) -> dict[str, int]:
    """Write the example extracts into `folder`; the rows written per extract."""
    print(f"writing demo extracts into {folder} ({LEADS:,} leads, {MONTHS} months)")
    return generate(LEADS, MONTHS, SEED, folder, effect=EFFECT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.example", description="Write the demo extracts.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--force", action="store_true", help="write into a folder that already holds files")
    args = parser.parse_args(argv)
    held = [p for p in args.folder.rglob("*") if p.is_file()] if args.folder.exists() else []
    if held and not args.force:
        print(
            f"{args.folder} already holds {len(held)} file(s) (e.g. {held[0]}): demo extracts are written only into "
            "a new or empty folder, so real extracts never get demo rows beside them. Nothing was written "
            "(make demo FORCE=1 writes all the same).",
            file=sys.stderr,
        )
        return 2
    write_example(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
