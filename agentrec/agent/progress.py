"""``Progress``: how the agent layer tells a caller what it is doing now, one short line at a time.

Opening a workspace ("ease: fitting or loading"), a loop step ("thinking",
"running retrieve(...)") and a chat turn all report through it; the CLI shows the
line in a spinner. (An agent evaluation counts users instead: ``UserProgress``.)
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
