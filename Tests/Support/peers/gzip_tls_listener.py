#!/usr/bin/env python3
"""A TLS listener for Trawl's compressed-sending test: requires a client certificate signed by CA, reads
each connection to its end, decodes the stream as consecutive gzip members and appends the decoded bytes
to OUT and the member count to OUT.members. With HOLD (seconds) it then keeps each connection open that
long without answering the sender's close_notify, as a receiver that never answers it does.
Usage: gzip_tls_listener.py CERT KEY CA OUT [HOLD]. Prints its port."""
import socket
import ssl
import sys
import time
import zlib

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

cert, key, ca, out = sys.argv[1:5]
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 0
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.load_verify_locations(ca)
context.verify_mode = ssl.CERT_REQUIRED
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
print(server.getsockname()[1], flush=True)
while True:
    raw, _ = server.accept()
    try:
        connection = context.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        continue
    data = bytearray()
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, OSError):
        pass
    decoded, members, rest = bytearray(), 0, bytes(data)
    while rest:
        decompressor = zlib.decompressobj(wbits=31)
        decoded += decompressor.decompress(rest)
        if not decompressor.eof:
            break
        members += 1
        rest = decompressor.unused_data
    with open(out, "ab") as handle:
        handle.write(decoded)
    with open(out + ".members", "a") as handle:
        handle.write(f"{members}\n")
    time.sleep(hold)
    connection.close()
