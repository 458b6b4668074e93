"""Lets the processor tests import their helpers (flat_copy, test_delphes) by module name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
