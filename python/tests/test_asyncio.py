# SPDX-License-Identifier: MIT
"""asyncio: several channels of different transports served by one event
loop through fileno()/add_reader, with arecv/asend and async iteration."""
import asyncio
import os

import pytest

import uipc
from conftest import attach


def test_one_loop_serves_several_channels(uri_for):
    pairs = [uipc.pair("pipe:"), uipc.pair("unix:"), uipc.pair("shm:")]
    named = []
    for scheme in ("fifo", "tcp", "mq"):
        uri = uri_for(scheme)
        own = uipc.open(uri, create=True)
        named.append((own, attach(uri)))
    ends = pairs + named

    async def echo(ch):
        async for m in ch:
            await ch.asend(m * 2)
            if m == b"end":
                return

    async def client(ch, n):
        got = []
        for i in range(n):
            await ch.asend(b"%d" % i)
            got.append(await ch.arecv(10))
        await ch.asend(b"end")
        assert await ch.arecv(10) == b"endend"
        return got

    async def main():
        servers = [asyncio.create_task(echo(b)) for _, b in ends]
        results = await asyncio.gather(*(client(a, 20) for a, _ in ends))
        await asyncio.wait_for(asyncio.gather(*servers), 10)
        return results

    try:
        for got in asyncio.run(main()):
            assert got == [b"%d" % i * 2 for i in range(20)]
    finally:
        for a, b in ends:
            a.close()
            b.close()


def test_arecv_times_out_and_is_cancellable():
    a, b = uipc.pair("unix:")

    async def main():
        with pytest.raises(TimeoutError):
            await b.arecv(0.05)
        task = asyncio.create_task(b.arecv())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancelled wait left nothing registered: the loop still works.
        a.send(b"after")
        assert await b.arecv(5) == b"after"

    with a, b:
        asyncio.run(main())


def test_arecv_without_a_descriptor_on_sysvmq(uri_for):
    uri = uri_for("sysvmq")

    async def main(own, att):
        task = asyncio.create_task(att.arecv(10))
        await asyncio.sleep(0.02)
        own.send(b"late")
        return await task

    with uipc.open(uri, create=True) as own, uipc.open(uri) as att:
        assert asyncio.run(main(own, att)) == b"late"


def test_aaccept_on_a_listener(tmp_path):
    uri = f"unix://{tmp_path}/l.sock"

    async def main(lst):
        t = asyncio.create_task(lst.aaccept(10))
        await asyncio.sleep(0.02)
        client = uipc.open(uri)
        server = await t
        with client, server:
            client.send(b"hi")
            return await server.arecv(5)

    with uipc.listen(uri) as lst:
        assert asyncio.run(main(lst)) == b"hi"


def test_asend_waits_for_room_without_blocking_the_loop():
    a, b = uipc.pair("shm:")

    async def main():
        big = os.urandom(a.max_msg)
        sent = 0
        while True:  # fill the ring
            try:
                a.send(big, 0)
                sent += 1
            except BlockingIOError:
                break
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tk = asyncio.create_task(ticker())
        t = asyncio.create_task(a.asend(big, 10))
        while ticks < 5:                   # the loop keeps running meanwhile
            await asyncio.sleep(0.001)
        assert not t.done()                # the ring is still full
        for _ in range(sent + 1):
            await b.arecv(5)
            await asyncio.sleep(0)
        await t
        tk.cancel()

    with a, b:
        asyncio.run(main())
