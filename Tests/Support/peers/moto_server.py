"""moto's server (moto[server] from PyPI) for Trawl's tests, with one race in its SQS emulation closed.

moto 5 deletes a message by rebuilding the queue's message list without holding the queue's lock. Two
DeleteMessage requests served at once (its server is threaded; Trawl deletes several messages at once) can
each rebuild the list from the same old one, and the later assignment brings back the message the other
deleted. Measured: 60 messages deleted by 60 concurrent requests, ten rounds, left 3 in the queue. Tests
then saw a delivered and deleted message still queued. Taking the lock that moto already uses for adding
messages makes the rebuild atomic. Arguments are moto.server's own."""

import sys

from moto.server import main
from moto.sqs import models

_delete_message = models.Queue.delete_message


def _delete_message_locked(self, receipt_handle):
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


models.Queue.delete_message = _delete_message_locked

if __name__ == "__main__":
    main(sys.argv[1:])
