"""Python's cyclic garbage collector in `make run`'s process: off while the libraries load, then everything loaded so
far is frozen out of its reach, and frozen again before the process exits.

Loading Dagster, dagster-dbt, dbt and Great Expectations (with SciPy) creates some 850,000 objects, nearly all of
which live as long as the process. The collector, left on, walks all of them again each time their number has grown
by a quarter: eight full passes while they load, which took ~2.5 of the ~6 CPU seconds of loading, and finds ~4,000
objects to free. At exit, the interpreter's own passes over the same objects took another 1-3 s. Frozen objects
(`gc.freeze`) are still freed when their reference count drops; the collector only stops looking at them for
reference cycles. What a run creates after the freeze is collected as usual.

Only the command-line entry points hold the collector (`hold()` before their imports); anything else that calls
`release()` (tests, the webserver's code location) finds it on and changes nothing.
"""

import gc
import sys
from typing import NoReturn


def hold() -> None:
    """No cyclic collection from here until `release()`: the first statement of an entry point, before its imports."""
    gc.disable()


def release() -> None:
    """Freeze every object that exists (the loaded libraries, the definitions) and turn the collector back on; nothing
    unless `hold()` turned it off."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def exit_process(code: int) -> NoReturn:
    """Exit with `code` without the interpreter's final collection passes over objects about to be dropped anyway
    (the process's files and databases are closed by then; reference counting still frees what it frees)."""
    gc.freeze()
    sys.exit(code)
