"""Make the test helpers importable as plain modules."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
