#!/usr/bin/python3
"""A TCP proxy between nginx and Redis that can make one reply late.

    delayproxy.py --listen PORT --to PORT --control FILE

Bytes pass through unchanged.  When FILE exists and holds "PATTERN DELAY_MS",
the first client-to-server chunk that contains PATTERN (a command, say the
enable script) arms the connection it came on: every server-to-client byte
from then on is held for DELAY_MS, then sent; FILE is removed (one shot).
Redis has by then executed the command: its reply is merely late, as it is
on a slow network or a busy server.
"""

import argparse
import asyncio
import os


async def pipe(reader, writer, on_chunk=None, delay=None):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if on_chunk:
                on_chunk(data)
            if delay and delay["until"]:
                wait = delay["until"] - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--control", required=True)
    args = ap.parse_args()

    async def handle(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1",
                                                             args.to)
        except OSError:
            cwriter.close()
            return
        delay = {"until": 0}

        def inspect(data):
            try:
                with open(args.control) as f:
                    pattern, ms = f.read().rsplit(None, 1)
            except (OSError, ValueError):
                return
            if pattern.encode() in data:
                os.unlink(args.control)
                delay["until"] = (asyncio.get_running_loop().time()
                                  + int(ms) / 1000.0)

        await asyncio.gather(pipe(creader, swriter, on_chunk=inspect),
                             pipe(sreader, cwriter, delay=delay))

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", args.listen)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
