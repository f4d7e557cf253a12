"""moto's server (moto[server] from PyPI) for Trawl's tests, with one race in its SQS emulation closed.

moto 5 deletes a message by rebuilding the queue's message list without holding the queue's lock. Two
DeleteMessage requests served at once (its server is threaded; Trawl deletes several messages at once) can
each rebuild the list from the same old one, and the later assignment brings back the message the other
deleted. Measured: 60 messages deleted by 60 concurrent requests, ten rounds, left 3 in the queue. Tests
then saw a delivered and deleted message still queued. Taking the lock that moto already uses for adding
messages makes the rebuild atomic. Arguments are moto.server's own.

With `-p 0` it binds a port the kernel chooses and prints it as its first line, as the other simulators
do: a port chosen by the test beforehand could be taken by another test's peer in the second moto takes
to start, and the test then talked to that peer (seen in CI: "Remote end closed connection without
response" on the first IAM call)."""

import os
import sys

from moto.server import main
from moto.sqs import models

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

_delete_message = models.Queue.delete_message


def _delete_message_locked(self, receipt_handle):
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


models.Queue.delete_message = _delete_message_locked


def serve_on_a_chosen_port(host):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    server = make_server(host, 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    # moto builds some URLs (SQS queue URLs) from MOTO_PORT, which its main() sets from -p.
    os.environ["MOTO_PORT"] = str(server.server_port)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[-2:] == ["-p", "0"] and arguments[:-2] in ([], ["-H", "127.0.0.1"]):
        serve_on_a_chosen_port("127.0.0.1")
    else:
        main(arguments)
