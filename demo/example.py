"""The example company `make run` and `make demo` write: 20,000 leads over 24 months, with the change that the
example hypotheses.yml finds (webinar leads convert 15 points more often from 2026-04-01).

    python -m demo.example FOLDER
"""

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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m demo.example FOLDER")
    write_example(Path(sys.argv[1]))
