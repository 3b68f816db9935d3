from __future__ import annotations

import pytest
from click.testing import CliRunner

from glacier_edge.cli import main

COMMANDS = sorted(main.commands)


def test_every_command_is_listed_in_the_main_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "glacier-edge" in result.output or command == "demo"
    assert "Usage:" in result.output


def test_unknown_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["run", "--no-such-option"])
    assert result.exit_code == 2 and "No such option" in result.output
