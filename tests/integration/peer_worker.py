#!/usr/bin/env python3
"""peer_worker.py - an echo worker on python/streamq_peer.py, for
test_python_peer.

    peer_worker.py --control EP --name NAME [--connections N]
                   [--heartbeat MS] [--proxy BACKEND2 CONTROL2]... BACKEND

A ROUTER dials BACKEND N times and answers every request with itself. A
streamq_peer.Peer names its connections NAME, sends heartbeats every MS
(default 1000; 0: none) and notes the slots lost to failed handshakes,
which the loop redials. Each --proxy attaches the Peer to one more proxy
(Peer.add_proxy), whose BACKEND2 the ROUTER also dials N times. CURVE
server when STREAMQ_CURVE_SECRET holds a Z85 secret key. Prints "ready",
one "redialled N" line per redial (N: slots dialled then) and, on
SIGTERM, "stopped registered R refused F lost L", then, with --proxy,
one "proxy I lost L registered R refused F" line per proxy (I from 0).
"""

import argparse
import os
import signal
import sys

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "python"))
from streamq_peer import Peer   # noqa: E402


def say(text):
    print("peer_worker: " + text, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("backend")
    parser.add_argument("--control", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--connections", type=int, default=3)
    parser.add_argument("--heartbeat", type=int, default=1000)
    parser.add_argument("--proxy", nargs=2, action="append", default=[],
                        metavar=("BACKEND", "CONTROL"))
    args = parser.parse_args()
    running = [True]
    signal.signal(signal.SIGTERM, lambda signum, frame: running.__setitem__(0, False))

    ctx = zmq.Context()
    worker = ctx.socket(zmq.ROUTER)
    worker.setsockopt(zmq.HANDSHAKE_IVL, 0)
    worker.setsockopt(zmq.IMMEDIATE, 1)
    worker.setsockopt(zmq.LINGER, 0)
    secret = os.environ.get("STREAMQ_CURVE_SECRET")
    if secret:
        worker.setsockopt(zmq.CURVE_SERVER, 1)
        worker.setsockopt(zmq.CURVE_SECRETKEY, secret.encode())
        worker.setsockopt(zmq.CURVE_PUBLICKEY, zmq.curve_public(secret.encode()))
    peer = Peer(ctx, worker, args.control, "backend", args.name,
                heartbeat_ms=args.heartbeat)
    backends = [args.backend]
    for backend, control in args.proxy:
        peer.add_proxy(backend, control)
        backends.append(backend)
    for _ in range(args.connections):
        for backend in backends:
            worker.connect(backend)
    say("ready")

    poller = zmq.Poller()
    poller.register(worker, zmq.POLLIN)
    poller.register(peer.redial_fd(), zmq.POLLIN)
    while running[0]:
        try:
            ready = dict(poller.poll(200))
        except zmq.ZMQError as error:
            if error.errno == zmq.EINTR:
                continue
            raise
        if worker in ready:
            worker.send_multipart(worker.recv_multipart())
        redialled = peer.redial()
        if redialled:
            say("redialled %d" % redialled)
    counts = (peer.registered, peer.refused, peer.lost)
    at = [(index, peer.lost_at(index), peer.registered_at(index), peer.refused_at(index))
          for index in range(len(backends))]
    peer.close()
    worker.close(0)
    ctx.term()
    say("stopped registered %d refused %d lost %d" % counts)
    if args.proxy:
        for line in at:
            say("proxy %d lost %d registered %d refused %d" % line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
