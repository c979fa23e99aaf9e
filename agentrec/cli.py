"""The ``agentrec`` command line: a typer app whose commands live in ``agentrec.ui``.

Only this module turns errors into exit codes: an ``AgentrecError`` becomes one
line on stderr and exit status 2; anything else is a bug and keeps its traceback.
Command modules import their heavy dependencies inside the command functions so
that ``agentrec --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from agentrec.core.errors import AgentrecError, InvalidParameter
from agentrec.ui import (
    agent_commands,
    audit_agent_command,
    audit_command,
    chat_command,
    data_commands,
    eval_command,
    llm_commands,
    quickstart_command,
    serve_mcp_command,
    simulate_command,
)
from agentrec.ui.choices import flag_name

app = typer.Typer(
    name="agentrec",
    help="An LLM agent that recommends by calling real recommender models as tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_commands.app, name="data")
app.add_typer(llm_commands.app, name="llm")
app.command("quickstart")(quickstart_command.quickstart)
app.command("eval")(eval_command.evaluate)
app.command("recommend")(agent_commands.recommend)
app.command("agent-eval")(agent_commands.agent_eval)
app.command("chat")(chat_command.chat)
app.command("simulate")(simulate_command.simulate)
app.command("serve-mcp")(serve_mcp_command.serve_mcp)
app.command("audit")(audit_command.audit)
app.command("audit-agent")(audit_agent_command.audit_agent)


def main() -> None:
    """Entry point of the ``agentrec`` script.

    Typer handles usage errors itself (one message, exit 2); an ``AgentrecError``
    raised by a command propagates out of it and becomes one line here.
    """
    try:
        app()
    except AgentrecError as error:
        print(f"agentrec: error: {error_line(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("agentrec: interrupted", file=sys.stderr)
        sys.exit(130)


def error_line(error: AgentrecError) -> str:
    """The error on one line; a library parameter (``k``) is named by its flag (``--k``)."""
    named = isinstance(error, InvalidParameter)
    message = f"{flag_name(error.parameter)} {error.problem}" if named else str(error)
    return " ".join(message.split()) or type(error).__name__


if __name__ == "__main__":
    main()
