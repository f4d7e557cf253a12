#!/usr/bin/env python3
"""A TLS receiver for scripts/bench that costs almost no CPU: it completes each handshake (requiring a
client certificate signed by CA, as Devo's relays do), then reads the connection's ciphertext and drops it
without decrypting, as a relay on another machine would cost the sender's machine nothing. On loopback a
receiver that decrypts (openssl s_server, rsyslog) shares the sender's cores, so it measures the two
together.

It cannot read the sender's close_notify, so it cannot answer it: when a connection's last record is the
size of a TLS 1.3 alert (19 bytes) and nothing follows for 50 ms, it closes the connection, as a receiver
answering close_notify would. On SIGTERM it prints the bytes received after the handshakes and exits.
Usage: tls_ciphertext_sink.py CERT KEY CA. Prints its port."""
import os
import signal
import socket
import ssl
import sys
import threading

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

ALERT_RECORD = 5 + 2 + 1 + 16  # header, alert, inner content type, AEAD tag

cert, key, ca = sys.argv[1:4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.load_verify_locations(ca)
context.verify_mode = ssl.CERT_REQUIRED
received = [0]
lock = threading.Lock()


def drain(raw):
    try:
        connection = context.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    reader = socket.socket(fileno=os.dup(connection.fileno()))
    buffer = memoryview(bytearray(1 << 20))
    pending = b""  # the bytes of a record header read in part
    remaining = 0  # the bytes of the current record not read yet
    last = 0  # the length of the last record begun
    try:
        while True:
            reader.settimeout(0.05 if last == ALERT_RECORD and remaining == 0 else None)
            try:
                count = reader.recv_into(buffer)
            except socket.timeout:
                break
            if count == 0:
                break
            with lock:
                received[0] += count
            position = 0
            while position < count:
                if remaining > 0:
                    step = min(remaining, count - position)
                    remaining -= step
                    position += step
                    continue
                need = 5 - len(pending)
                pending += bytes(buffer[position:position + need])
                position += min(need, count - position)
                if len(pending) == 5:
                    remaining = int.from_bytes(pending[3:5], "big")
                    last = 5 + remaining
                    pending = b""
    except OSError:
        pass
    reader.close()
    try:
        connection.close()
    except OSError:
        pass


def stop(*_):
    with lock:
        print(received[0], flush=True)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
print(server.getsockname()[1], flush=True)
while True:
    raw, _ = server.accept()
    threading.Thread(target=drain, args=(raw,), daemon=True).start()
