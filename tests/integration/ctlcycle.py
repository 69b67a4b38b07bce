#!/usr/bin/env python3
"""ctlcycle.py: TEST ONLY.  Many control requests over one connection, fast.

Speaks the control protocol (proto/vfiomig-ctl.proto) with hand-made
protobuf, so that thousands of requests cost no process each:
  sets N        N times: create set "cyc", add a sim device, remove it
  prepare N SET TOKEN PORT
                N times: prepare SET for an incoming migration on a
                listener of its own, at 127.0.0.1:PORT, PORT+1, ... (a port
                in use is skipped), then on the daemon's configured
                listener (the extra one is let go)
Prints "ok N" or the first error and exits 1.

Usage: ctlcycle.py SOCKET sets N | SOCKET prepare N SET TOKEN PORT
"""
import socket
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return key + varint(len(payload)) + payload


def read_varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def response(b):
    """(id, error, message) of a Response."""
    i, rid, err, msg = 0, 0, 0, ""
    while i < len(b):
        key, i = read_varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(b, i)
            if num == 1:
                rid = v
            elif num == 2:
                err = v
        elif wire == 2:
            n, i = read_varint(b, i)
            if num == 3:
                msg = b[i:i + n].decode(errors="replace")
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
    return rid, err, msg


class Ctl:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.id = 0

    def call(self, body_num, body):
        self.id += 1
        self.s.send(field(1, 0, self.id) + field(body_num, 2, body))
        while True:
            rid, err, msg = response(self.s.recv(4 << 20))
            if rid == self.id:
                return err, msg


def check(what, err, msg):
    if err:
        print("%s: error %d: %s" % (what, err, msg))
        sys.exit(1)


def main():
    ctl = Ctl(sys.argv[1])
    n = int(sys.argv[3])
    if sys.argv[2] == "sets":
        sim = field(1, 0, 65536) + field(2, 0, 0) + field(3, 0, 0)
        dev = field(1, 2, "d0") + field(4, 2, sim)
        for i in range(n):
            check("create", *ctl.call(12, field(1, 2, "cyc") +
                                      field(4, 2, dev)))
            check("remove", *ctl.call(13, field(1, 2, "cyc")))
    elif sys.argv[2] == "prepare":
        s, tok, port = sys.argv[4], sys.argv[5], int(sys.argv[6])
        i = 0
        while i < n:
            addr = "127.0.0.1:%d" % port
            port += 1
            err, msg = ctl.call(16, field(1, 2, s) + field(2, 2, addr) +
                                field(3, 2, tok))
            if err == 98:       # EADDRINUSE: another test's, skip it
                continue
            check("prepare on " + addr, err, msg)
            check("prepare on the configured listener",
                  *ctl.call(16, field(1, 2, s) + field(3, 2, tok)))
            i += 1
    else:
        print("usage: ctlcycle.py SOCKET sets N | "
              "SOCKET prepare N SET TOKEN PORT")
        sys.exit(2)
    print("ok %d" % n)


if __name__ == "__main__":
    main()
