#!/usr/bin/env python3
"""seeds.py: writes the fuzzers' seed corpora (tests/fuzz/corpus/NAME/).

Run from anywhere: python3 tests/fuzz/seeds.py.  The corpora are in git;
this script only says where they came from (hand-made protobuf, the
frames of docs/protocol.md, the example configuration) and makes them
again.  Each seed is a valid input, or nearly: the fuzzer mutates from
there.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = b"0123456789abcdef-vm1-token"


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def f(num, payload):
    """A field: an int is a varint, bytes or str length-delimited."""
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def frame(ftype, payload, seq, dev=0xFFFF, flags=0):
    hdr = bytearray(32)
    struct.pack_into("<IBBBBHHIQI", hdr, 0, 0x47494D56, 1, ftype, flags, 0,
                     dev, 0, len(payload), seq, 0)
    struct.pack_into("<I", hdr, 24, crc32c(bytes(hdr) + payload))
    return bytes(hdr) + payload


def device(name, index):
    return (f(1, name) + f(2, index) + f(3, 7) + f(4, "sim") +
            f(5, "sim:65536"))


def hello(conns=1):
    return (f(1, 1) + f(2, "vm1") + f(3, TOKEN) + f(4, 77) + f(5, 0) +
            f(6, conns) + f(7, device("sim0", 0)) + f(7, device("sim1", 1)))


def hello_reply():
    return (f(1, 1) + f(4, device("sim0", 0)) + f(4, device("sim1", 1)) +
            f(5, 1 << 20))


def abort():
    return f(1, 104) + f(2, "connection reset by peer")


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as fh:
            fh.write(v)


def main():
    dev_end = struct.pack("<QQ", 5, (0x1234 << 32) | 5)
    write("frame", {
        # first byte: role (% 3) and chunk size (>> 2)
        "hello-dst": b"\x02" + frame(1, hello(), 0),
        "hello-data-end": b"\x06" + frame(1, hello(), 0) +
        frame(3, b"hello", 1, dev=0) + frame(4, b"", 2, dev=0) +
        frame(5, dev_end, 3, dev=0),
        "reply-src": b"\x01" + frame(2, hello_reply(), 0) +
        frame(6, b"", 1) + frame(8, b"", 2),
        "abort-any": b"\x00" + frame(9, abort(), 0),
        "reply-resumed": b"\x01" + frame(2, hello_reply(), 0) +
        frame(6, b"", 1) + frame(8, b"", 2) + frame(10, f(1, 5000), 3),
    })
    write("hello", {
        "hello": hello(),
        "hello-4conns": hello(4),
        "reply": hello_reply(),
        "refused": f(1, 0) + f(2, 13) + f(3, "set vm1: wrong token"),
        "abort": abort(),
    })
    with open(os.path.join(HERE, "..", "..", "docs",
                           "vfiomigd.conf.example"), "rb") as fh:
        example = fh.read()
    write("config", {
        "example": example,
        "small": b'{"migration": {"listen": "127.0.0.1:4444", "insecure": '
                 b'true}, "sets": [{"name": "vm1", "token": "'
                 + TOKEN + b'", "devices": [{"name": "sim0", "backend": '
                 b'"sim", "state_size": "1M", "flags": ["STOP_COPY", '
                 b'"P2P"]}, {"name": "nic0", "backend": "vfio", "group": '
                 b'"/dev/vfio/7", "device": "0000:3b:00.0"}]}]}',
        "empty": b"{}",
    })
    sim = f(1, 65536) + f(2, 0) + f(3, 0)
    dev = f(1, "d0") + f(4, sim)
    req = lambda n, body: f(1, 1) + f(n, body)  # noqa: E731
    write("ctl", {
        "hello": req(10, f(1, 1) + f(3, "fuzz")),
        "list": req(11, b""),
        "list-vm1": req(11, f(1, "vm1")),
        "create": req(12, f(1, "s1") + f(3, TOKEN) + f(4, dev)),
        "remove": req(13, f(1, "vm2")),
        "add": req(14, f(1, "vm2") + f(2, f(1, "d1") + f(4, sim))),
        "add-fd": req(14, f(1, "vm2") + f(2, f(1, "d2") + f(5, f(1, 0)))),
        "remove-dev": req(15, f(1, "vm1") + f(2, "sim1")),
        "prepare": req(16, f(1, "vm1") + f(3, TOKEN)),
        "migrate": req(17, f(1, "vm1") + f(2, "127.0.0.1:1") + f(3, TOKEN) +
                       f(4, f(1, 3) + f(2, 100) + f(5, 2))),
        "switchover": req(18, f(1, "vm1")),
        "cancel": req(19, f(1, "vm1")),
        "info": req(20, f(1, "vm1")),
        "subscribe": req(21, f(1, "vm1") + f(2, 1)),
        "drain-fd": req(22, f(1, "vm1")),
        "done-fd": req(23, f(1, "vm1")),
        "release": req(24, f(1, "vm1")),
        "attach-vmm": req(29, f(1, "vm1") + f(2, 2) + f(3, 500) +
                          f(4, f(1, 0)) + f(6, f(1, 1))),
        "detach-vmm": req(29, f(1, "vm1") + f(2, 1)),
        "vmm-ack": req(30, f(1, "vm1") + f(2, "0" * 32) + f(3, 1)),
    })


if __name__ == "__main__":
    main()
