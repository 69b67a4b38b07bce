#!/usr/bin/env python3
"""flood.py: TEST ONLY.  Bogus connections to a vfiomigd migration port.

Opens N connections to HOST:PORT, round-robin of the kinds given:
  idle     connect, then nothing
  junk     connect, 256 random bytes, then nothing
  badca    TLS with a client certificate of another CA (the server refuses)
  badtoken TLS with the right client certificate, then a well-formed HELLO
           with a wrong token (the daemon refuses it)
  plain    no TLS: a well-formed HELLO with a wrong token
Everything is non-blocking, from one thread.  The connections stay open
(what the server does not close) for --hold seconds after the last one
was opened, then the program closes them and prints one line of counts:
  opened N refused-at-connect R handshakes-failed F replies G closed-by-peer C
Exit 0 unless no connection could be opened at all.

Usage: flood.py HOST PORT N [--kinds idle,junk,badca,badtoken,plain]
                [--pki DIR] [--rogue DIR] [--set NAME] [--hold SEC]
                [--rate PER_S]
--pki: the test PKI (ca-cert.pem, client-cert.pem, client-key.pem);
--rogue: a client of another CA (client-cert.pem, client-key.pem) and
the right ca-cert.pem.
"""
import argparse
import os
import selectors
import socket
import ssl
import struct
import sys
import time

MAGIC = 0x47494D56
HELLO = 1


def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TAB = crc32c_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = TAB[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def hello(set_name, token, job):
    dev = (field(1, 2, b"sim0") + field(2, 0, 0) + field(3, 0, 7) +
           field(4, 2, b"sim") + field(5, 2, b"sim:1048576"))
    return (field(1, 0, 1) + field(2, 2, set_name.encode()) +
            field(3, 2, token) + field(4, 0, job) + field(5, 0, 0) +
            field(6, 0, 1) + field(7, 2, dev))


def frame(ftype, payload, seq=0):
    hdr = bytearray(32)
    struct.pack_into("<IBBBBHHIQI", hdr, 0, MAGIC, 1, ftype, 0, 0, 0xFFFF,
                     0, len(payload), seq, 0)
    crc = crc32c(bytes(hdr) + payload)
    struct.pack_into("<I", hdr, 24, crc)
    return bytes(hdr) + payload


class Conn:
    def __init__(self, kind, sock, ctx):
        self.kind = kind
        self.sock = sock
        self.ctx = ctx
        self.tls = None
        self.state = "connect"
        self.out = b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--kinds", default="idle,junk,badca,badtoken")
    ap.add_argument("--pki")
    ap.add_argument("--rogue")
    ap.add_argument("--set", default="vm1")
    ap.add_argument("--hold", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=0)
    a = ap.parse_args()
    kinds = a.kinds.split(",")
    ctxs = {}
    for k, d in (("badca", a.rogue), ("badtoken", a.pki)):
        if k not in kinds:
            continue
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname = False
        c.load_verify_locations(os.path.join(d, "ca-cert.pem"))
        c.load_cert_chain(os.path.join(d, "client-cert.pem"),
                          os.path.join(d, "client-key.pem"))
        ctxs[k] = c
    sel = selectors.DefaultSelector()
    conns = []
    st = {"opened": 0, "refused": 0, "failed": 0, "replies": 0, "closed": 0}
    bad_token = b"wrong-token-" + os.urandom(8).hex().encode()

    def want(c, ev):
        try:
            sel.modify(c.sock, ev, c)
        except KeyError:
            sel.register(c.sock, ev, c)

    def drop(c, why):
        st[why] += 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        c.state = "done"

    def step(c):
        try:
            if c.state == "connect":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    drop(c, "refused")
                    return
                st["opened"] += 1
                if c.kind in ctxs:
                    c.sock = ctxs[c.kind].wrap_socket(
                        c.sock, do_handshake_on_connect=False)
                    c.state = "tls"
                elif c.kind == "junk":
                    c.out = os.urandom(256)
                    c.state = "send"
                elif c.kind == "plain":
                    c.out = frame(HELLO, hello(a.set, bad_token, 7))
                    c.state = "send"
                else:
                    c.state = "hold"
            if c.state == "tls":
                try:
                    c.sock.do_handshake()
                except ssl.SSLWantReadError:
                    want(c, selectors.EVENT_READ)
                    return
                except ssl.SSLWantWriteError:
                    want(c, selectors.EVENT_WRITE)
                    return
                if c.kind == "badtoken":
                    c.out = frame(HELLO, hello(a.set, bad_token, 7))
                    c.state = "send"
                else:
                    c.state = "hold"
            if c.state == "send":
                n = c.sock.send(c.out)
                c.out = c.out[n:]
                if c.out:
                    want(c, selectors.EVENT_WRITE)
                    return
                c.state = "hold"
            if c.state == "hold":
                want(c, selectors.EVENT_READ)
                data = c.sock.recv(65536)
                if data:
                    st["replies"] += 1
                    return
                drop(c, "closed")
        except (ssl.SSLWantReadError, BlockingIOError):
            want(c, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            want(c, selectors.EVENT_WRITE)
        except (ssl.SSLError, OSError):
            drop(c, "failed" if c.state in ("tls", "connect") else "closed")

    def pump(timeout):
        for key, _ in sel.select(timeout):
            step(key.data)

    gap = 1.0 / a.rate if a.rate > 0 else 0
    for i in range(a.n):
        kind = kinds[i % len(kinds)]
        s = socket.socket(socket.AF_INET6 if ":" in a.host
                          else socket.AF_INET)
        s.setblocking(False)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError:
            st["refused"] += 1
            s.close()
            continue
        c = Conn(kind, s, ctxs.get(kind))
        conns.append(c)
        want(c, selectors.EVENT_WRITE)
        pump(gap)
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        pump(min(0.1, max(0, end - time.monotonic())))
    for c in conns:
        if c.state != "done":
            try:
                c.sock.close()
            except OSError:
                pass
    print("opened %d refused-at-connect %d handshakes-failed %d replies %d "
          "closed-by-peer %d" % (st["opened"], st["refused"], st["failed"],
                                 st["replies"], st["closed"]))
    return 0 if st["opened"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
