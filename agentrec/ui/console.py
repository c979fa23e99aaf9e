"""Rich consoles for the CLI: results on stdout, progress and notes on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

# Piped output (CI logs, files) gets a wide console so result tables are not squeezed to 80 columns.
stdout = Console() if sys.stdout.isatty() else Console(width=160)
stderr = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the folder; tell the user where it went."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    stderr.print(f"[dim]wrote {path}[/dim]")
