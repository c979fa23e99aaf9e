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

try:  # recent typer releases vendor click; older ones use it as a dependency
    from typer._click import exceptions as usage
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as usage  # type: ignore[no-redef]

# ``agentrec`` alone (or ``agentrec data``): help, not an error line. Absent from older click releases.
_HELP_ASKED: tuple[type[Exception], ...] = tuple(
    found for found in (getattr(usage, "NoArgsIsHelpError", None),) if found is not None
)

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

    Usage errors (a bad flag value, a missing argument) and an ``AgentrecError`` raised
    by a command both become one line on stderr and exit status 2: typer's own boxed
    usage message is several lines, so the command runs outside typer's standalone mode.
    """
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="agentrec", standalone_mode=False)
    except _HELP_ASKED as shown:
        shown.show()  # type: ignore[attr-defined]
        sys.exit(shown.exit_code)  # type: ignore[attr-defined]
    except usage.UsageError as error:
        print(f"agentrec: error: {usage_line(error)}", file=sys.stderr)
        sys.exit(2)
    except usage.ClickException as error:
        print(f"agentrec: error: {' '.join(error.format_message().split())}", file=sys.stderr)
        sys.exit(error.exit_code)
    except AgentrecError as error:
        print(f"agentrec: error: {error_line(error)}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        print("agentrec: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def usage_line(error: usage.UsageError) -> str:
    """A usage error on one line, with where to read more."""
    message = " ".join(error.format_message().split())
    where = error.ctx.command_path if error.ctx is not None else "agentrec"
    return f"{message} (see {where} --help)"


def error_line(error: AgentrecError) -> str:
    """The error on one line; a library parameter (``k``) is named by its flag (``--k``)."""
    named = error if isinstance(error, InvalidParameter) else None
    message = f"{flag_name(named.parameter)} {named.problem}" if named is not None else str(error)
    return " ".join(message.split()) or type(error).__name__


if __name__ == "__main__":
    main()
