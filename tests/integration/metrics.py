#!/usr/bin/python3
"""metrics.py: metrics.sh's HTTP client and Prometheus text parser.

  scrape URL OUT      GET URL: status 200, Content-Type text/plain;
                      version=0.0.4; the body parsed by prometheus_client's
                      parser (which refuses a malformed line); every sample
                      written to OUT as "name{k=v,...} value" (labels sorted),
                      one a line; every family must have HELP and a type.
  status METHOD URL   prints the HTTP status of METHOD URL.
  refused URL         exits 0 only if the connection is refused.
  malformed           exits 0 only if the parser refuses a malformed line
                      (the parser's negative control).
  flood URL N         N clients connect and send nothing; then a scrape of
                      URL: prints how long it took to answer (s).
  silent URL MAX      a client connects and sends nothing; meanwhile a
                      scrape of URL answers within MAX s; then the daemon
                      closes the silent connection (within 15 s): prints
                      "scrape S s, closed after C s".
"""
import http.client
import socket
import sys
import time
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path or "/"


def get(url, method="GET", timeout=10):
    host, port, path = split(url)
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def scrape(url, out):
    st, ctype, body = get(url)
    if st != 200:
        sys.exit("scrape %s: HTTP %d: %r" % (url, st, body[:200]))
    if ctype != "text/plain; version=0.0.4; charset=utf-8":
        sys.exit("scrape %s: Content-Type %r" % (url, ctype))
    text = body.decode("utf-8")
    lines = []
    n = 0
    for fam in text_string_to_metric_families(text):
        n += 1
        if not fam.name.startswith("vfiomigd_"):
            sys.exit("family %s: no vfiomigd_ prefix" % fam.name)
        if not fam.documentation or fam.type not in ("gauge", "counter"):
            sys.exit("family %s: no HELP or TYPE (%r, %r)" %
                     (fam.name, fam.documentation, fam.type))
        for s in fam.samples:
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            lines.append("%s{%s} %r" % (s.name, labels, s.value))
    if n == 0:
        sys.exit("scrape %s: no metric families" % url)
    with open(out, "w") as f:
        f.write("\n".join(sorted(lines)) + "\n")


def refused(url):
    try:
        get(url, timeout=5)
    except ConnectionRefusedError:
        return
    sys.exit("%s answered" % url)


def malformed():
    bad = ("# TYPE vfiomigd_x gauge\n"
           "vfiomigd_x{set=\"vm1\" 1\n")
    try:
        list(text_string_to_metric_families(bad))
    except ValueError:
        return
    sys.exit("the parser took a malformed line")


def silent(url, limit):
    host, port, _ = split(url)
    s = socket.create_connection((host, port), timeout=5)
    time.sleep(0.2)
    t0 = time.monotonic()
    st, _, _ = get(url, timeout=5)
    took = time.monotonic() - t0
    if st != 200 or took > limit:
        sys.exit("a scrape beside a silent client: HTTP %d after %.2f s" %
                 (st, took))
    s.settimeout(15)
    t0 = time.monotonic()
    try:
        data = s.recv(4096)
    except socket.timeout:
        sys.exit("the silent connection still open after 15 s")
    except ConnectionResetError:
        data = b""
    closed = time.monotonic() - t0
    # evhttp may say 408 before it closes: nothing else.
    if data and not data.startswith(b"HTTP/1.1 408"):
        sys.exit("the silent connection got %r" % data[:100])
    s.close()
    print("scrape %.3f s, closed after %.1f s" % (took, closed + 0.2))


def flood(url, n):
    host, port, _ = split(url)
    socks = [socket.create_connection((host, port), timeout=5)
             for _ in range(n)]
    time.sleep(0.2)
    t0 = time.monotonic()
    st, _, _ = get(url, timeout=30)
    took = time.monotonic() - t0
    if st != 200:
        sys.exit("a scrape beside %d silent clients: HTTP %d" % (n, st))
    for s in socks:
        s.close()
    print("%.3f" % took)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "scrape" and len(argv) == 4:
        scrape(argv[2], argv[3])
    elif cmd == "status" and len(argv) == 4:
        print(get(argv[3], method=argv[2])[0])
    elif cmd == "refused" and len(argv) == 3:
        refused(argv[2])
    elif cmd == "malformed" and len(argv) == 2:
        malformed()
    elif cmd == "flood" and len(argv) == 4:
        flood(argv[2], int(argv[3]))
    elif cmd == "silent" and len(argv) == 4:
        silent(argv[2], float(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
