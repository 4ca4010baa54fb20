"""dbt as the pipeline starts it (`python pipeline/transforms/dbt_main.py build ...`): dbt-core's own command line,
with a partial-parse check that does not hash the warehouse file's folder.

dbt re-parses the whole project (5-7 s) when its saved parse state was made with another profile, and it hashes
every connection key of the profile for that check, `path` included. The parse depends on the warehouse file only
through the database name DuckDB gives it (the file name up to its first dot, the profile's `database`, which every
node's relation carries), not on the folder it sits in: nothing in transforms/ reads `target.path`. So the
profile is hashed here with every connection key but `path`: a new warehouse in another folder (a fresh bench or
test warehouse, a moved FUNNEL_WAREHOUSE) reuses the parsed project, while another file name, setting or FUNNEL_*
value of dbt_project.yml still makes dbt parse again (tests/test_dbt_parse_state.py proves the reused parse equals a
full one, and fails when a file of transforms/ reads `target.path`).

Run as a script, not `-m pipeline...`: the dbt subprocess imports only dbt (and, in the Python models, the pipeline
package from PYTHONPATH), whatever `pipeline` the environment's editable install points at.
"""

import pprint
import sys

from dbt.cli.main import cli
from dbt.contracts.files import FileHash
from dbt.parser.manifest import ManifestLoader

#: The connection keys the parse does not depend on: the warehouse file's location (its name is `database`).
UNHASHED_KEYS = frozenset({"path"})

_dbt_state_check = ManifestLoader.build_manifest_state_check


def state_check_without_location(loader: ManifestLoader):
    """dbt's own state check (vars, env vars of dbt_project.yml, project files), its profile hash recomputed the
    way dbt computes it (ManifestLoader.build_manifest_state_check) over every connection key but UNHASHED_KEYS."""
    state = _dbt_state_check(loader)
    keys = sorted((k, v) for k, v in loader.root_project.credentials.connection_info() if k not in UNHASHED_KEYS)
    state.profile_hash = FileHash.from_contents(pprint.pformat(keys))
    return state


ManifestLoader.build_manifest_state_check = state_check_without_location

if __name__ == "__main__":
    sys.path.pop(0)  # this file's folder: nothing dbt or a model imports lives there
    sys.argv[0] = "dbt"
    sys.exit(cli())
