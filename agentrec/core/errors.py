"""The error kinds every layer of agentrec raises.

The CLI turns any ``AgentrecError`` into one line on stderr and exit status 2.
Anything else is a bug and propagates with its traceback.
"""

from __future__ import annotations


class AgentrecError(Exception):
    """Base class for errors a user can act on (bad input, bad config, backend down)."""


class DataError(AgentrecError):
    """A dataset is missing, malformed or unknown. The message names the file (and line)."""


class ConfigError(AgentrecError):
    """A setting is invalid: a bad model name, a missing API key, an impossible option."""


class ModelBackendError(AgentrecError):
    """An LLM backend failed after the transport retries were spent."""


class ToolRetry(AgentrecError):
    """A tool call was wrong in a way the model can fix; the message is its hint."""


class InvalidParameter(ConfigError):
    """A parameter's value is out of its range or not one of its choices.

    The message names the parameter (``k``), not a flag: the CLI maps it to its flag (``--k``).
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.problem = problem

    def __reduce__(self) -> tuple[type[InvalidParameter], tuple[str, str]]:
        # A worker process raises it too: rebuild it from its two parts, not from the joined message.
        return (type(self), (self.parameter, self.problem))
