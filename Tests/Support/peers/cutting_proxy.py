#!/usr/bin/env python3
"""A TCP proxy for Trawl's resume tests: forwards 127.0.0.1:<free port> to the target port, and cuts the
first `cuts` connections whose request mentions `marker` after `after` bytes of response. Prints its port
once listening, runs until killed."""
import asyncio
import sys

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

target_port, marker, after, cuts = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
state = {"cuts_left": cuts}


async def pump(reader, writer, limit=None):
    sent = 0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if limit is not None and sent + len(data) >= limit:
                writer.write(data[: limit - sent])
                await writer.drain()
                return True
            writer.write(data)
            await writer.drain()
            sent += len(data)
    except (ConnectionError, asyncio.CancelledError):
        pass
    return False


async def handle(client_reader, client_writer):
    upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
    first = await client_reader.read(65536)
    cut = marker in first and state["cuts_left"] > 0
    if cut:
        state["cuts_left"] -= 1
    upstream_writer.write(first)
    await upstream_writer.drain()
    upward = asyncio.ensure_future(pump(client_reader, upstream_writer))
    await pump(upstream_reader, client_writer, after if cut else None)
    upward.cancel()
    for writer in (client_writer, upstream_writer):
        try:
            writer.transport.abort() if cut else writer.close()
        except Exception:
            pass


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
