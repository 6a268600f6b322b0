"""``qa ui``: serve the web chat (registered as a qa command)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add ``qa ui`` to the CLI."""
    p = sub.add_parser("ui", help="open the web chat (default http://127.0.0.1:7860)")
    p.add_argument("--host", help="interface to bind (default QA_UI_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default QA_UI_PORT or 7860)")
    p.set_defaults(func=_cmd_ui)


def _cmd_ui(args: argparse.Namespace, settings: Any) -> int:
    from ui.app import main

    main(host=args.host, port=args.port)
    return 0
