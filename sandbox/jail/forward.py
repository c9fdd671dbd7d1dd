"""The jail's only road out: 127.0.0.1:PORT inside the jail, joined byte for byte to the egress
proxy's Unix socket that the host mounts at /run/afr/egress.sock.

The jail has no network interface (only loopback), so `HTTPS_PROXY=http://127.0.0.1:3128` is the
one address an agent CLI can reach; every connection made to it arrives at the host's
allow-listing proxy (sandbox/jail/proxy.py), which decides. Standard library only.
"""
from __future__ import annotations

import asyncio
import os
import sys

PORT = 3128
READY = "/tmp/.afr-forward-ready"  # written once the forwarder listens (the entry waits for it)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Copy until EOF (or a broken connection), then close `writer`; the bytes copied. The host's
    egress proxy (proxy.py) pipes its tunnels with it too."""
    total = 0
    try:
        while data := await reader.read(1 << 16):
            total += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass
    return total


async def serve(socket_path: str, port: int = PORT) -> None:
    async def join(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(join, "127.0.0.1", port)
    with open(READY, "w") as fh:
        fh.write(str(port))
    async with server:
        await server.serve_forever()


def main() -> None:
    socket_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join("/run/afr", "egress.sock")
    asyncio.run(serve(socket_path))


if __name__ == "__main__":
    main()
