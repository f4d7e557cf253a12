"""Ends a test peer once the test process that started it is gone.

Peers are stopped by the tests, and by an exit handler when the test process exits; a test process that
is killed (SIGKILL, a crash) runs neither, and its peers kept running, holding ports and memory, until
killed by hand. Every long-running peer imports this and calls exit_when_orphaned() first: a thread
notices that the peer's parent changed (it was handed to init) and exits the peer."""
import os
import threading
import time


def exit_when_orphaned(interval=1.0):
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="orphan-guard", daemon=True).start()
