"""streamq_peer - what libstreamq does for C peers, for pyzmq peers.

A Peer watches one pyzmq socket (a worker's ROUTER or DEALER, or a
client's socket) that dials StreamQ-Proxy, and, in a background thread:

- names every connection the socket makes, redials included: for each
  EVENT_CONNECTED it reads the connection's local address (the address
  the proxy sees) and sends the control socket
  IDENTIFY <side> <ip:port> <name>, without waiting for the reply;
- sends HEARTBEAT <name> <interval-ms> every interval (1 s by default),
  so the proxy can free the partners of a process that froze or died;
- notes every connection lost to a handshake protocol error
  (EVENT_HANDSHAKE_FAILED_PROTOCOL on an endpoint the socket dialled),
  which libzmq never redials. pyzmq sockets are not thread-safe, so the
  thread never touches the socket: the thread that owns it calls
  redial(), which dials once for each slot lost since the last call.

    import zmq
    from streamq_peer import Peer

    ctx = zmq.Context()
    worker = ctx.socket(zmq.ROUTER)
    worker.setsockopt(zmq.HANDSHAKE_IVL, 0)
    peer = Peer(ctx, worker, "tcp://127.0.0.1:5557", "backend", "billing-py")
    for _ in range(4):                       # after the Peer: it must see them
        worker.connect("tcp://127.0.0.1:5556")
    poller = zmq.Poller()
    poller.register(worker, zmq.POLLIN)
    poller.register(peer.redial_fd(), zmq.POLLIN)   # readable while a redial is due
    while running:
        ready = dict(poller.poll(1000))
        if worker in ready:
            worker.send_multipart(worker.recv_multipart())
        peer.redial()
    peer.close()                             # before worker.close()
    worker.close()

Rules, as for libstreamq: create the Peer before the socket connects, and
close it before the socket; the Peer holds the socket's only monitor (do
not call get_monitor_socket on that socket yourself). The thread logs on
stderr, prefixed "streamq_peer:", the first time each distinct refusal
comes back. A ZAP refusal (EVENT_HANDSHAKE_FAILED_AUTH) and a connection
that closed mid-handshake (EVENT_HANDSHAKE_FAILED_NO_DETAIL) cost no slot:
libzmq redials those itself, so they are not counted. Needs pyzmq (Debian's
python3-zmq) and nothing else.
"""

import os
import socket as _socket
import sys
import threading
import time

import zmq

DEFAULT_HEARTBEAT_MS = 1000
MAX_HEARTBEAT_MS = 86400000
#  The loop wakes at least this often
_TICK_MS = 1000
#  Heartbeats queued at most while the proxy does not read them
_BEAT_HWM = 4
#  Distinct refusals logged per peer
_REASONS_MAX = 8
_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_MONITOR_STOPPED)


def local_address(fd, endpoint):
    """The "ip:port" (or "[v6]:port") of connection fd as the proxy sees
    it: our local end. None if fd is no longer that connection (closed,
    or reused for another whose far end is not endpoint's port). The fd
    belongs to libzmq: only a duplicate is wrapped and closed."""
    try:
        with _socket.socket(fileno=os.dup(fd)) as copy:
            local = copy.getsockname()
            remote = copy.getpeername()
    except OSError:
        return None
    if not endpoint.rsplit(":", 1)[-1] == str(remote[1]):
        return None
    host = local[0].split("%")[0]                   # no IPv6 scope id
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:"):]                # IPv4-mapped: IPv4 to the proxy
    return "[%s]:%d" % (host, local[1]) if ":" in host else "%s:%d" % (host, local[1])


class Peer:
    """Registers, heartbeats and tracks lost slots for one socket."""

    def __init__(self, ctx, sock, control, side, name,
                 heartbeat_ms=DEFAULT_HEARTBEAT_MS):
        """Starts watching sock (not yet connected) for the proxy whose
        control socket is control; side is "backend" (a worker) or
        "frontend" (a client); name is what the proxy will call it."""
        if side not in ("backend", "frontend"):
            raise ValueError("side must be 'backend' or 'frontend'")
        if not name or any(c.isspace() for c in name):
            raise ValueError("name must be a word")
        self._check_interval(heartbeat_ms)
        self._socket = sock
        self._side = side.encode()
        self._name = name.encode()
        self._control_endpoint = control
        self._heartbeat = heartbeat_ms
        self._lock = threading.Lock()
        self._lost_due = []                 # endpoints, one per slot lost
        self._counts = {"registered": 0, "refused": 0, "lost": 0}
        self._logged = set()
        self._dialled = set()
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._due_r, self._due_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._control = self._dealer(ctx, control, 0)
        self._beat = self._dealer(ctx, control, _BEAT_HWM)
        self._monitor = sock.get_monitor_socket(_EVENTS)
        self._thread = threading.Thread(target=self._run, name="streamq_peer",
                                        daemon=True)
        self._thread.start()

    #  --- API for the thread that owns the socket

    def redial(self):
        """Dials once for each slot lost since the last call; returns how
        many. Call it in the socket's own thread, once per loop turn."""
        with self._lock:
            due, self._lost_due = self._lost_due, []
            self._drain_pipe(self._due_r)
        for endpoint in due:
            self._socket.connect(endpoint)
        return len(due)

    def redial_fd(self):
        """A file descriptor readable while a redial is due (for a poller)."""
        return self._due_r

    def set_heartbeat(self, interval_ms):
        """Changes the heartbeat interval (0: off), sent at once."""
        self._check_interval(interval_ms)
        self._heartbeat = interval_ms
        self._wake()

    @property
    def registered(self):
        """IDENTIFY requests the proxy accepted."""
        return self._counts["registered"]

    @property
    def refused(self):
        """IDENTIFY requests the proxy refused."""
        return self._counts["refused"]

    @property
    def lost(self):
        """Slots lost to handshake protocol errors so far."""
        return self._counts["lost"]

    def close(self):
        """Stops the thread and the monitor; call before closing the socket."""
        if self._stopping:
            return
        self._stopping = True
        #  The monitor first, while the thread still reads its events:
        #  libzmq sends them with a blocking send
        self._socket.disable_monitor()
        self._wake()
        self._thread.join()
        for fd in (self._wake_r, self._wake_w, self._due_r, self._due_w):
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    #  --- Inside

    @staticmethod
    def _check_interval(interval_ms):
        if not 0 <= interval_ms <= MAX_HEARTBEAT_MS:
            raise ValueError("heartbeat interval must be 0 to %d ms" % MAX_HEARTBEAT_MS)

    @staticmethod
    def _dealer(ctx, endpoint, hwm):
        """A DEALER to the control socket; with hwm, ZMQ_IMMEDIATE too, so
        heartbeats are queued only on a live connection."""
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        if endpoint.startswith("tcp://["):
            dealer.setsockopt(zmq.IPV6, 1)
        if hwm:
            dealer.setsockopt(zmq.IMMEDIATE, 1)
            dealer.setsockopt(zmq.SNDHWM, hwm)
        dealer.connect(endpoint)
        return dealer

    @staticmethod
    def _drain_pipe(fd):
        try:
            while os.read(fd, 64):
                pass
        except BlockingIOError:
            pass

    def _wake(self):
        try:
            os.write(self._wake_w, b"w")
        except BlockingIOError:
            pass                            # Full: readable anyway

    def _log_once(self, command, reason):
        key = (command, reason)
        if key in self._logged or len(self._logged) >= _REASONS_MAX:
            return
        self._logged.add(key)
        print("streamq_peer: the proxy at %s refused %s %s: %s"
              % (self._control_endpoint, command, self._name.decode(), reason),
              file=sys.stderr, flush=True)

    def _send(self, dealer, frames):
        """Queues frames without waiting; a full queue drops them."""
        try:
            dealer.send_multipart([b""] + frames, zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _on_event(self, frames):
        if len(frames) < 2 or len(frames[0]) != 6:
            return
        event = int.from_bytes(frames[0][:2], sys.byteorder)
        value = int.from_bytes(frames[0][2:], sys.byteorder)
        endpoint = frames[1].decode(errors="replace")
        if event == zmq.EVENT_CONNECTED:
            self._dialled.add(endpoint)
            address = local_address(value, endpoint) if endpoint.startswith("tcp://") else None
            if address:
                self._send(self._control, [b"IDENTIFY", self._side, address.encode(),
                                           self._name])
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            #  Only a connection the socket dialled is lost for good
            if endpoint in self._dialled:
                with self._lock:
                    self._counts["lost"] += 1
                    self._lost_due.append(endpoint)
                    if len(self._lost_due) == 1:
                        os.write(self._due_w, b"d")
        elif event == zmq.EVENT_MONITOR_STOPPED and not self._stopping:
            print("streamq_peer: the monitor of %s stopped before close(): new "
                  "connections are no longer registered" % self._name.decode(),
                  file=sys.stderr, flush=True)

    def _on_reply(self, frames, command):
        body = frames[1:] if frames and frames[0] == b"" else frames
        if not body:
            return
        if body[0] == b"OK":
            if command == "IDENTIFY":
                self._counts["registered"] += 1
            return
        if command == "IDENTIFY":
            self._counts["refused"] += 1
        reason = body[1] if len(body) > 1 else body[0]
        self._log_once(command, reason.decode(errors="replace"))

    def _run(self):
        """The thread: events, replies and heartbeats until close()."""
        poller = zmq.Poller()
        for item in (self._monitor, self._control, self._beat, self._wake_r):
            poller.register(item, zmq.POLLIN)
        interval = self._heartbeat
        next_beat = time.monotonic() + interval / 1000.0
        try:
            while not self._stopping:
                now = time.monotonic()
                if self._heartbeat != interval:
                    interval, next_beat = self._heartbeat, now
                if interval and now >= next_beat:
                    self._send(self._beat, [b"HEARTBEAT", self._name,
                                            str(interval).encode()])
                    next_beat = now + interval / 1000.0
                wait = _TICK_MS
                if interval:
                    wait = min(wait, max(0, int((next_beat - now) * 1000)))
                ready = dict(poller.poll(wait))
                if self._wake_r in ready:
                    self._drain_pipe(self._wake_r)
                while self._monitor.poll(0):
                    self._on_event(self._monitor.recv_multipart())
                while self._control.poll(0):
                    self._on_reply(self._control.recv_multipart(), "IDENTIFY")
                while self._beat.poll(0):
                    self._on_reply(self._beat.recv_multipart(), "HEARTBEAT")
        except zmq.ContextTerminated:
            pass
        finally:
            for sock in (self._monitor, self._control, self._beat):
                sock.close(0)
