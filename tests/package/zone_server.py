#!/usr/bin/python3
"""zone_server.py - a tiny authoritative DNS server for the package tests.

    zone_server.py PORT ZONEFILE

Answers on 127.0.0.1:PORT (UDP and TCP) from the records of ZONEFILE, in
zone-file syntax (what "postmeter dns DOMAIN" prints, plus the test's own
lines; names absolute, with their final dot): every record whose name
and type match the question, NXDOMAIN for a name the file does not have,
an empty NOERROR answer for a known name without that type. Nothing is
forwarded anywhere. Runs in the package test's chroot (python3-dnslib of
Debian 12) until killed; prints "ready" once both sockets listen.
test_install_mail.sh points postmeter (dns_servers = 127.0.0.1@PORT) and
the test's DKIM verifier at it.
"""
import sys
import time

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSServer


class ZoneResolver(BaseResolver):
    """ZoneResolver - answers from a fixed list of records"""

    def __init__(self, text):
        self.rrs = RR.fromZone(text)
        self.names = {str(rr.rname).lower() for rr in self.rrs}

    def resolve(self, request, handler):
        """resolve - the matching records, NXDOMAIN for an unknown name"""
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = request.q.qtype
        for rr in self.rrs:
            if str(rr.rname).lower() == qname and (rr.rtype == qtype or qtype == QTYPE.ANY):
                reply.add_answer(rr)
        if not reply.rr and qname not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main():
    """main - serve ZONEFILE on 127.0.0.1:PORT until killed"""
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, encoding="utf-8") as f:
        resolver = ZoneResolver(f.read())
    for tcp in (False, True):
        DNSServer(resolver, address="127.0.0.1", port=port, tcp=tcp,
                  logger=QuietLogger()).start_thread()
    print("ready", len(resolver.rrs), "records", flush=True)
    while True:
        time.sleep(3600)


class QuietLogger:
    """QuietLogger - dnslib's server logger, silent but for errors"""

    def __getattr__(self, name):
        if name == "log_error":
            return lambda handler, e: print("error:", e, file=sys.stderr, flush=True)
        return lambda *args: None


if __name__ == "__main__":
    main()
