import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hyperbolic_helpers import ball_points  # noqa: E402


@pytest.fixture
def points():
    return ball_points
