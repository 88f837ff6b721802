#!/usr/bin/env python3
"""pyzmq_worker.py - a StreamQ-Proxy worker in Python, with pyzmq alone.

One ROUTER socket dials the proxy's backend N times, so it holds N
connections and serves N clients at once, replying by routing id. Each
request is answered by handle() below (an echo: put your work there).

It redials every connection lost to a failed handshake. libzmq (4.3.4 and
4.3.5) does not redial a connection whose handshake ended in a protocol
error: a client holding the wrong CURVE server key, or one sending garbage
after its greeting. Behind the proxy the worker is the side that dialled,
so each such client would cost it a connection for good. The socket's
monitor reports each one as EVENT_HANDSHAKE_FAILED_PROTOCOL, with the
endpoint it was dialled at; this worker calls connect() on that endpoint
again, once per event.

It does not redial after the two other handshake failures, because libzmq
redials those itself (an EVENT_CONNECT_RETRIED follows at once), and a
second connect() would open one connection too many:
EVENT_HANDSHAKE_FAILED_AUTH (its ZAP handler refused the client: the client
gets an ERROR and hangs up) and EVENT_HANDSHAKE_FAILED_NO_DETAIL (the
connection closed in the middle of the handshake, e.g. the client left).

It sets ZMQ_HANDSHAKE_IVL to 0: an idle connection waits in the proxy,
mid-handshake, until a client comes, and libzmq would otherwise drop and
redial it every 30 s. It sets ZMQ_IMMEDIATE to 1: a connecting socket
otherwise keeps a slot's queue across redials, and a reply still queued
for a client that left would go to the next client of that slot.

Usage:
    pyzmq_worker.py [options] BACKEND [BACKEND ...]

    BACKEND               the proxy's backend, e.g. tcp://127.0.0.1:5556
    --connections N       connections to each backend: clients served at
                          once (default 4)
    --curve-secret-file FILE
                          run as a CURVE server with the Z85 secret key in
                          FILE: a CZMQ / pyzmq secret certificate
                          (secret-key = "..."), the worker.key that
                          curve_worker writes (secret=...), or the 40
                          characters alone
    --clients DIR         with CURVE, accept only the clients whose public
                          certificates (*.key, as zmq.auth.create_certificates
                          writes them) are in DIR; default: any client that
                          knows the server key
    STREAMQ_CURVE_SECRET  environment: the Z85 secret key itself, when
                          there is no --curve-secret-file

Without a key it serves NULL clients. It prints its CURVE public key (what
clients use as ZMQ_CURVE_SERVERKEY), one line per redial, and stops on
SIGINT or SIGTERM. Needs Debian's python3-zmq (or pip's pyzmq).

Example:
    STREAMQ_CURVE_SECRET='<40 characters>' \\
        python3 pyzmq_worker.py --connections 8 tcp://proxy-host:5556
"""

import argparse
import os
import signal
import sys

import zmq
from zmq.utils.monitor import recv_monitor_message

#  Handshake failures after which libzmq does not redial by itself
REDIAL_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
#  Handshake failures that libzmq redials itself: reported, not redialled
SELF_REDIAL_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


def log(text):
    """One line on stdout, at once (a supervisor or a test reads it)."""
    print("pyzmq_worker: " + text, flush=True)


def handle(frames):
    """Turns a request into the reply to send back. frames[0] is the
    routing id of the client's connection: keep it first in the reply."""
    return frames


def read_secret(path):
    """The Z85 secret key from a secret certificate (secret-key = "..."),
    curve_worker's key file (secret=...), or a file holding the key alone."""
    with open(path, "rb") as key_file:
        text = key_file.read()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(b"secret-key") or line.startswith(b"secret="):
            return line.split(b"=", 1)[1].strip(b" \t'\"")
    return text.strip()[:40]


def parse_args(argv):
    """The command line, with the secret key resolved (None: NULL)."""
    parser = argparse.ArgumentParser(
        description="A StreamQ-Proxy worker that redials connections lost "
                    "to failed handshakes.")
    parser.add_argument("backends", nargs="+", metavar="BACKEND")
    parser.add_argument("--connections", type=int, default=4, metavar="N")
    parser.add_argument("--curve-secret-file", metavar="FILE")
    parser.add_argument("--clients", metavar="DIR")
    args = parser.parse_args(argv)
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if args.curve_secret_file:
        args.secret = read_secret(args.curve_secret_file)
    else:
        secret = os.environ.get("STREAMQ_CURVE_SECRET", "")
        args.secret = secret.encode() if secret else None
    if args.secret is not None and len(args.secret) != 40:
        parser.error("the CURVE secret key must be 40 Z85 characters")
    if args.clients and args.secret is None:
        parser.error("--clients needs a CURVE secret key")
    return args


def start_authenticator(ctx, clients_dir):
    """A ZAP handler in ctx that accepts only the keys in clients_dir."""
    from zmq.auth.thread import ThreadAuthenticator
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=clients_dir)
    return auth


def make_worker(ctx, secret):
    """The ROUTER socket with the options every worker needs."""
    worker = ctx.socket(zmq.ROUTER)
    worker.setsockopt(zmq.HANDSHAKE_IVL, 0)
    worker.setsockopt(zmq.IMMEDIATE, 1)
    worker.setsockopt(zmq.LINGER, 0)
    if secret is not None:
        worker.setsockopt(zmq.CURVE_SERVER, 1)
        worker.setsockopt(zmq.CURVE_SECRETKEY, secret)
        worker.setsockopt(zmq.CURVE_PUBLICKEY, zmq.curve_public(secret))
    return worker


def on_event(worker, event, counts):
    """Redials a connection lost to a handshake protocol error; reports
    the failures libzmq redials itself."""
    endpoint = event["endpoint"].decode()
    kind = int(event["event"])
    if kind & REDIAL_EVENTS:
        worker.connect(endpoint)
        counts["redialled"] += 1
        log("redialled %s after a handshake protocol error (0x%x); %d so far"
            % (endpoint, int(event["value"]), counts["redialled"]))
    elif kind & SELF_REDIAL_EVENTS:
        reason = "refused by ZAP" if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH \
            else "closed mid-handshake"
        log("a handshake failed at %s (%s); libzmq redials it itself"
            % (endpoint, reason))


def serve(worker, monitor, running):
    """Answers requests and watches the monitor until running[0] is False."""
    counts = {"redialled": 0}
    poller = zmq.Poller()
    poller.register(worker, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    while running[0]:
        try:
            ready = dict(poller.poll(200))
        except zmq.ZMQError as error:
            if error.errno == zmq.EINTR:
                continue
            raise
        if monitor in ready:
            on_event(worker, recv_monitor_message(monitor), counts)
        if worker in ready:
            reply = handle(worker.recv_multipart())
            if reply:
                worker.send_multipart(reply)


def main(argv):
    args = parse_args(argv)
    running = [True]

    def stop(signum, frame):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctx = zmq.Context()
    auth = start_authenticator(ctx, args.clients) if args.clients else None
    worker = make_worker(ctx, args.secret)
    #  The monitor must exist before connect(), or it misses those failures
    monitor = worker.get_monitor_socket(REDIAL_EVENTS | SELF_REDIAL_EVENTS)
    for backend in args.backends:
        for _ in range(args.connections):
            worker.connect(backend)
    if args.secret is not None:
        log("curve public key: " + zmq.curve_public(args.secret).decode())
    log("ready: %d connections to each of %s"
        % (args.connections, " ".join(args.backends)))
    try:
        serve(worker, monitor, running)
    finally:
        worker.disable_monitor()
        monitor.close(0)
        worker.close(0)
        if auth:
            auth.stop()
        ctx.term()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
