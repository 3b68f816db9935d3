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
    """Each help shows a line that starts 'Example' and names a real `glacier-edge <command>` call."""
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.split()[2] == command
    examples = [line.strip() for line in result.output.splitlines() if line.strip().startswith("Example")]
    assert examples, f"`glacier-edge {command} --help` has no example"
    after = result.output.split(examples[0], 1)[1]
    assert f"glacier-edge {command}" in examples[0] + after


def test_unknown_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["run", "--no-such-option"])
    assert result.exit_code == 2 and "No such option" in result.output
