"""The `frontal` dispatcher: every registered command resolves, help and unknown commands behave."""
from __future__ import annotations

import importlib

import pytest

from frontal.cli import SUBCOMMANDS, _resolve, main


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_command_resolves(name: str) -> None:
    module, _ = SUBCOMMANDS[name]
    importlib.import_module(module.partition(':')[0])
    assert callable(_resolve(name))


def test_help_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    assert main(["bogus"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert main([]) == 2
