"""Rich consoles for the CLI: results on stdout, progress and notes on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

stdout = Console()
stderr = Console(stderr=True)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the folder; tell the user where it went."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    stderr.print(f"[dim]wrote {path}[/dim]")
