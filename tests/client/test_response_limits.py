"""Response size limits: a decompression bomb meets max_response_bytes after decoding.

The bombs are real gzip and deflate streams, served over loopback, with and without a length.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from northflank_async import NorthflankClient, ResponseTooLargeError

from ..conftest import wire_build
from .conftest import Handler

MiB = 1 << 20

# --------------------------------------------------------------------------- helpers


def bomb(encoding: str, inflated: int) -> bytes:
    """A valid gzip or zlib ("deflate") stream of ``inflated`` zero bytes, about 1/1000 the size.

    Built from one full-flushed deflate block repeated (a full flush resets the compressor, so
    the block is the same each time): no gigabyte is ever held, and the checksums are right.
    """
    assert inflated % MiB == 0
    zeros = bytes(MiB)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    again = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    end = raw.flush()
    count = inflated // MiB
    crc, adler = 0, 1
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
        adler = zlib.adler32(zeros, adler)
    body = block * count + end
    if encoding == "gzip":
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        return header + body + struct.pack("<II", crc, inflated & 0xFFFFFFFF)
    assert encoding == "deflate"
    return b"\x78\xda" + body + struct.pack(">I", adler)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_helper_inflates_to_what_it_claims(encoding: str) -> None:
    """The bomb is a real stream: 4 MiB of zeros from a few KiB (checksums included)."""
    data = bomb(encoding, 4 * MiB)
    assert len(data) < 8 * 1024
    assert zlib.decompress(data, 31 if encoding == "gzip" else 15) == bytes(4 * MiB)


def bomb_handler(body: bytes, encoding: str, *, with_length: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
        if with_length:
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for start in range(0, len(body), 16 * 1024):
                await response.write(body[start : start + 16 * 1024])
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up once it had seen enough: that is the point
        return response

    return handler


# --------------------------------------------------------------------------- bombs


class TestDecompressionBombs:
    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_bomb_is_refused_after_decompression(
        self, serve: Callable[[Handler], Awaitable[str]], encoding: str, with_length: bool
    ) -> None:
        """64 KiB on the wire, 64 MiB inflated, a 1 MiB bound: ResponseTooLargeError."""
        base = await serve(
            bomb_handler(bomb(encoding, 64 * MiB), encoding, with_length=with_length)
        )
        async with NorthflankClient(
            "t0k3n", base_url=base, max_response_bytes=MiB, max_retries=0
        ) as nf:
            with pytest.raises(ResponseTooLargeError, match="after decompression"):
                await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")

    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_compressed_body_within_the_bound_is_read(
        self, serve: Callable[[Handler], Awaitable[str]], encoding: str
    ) -> None:
        """An honest compressed answer under the bound still decodes (Content-Length or not)."""
        payload = json.dumps({"data": wire_build(7)}).encode()
        body = zlib.compress(payload, 6, wbits=31 if encoding == "gzip" else 15)
        for with_length in (True, False):
            base = await serve(bomb_handler(body, encoding, with_length=with_length))
            async with NorthflankClient(
                "t0k3n", base_url=base, max_response_bytes=len(payload), max_retries=0
            ) as nf:
                build = await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")
            assert build.id == "build-0007"

    async def test_one_byte_over_the_bound_is_refused(
        self, serve: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """The bound is exact on the decoded bytes, whatever the encoded length says."""
        payload = json.dumps({"data": wire_build(7)}).encode()
        body = zlib.compress(payload, 6, wbits=31)
        base = await serve(bomb_handler(body, "gzip", with_length=True))
        async with NorthflankClient(
            "t0k3n", base_url=base, max_response_bytes=len(payload) - 1, max_retries=0
        ) as nf:
            with pytest.raises(ResponseTooLargeError):
                await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")
