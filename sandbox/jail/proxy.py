"""The egress proxy: the jail's one way out, an allow-listing HTTPS CONNECT proxy on a Unix socket.

afr-box starts it on the host for the length of an agent's session; the jail reaches it only
through the socket mounted at /run/afr/egress.sock (the jail has no network interface). It
accepts `CONNECT host:443` to the host names it was given (exact, or `*.example.com` for the
subdomains of example.com) and refuses everything else: other hosts, other ports, IP literals
that are not listed, plain-HTTP requests. Every attempt is a line of `proxy.log` (JSON), allowed
or refused, with the reason; a tunnel's line also gives its bytes each way once it closes.

Written here (about a hundred lines of asyncio) rather than taken from a package: it must listen
on a Unix socket and allow by name, where the proxies that install from PyPI or Debian
(proxy.py, tinyproxy) listen on TCP and filter by deny-lists or regex files; the tunnel itself
is a byte pipe, the one part there is nothing to get wrong in.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Optional

from afr_box.sandbox.jail.forward import pipe

HEAD_LIMIT = 8192
CONNECT_TIMEOUT_S = 15.0
PORTS = (443,)


def host_allowed(host: str, port: int, allow: list[str], ports: tuple[int, ...] = PORTS) -> Optional[str]:
    """Why CONNECT host:port is refused, or None when it is allowed."""
    host = host.strip("[]").rstrip(".").lower()
    if port not in ports:
        return f"port {port} is not allowed (only {', '.join(map(str, ports))})"
    for entry in (a.strip().rstrip(".").lower() for a in allow):
        if entry == host or (entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]):
            return None
    return f"{host} is not allow-listed (allowed: {', '.join(allow) or 'nothing'})"


class EgressProxy:
    """The proxy on `socket_path`, run in a thread of its own while the session lasts."""

    def __init__(self, socket_path: Path, allow: list[str], log_path: Path, ports: tuple[int, ...] = PORTS):
        self.socket_path, self.allow, self.log_path, self.ports = Path(socket_path), list(allow), Path(log_path), ports
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "EgressProxy":
        self._thread = threading.Thread(target=self._run, name="afr-egress-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the egress proxy did not start on {self.socket_path}")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "EgressProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_unix_server(self._serve, path=str(self.socket_path)))
        os.chmod(self.socket_path, 0o666)  # the jail's user connects; the folder around it limits who can
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            pending = asyncio.all_tasks(self._loop)  # tunnels still open: closed, not left to the collector
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    # ------------------------------------------------------------------ the proxy

    def log(self, **entry) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        with self._lock, open(self.log_path, "a") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            self.log(verdict="refused", request="", reason="no complete HTTP request head")
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")[:300]
        method, _, rest = line.partition(" ")
        target = rest.split(" ")[0]
        if method.upper() != "CONNECT":
            await self._refuse(writer, line, "only HTTPS CONNECT tunnels are allowed (no plain HTTP)", 405)
            return
        host, _, port_text = target.rpartition(":")
        if not host or not port_text.isdigit():
            await self._refuse(writer, line, f"CONNECT target {target!r} is not host:port", 400)
            return
        port = int(port_text)
        why = host_allowed(host, port, self.allow, self.ports)
        if why:
            await self._refuse(writer, line, why, 403, host=host, port=port)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), port),
                                                          CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            await self._refuse(writer, line, f"allowed, but the connection failed ({exc or type(exc).__name__})",
                               502, host=host, port=port, verdict="failed")
            return
        self.log(verdict="allowed", request=line, host=host, port=port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            sent, received = await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:  # the session ends with the tunnel open
            for end in (writer, up_writer):
                end.close()
            self.log(verdict="closed", request=line, host=host, port=port, reason="the session ended")
            return
        self.log(verdict="closed", request=line, host=host, port=port, bytes_out=sent, bytes_in=received)

    async def _refuse(self, writer: asyncio.StreamWriter, line: str, reason: str, code: int,
                      verdict: str = "refused", **where) -> None:
        self.log(verdict=verdict, request=line, reason=reason, **where)
        text = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed", 502: "Bad Gateway"}[code]
        body = f"afr-box egress proxy: {reason}\n".encode()
        try:
            writer.write(f"HTTP/1.1 {code} {text}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()
