#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A DERP client over WebSocket, on a real WebSocket library (Debian's
python3-websockets), for itest_websocket.c.

It prints "KEY <hex public key>" first, then does the DERP handshake inside
binary messages (subprotocol "derp"): ServerKey, a ClientInfo sealed with
libsodium's crypto_box (through ctypes: no Python binding needed), ServerInfo.

  relay  COUNT rounds with the normal DERP client whose key is --peer (with
         --pipeline, the first packet rides in ClientInfo's frame): send
         packet i (it_fill_pattern(len_i, seed + i)), then wait for the
         peer's answer (seed + 1000 + i) and check it byte for byte. Packets
         go in every shape the relay must take: one message, a fragmented
         message, two frames in one message, a frame cut across messages,
         with pings in between. Ends with a close handshake, which must be
         answered with the code it sent (--close-code, 1000 by default).
  bad    after the handshake (or, with --early, right after ServerKey),
         writes one malformed WebSocket frame of kind --bad straight to the
         socket; the relay must close the connection.

Exit status 0 and "OK" or "CLOSED" on success; anything else is a failure,
explained on stderr.
"""
import argparse
import asyncio
import ctypes
import ctypes.util
import json
import os
import ssl
import struct
import sys

import websockets

KEY_LEN = 32
MAGIC = b"DERP\xf0\x9f\x94\x91"
# coder/websocket's default read limit per message, which Tailscale's Go
# WebSocket clients keep: a bigger message closes their connection.
GO_READ_LIMIT = 32768
SIZES = [1, 100, 120, 121, 1000, 16000, 16384, 16385, 30000, 65535, 65536, 2]

sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
if sodium.sodium_init() < 0:
    sys.exit("libsodium init failed")


def keypair():
    pub = ctypes.create_string_buffer(KEY_LEN)
    priv = ctypes.create_string_buffer(KEY_LEN)
    sodium.crypto_box_keypair(pub, priv)
    return pub.raw, priv.raw


def seal(msg, nonce, peer_pub, priv):
    out = ctypes.create_string_buffer(len(msg) + 16)
    rc = sodium.crypto_box_easy(out, msg, ctypes.c_ulonglong(len(msg)), nonce, peer_pub, priv)
    if rc != 0:
        sys.exit("crypto_box_easy failed")
    return out.raw


def pattern(length, seed):
    """harness.c's it_fill_pattern: splitmix64, eight bytes at a time."""
    m = (1 << 64) - 1
    x = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & m
    out = bytearray()
    while len(out) < length:
        x = (x + 0x9E3779B97F4A7C15) & m
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:length])


def frame(ftype, payload):
    return struct.pack(">BI", ftype, len(payload)) + payload


class Stream:
    """The DERP byte stream inside the binary messages, as derper's net.Conn reads it."""

    def __init__(self, ws):
        self.ws = ws
        self.buf = b""

    async def need(self, n):
        while len(self.buf) < n:
            msg = await asyncio.wait_for(self.ws.recv(), 10)
            if not isinstance(msg, bytes):
                raise SystemExit("relay sent a text message")
            if len(msg) > GO_READ_LIMIT:
                raise SystemExit("relay sent a message of %d bytes: Go clients take %d at most"
                                 % (len(msg), GO_READ_LIMIT))
            self.buf += msg

    async def frame(self):
        await self.need(5)
        ftype, length = struct.unpack(">BI", self.buf[:5])
        await self.need(5 + length)
        payload = self.buf[5 : 5 + length]
        self.buf = self.buf[5 + length :]
        return ftype, payload

    async def expect(self, want):
        while True:
            ftype, payload = await self.frame()
            if ftype == want:
                return payload
            # KeepAlive, PeerPresent and the like may come in between.


def masked_frame(payload):
    """A whole masked binary frame, for bytes written around the library."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x82, 0x80 | n])
    elif n < 65536:
        head = bytes([0x82, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([0x82, 0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


async def handshake(ws, stream, pub, priv, early_bad=None, pipelined=None):
    server_key = await stream.expect(0x01)
    if server_key[:8] != MAGIC or len(server_key) != 8 + KEY_LEN:
        raise SystemExit("bad ServerKey frame")
    if early_bad:
        ws.transport.write(early_bad)
        return
    nonce = os.urandom(24)
    info = json.dumps({"version": 2}).encode()
    client_info = frame(0x02, pub + nonce + seal(info, nonce, server_key[8:], priv))
    if pipelined:
        # ClientInfo and the first packet in one WebSocket frame, of which only
        # half the packet arrives at first: the relay hands the connection to
        # a worker in the middle of that frame, and the worker must go on
        # decoding it where the handshake stopped.
        raw = masked_frame(client_info + pipelined)
        cut = len(raw) - len(pipelined) // 2
        ws.transport.write(raw[:cut])
        await asyncio.sleep(0.3)
        ws.transport.write(raw[cut:])
    else:
        # Cut across two messages: the relay must read the messages as one stream.
        await ws.send(client_info[:7])
        await ws.send(client_info[7:])
    await stream.expect(0x03)


async def fragments(data, size):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def packet_frame(args, i):
    return frame(0x04, bytes.fromhex(args.peer) + pattern(SIZES[i % len(SIZES)], args.seed + i))


async def relay(ws, stream, args):
    peer = bytes.fromhex(args.peer)
    for i in range(args.count):
        f = packet_frame(args, i)
        shape = i % 4
        if i == 0 and args.pipeline:
            pass  # sent with ClientInfo
        elif shape == 0:
            await ws.send(f)
        elif shape == 1:
            # One message in fragments (continuation frames).
            await ws.send(fragments(f, 333))
        elif shape == 2:
            # The frame cut across two messages, a ping between them.
            await ws.send(f[:3])
            pong = await ws.ping(b"hd-%d" % i)
            await ws.send(f[3:])
            await asyncio.wait_for(pong, 10)
        else:
            # Two frames in one message: a KeepAlive-free NotePreferred, then the packet.
            await ws.send(frame(0x07, b"\x00") + f)
        got = await stream.expect(0x05)
        want = pattern(SIZES[i % len(SIZES)], args.seed + 1000 + i)
        if got[:KEY_LEN] != peer:
            raise SystemExit("round %d: RecvPacket from the wrong key" % i)
        if got[KEY_LEN:] != want:
            raise SystemExit("round %d: RecvPacket content differs (%d bytes, want %d)" %
                             (i, len(got) - KEY_LEN, len(want)))
    await asyncio.wait_for(ws.close(code=args.close_code), 10)
    if ws.close_code != args.close_code:
        raise SystemExit("close answered with %s, want %d" % (ws.close_code, args.close_code))
    print("OK", flush=True)


BAD = {
    "unmasked": b"\x82\x02ab",
    "text": b"\x81\x82\x01\x02\x03\x04" + bytes([ord("h") ^ 1, ord("i") ^ 2]),
    "rsv": b"\xc2\x81\x01\x02\x03\x04\x00",
    "opcode": b"\x83\x81\x01\x02\x03\x04\x00",
    "bigping": b"\x89\xfe\x00\x7e\x01\x02\x03\x04" + bytes(126),
    "continuation": b"\x80\x81\x01\x02\x03\x04\x00",
    "hugelen": b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04",
}


async def expect_closed(ws):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.exceptions.ConnectionClosed:
        print("CLOSED", flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--mode", choices=["relay", "bad"], default="relay")
    ap.add_argument("--peer")
    ap.add_argument("--count", type=int, default=len(SIZES) * 2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bad", choices=sorted(BAD))
    ap.add_argument("--early", action="store_true")
    ap.add_argument("--close-code", type=int, default=1000,
                    help="the code to close with, which the relay must echo")
    ap.add_argument("--pipeline", action="store_true",
                    help="send the first packet in ClientInfo's frame, half of it late")
    args = ap.parse_args()

    pub, priv = keypair()
    print("KEY " + pub.hex(), flush=True)
    ctx = None
    if args.url.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=args.cafile)
    async with websockets.connect(args.url, subprotocols=["derp"], ssl=ctx, max_size=None,
                                  compression=None, open_timeout=10) as ws:
        if ws.subprotocol != "derp":
            raise SystemExit("subprotocol %r, want derp" % ws.subprotocol)
        stream = Stream(ws)
        if args.mode == "relay":
            first = packet_frame(args, 0) if args.pipeline else None
            await handshake(ws, stream, pub, priv, pipelined=first)
            await relay(ws, stream, args)
            return
        bad = BAD[args.bad]
        if args.early:
            await handshake(ws, stream, pub, priv, early_bad=bad)
        else:
            await handshake(ws, stream, pub, priv)
            ws.transport.write(bad)
        await expect_closed(ws)


asyncio.run(main())
