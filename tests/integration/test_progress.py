"""Progress of model loading and catalog embedding: bars on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import torch

from core.progress import Progress, bars_wanted
from core.settings import Settings
from inference import loading, sources
from tests.helpers import make_settings
from tests.tiny_models import build_tiny_embedding_model

log = logging.getLogger("tests.progress")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_unless_told() -> None:
    assert bars_wanted("auto", Terminal()) is True
    assert bars_wanted("auto", io.StringIO()) is False
    assert bars_wanted("on", io.StringIO()) is True and bars_wanted("off", Terminal()) is False


def test_a_bar_on_a_terminal_and_two_lines_in_a_log(caplog: pytest.LogCaptureFixture) -> None:
    screen = Terminal()
    with Progress(43, "embedding the catalog", bar=True, log=log, unit="patterns", stream=screen) as progress:
        for _ in range(5):
            progress.update(9 if progress.done < 36 else 7)
    assert "embedding the catalog" in screen.getvalue() and "43/43" in screen.getvalue()
    caplog.set_level(logging.INFO)
    with Progress(43, "embedding the catalog", bar=False, log=log, unit="patterns") as progress:
        progress.update(43)
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == [
        "embedding the catalog: 43 patterns...", "embedding the catalog: 43/43 patterns"]


@pytest.fixture(scope="module")
def tiny_embedding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_embedding_model(tmp_path_factory.mktemp("tiny-embedding"))


@pytest.mark.parametrize("bars", [True, False])
def test_transformers_bars_follow_the_setting(tiny_embedding: Path, bars: bool, capfd: pytest.CaptureFixture) -> None:
    source = sources.resolve_source("embedding", str(tiny_embedding))
    loading.load_embedding(source, torch.device("cpu"), progress_bars=bars)
    assert ("Loading weights" in capfd.readouterr().err) is bars


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_embedding: Path) -> Settings:
    return make_settings(database_url, tmp_path, models_enabled=True, embedding_model=str(tiny_embedding),
                         models_preload=False, progress_bars="off")


async def test_the_catalog_is_embedded_in_steps_with_log_lines(services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="usecases.search")
    count = await services.db.fetchval("SELECT count(*) FROM patterns")
    assert await services.search.ensure_index() == count
    lines = [r.getMessage() for r in caplog.records if r.name == "usecases.search"]
    assert lines[0] == f"embedding the catalog: {count} patterns..."
    assert lines[1].startswith(f"embedding the catalog: {count}/{count} patterns in ")
    assert await services.search.ensure_index() == 0  # nothing changed: nothing embedded again
