from pathlib import Path

import pytest

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.checkpoints import write_test_zoo


@pytest.fixture(scope="session")
def test_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def zoo_env(test_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app at the test checkpoints."""
    monkeypatch.setenv(PRETRAINED_DIR_VARIABLE, str(test_zoo))
    return test_zoo
