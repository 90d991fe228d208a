"""Make the repository root importable, so that the testbed's unit tests import ``bench.testbed``.

The bench package is not installed (it is not part of the distribution); pytest run from
``.venv/bin/pytest`` does not put the working directory on ``sys.path``.
"""

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
