#!/usr/bin/env python3
"""peer_close.py - closes a streamq_peer.Peer right after a change that
wakes its thread, for test_python_peer.

    peer_close.py CONTROL ROUNDS

Each round makes a Peer on a fresh DEALER (nothing need answer at
CONTROL) and closes it, with the socket's disable_monitor made to change
the Peer's heartbeat first (which wakes its thread) and give the thread
100 ms to run: a wake between close()'s first step and the monitor's
last event, every time. Prints "closed N" once N rounds have closed. A
close() that blocks cannot be interrupted from Python (libzmq holds the
interpreter in a blocking send), so faulthandler ends the script after
10 s with status 1 and the threads' tracebacks on stderr.
"""

import faulthandler
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "python"))
from streamq_peer import Peer   # noqa: E402


def waking(peer, call):
    """call, after a heartbeat change that wakes peer's thread and 100 ms
    for the thread to run"""
    def wrapper():
        peer.set_heartbeat(5000)
        time.sleep(0.1)
        return call()
    return wrapper


def main():
    control, rounds = sys.argv[1], int(sys.argv[2])
    faulthandler.dump_traceback_later(10, exit=True)
    ctx = zmq.Context()
    for index in range(rounds):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        peer = Peer(ctx, sock, control, "frontend", "C-close-%d" % index)
        sock.disable_monitor = waking(peer, sock.disable_monitor)
        peer.close()
        sock.close()
    ctx.term()
    faulthandler.cancel_dump_traceback_later()
    print("closed %d" % rounds, flush=True)


if __name__ == "__main__":
    main()
