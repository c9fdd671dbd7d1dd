"""`afr-box` inside the jail: try, check, status and literature, asked of the host over the channel.

The jail holds no afr-box of its own beyond this: no engine, no data, no campaign folder to write.
Each command sends one request on the channel socket (the workspace's `surface/` as a tar for
`try` and `check`) and prints what the host answers, with the host's exit code. The commands and
their options are those of the host's `afr-box`, so one program serves both places. A `try`
whose command is stopped (a tool timeout) goes on on the host: its row shows in `afr-box status`.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any, Optional

from . import channel

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="afr-box", description=(
        "afr-box in the agent jail: the commands below are carried out by the host (the jail has no "
        "network, no engine and no test data); every other afr-box command is the host's alone."))
    sub = top.add_subparsers(dest="command", required=True)
    t = sub.add_parser("try", help="run surface/ as the campaign's next candidate and print its row")
    t.add_argument("-m", "--message", default="", help="one line: what changed and why (required but for --smoke)")
    t.add_argument("--source", action="append", default=[], help="a paper or URL (repeatable)")
    t.add_argument("--smoke", action="store_true", help="a smoke run (tiny budget, no score, no row)")
    c = sub.add_parser("check", help="the gate's verdict on surface/, check by check (nothing is built)")
    c.add_argument("--json", action="store_true")
    s = sub.add_parser("status", help="best so far, recent rows, plateau watchdog, budget left")
    s.add_argument("--last", type=int, default=10)
    s.add_argument("--json", action="store_true")
    lit = sub.add_parser("literature", help="literature events: start, finish, log")
    lsub = lit.add_subparsers(dest="action", required=True)
    lsub.add_parser("start")
    f = lsub.add_parser("finish")
    f.add_argument("--source", action="append", default=[], required=True)
    f.add_argument("-m", "--message", default="")
    lsub.add_parser("log")
    for p in (t, c, s, lit):
        p.add_argument("--workspace", default=os.environ.get("AFR_WORKSPACE", "/workspace"),
                       help=argparse.SUPPRESS)
    return top


def request_of(ns: argparse.Namespace) -> tuple[str, dict[str, Any], Optional[str]]:
    """(verb, args, folder to send) of parsed command-line options."""
    surface = os.path.join(ns.workspace, "surface")
    if ns.command == "try":
        verb = "smoke" if ns.smoke else "try"
        return verb, {"message": ns.message, "sources": ns.source}, surface
    if ns.command == "check":
        return "check", {"json": ns.json}, surface
    if ns.command == "status":
        return "status", {"last": ns.last, "json": ns.json}, None
    args: dict[str, Any] = {"action": ns.action}
    if ns.action == "finish":
        args.update(sources=ns.source, message=ns.message)
    return "literature", args, None


def ask(verb: str, args: dict[str, Any], folder: Optional[str], socket_path: str) -> int:
    data = channel.pack_tree(folder) if folder else b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(socket_path)
        except OSError as exc:
            print(f"error: cannot reach the host's channel at {socket_path} ({exc.strerror}); "
                  f"is `afr-box agent serve` running?", file=sys.stderr)
            return EXIT_BAD_INPUT
        stream = sock.makefile("rwb")
        channel.send_line(stream, {"verb": verb, "args": args, "snapshot_bytes": len(data)})
        stream.write(data)
        stream.flush()
        while True:
            line = channel.read_line(stream, limit=channel.MAX_SNAPSHOT_BYTES)
            if line is None:
                print("error: the host closed the channel without an answer", file=sys.stderr)
                return EXIT_BAD_INPUT
            if "progress" in line:
                print(line["progress"], file=sys.stderr, flush=True)
                continue
            if line.get("out"):
                print(line["out"])
            if line.get("err"):
                print(line["err"], file=sys.stderr)
            return int(line.get("exit", EXIT_BAD_INPUT))


def main(argv: Optional[list[str]] = None) -> None:
    ns = _parser().parse_args(argv)
    verb, args, folder = request_of(ns)
    socket_path = os.environ.get("AFR_CHANNEL", os.path.join(channel.SOCKET_DIR, channel.CHANNEL_SOCKET))
    sys.exit(ask(verb, args, folder, socket_path))


if __name__ == "__main__":
    main()
