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
    worker.setsockopt(zmq.IMMEDIATE, 1)      # see doc/workers.md
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

Several proxies: a socket that dials in to several proxies (each with
its own control socket) is served by one Peer. The Peer is made for the
first; add_proxy(endpoint, control) attaches it to one more, where
endpoint is what the socket dials there. Each connection is then named
at the proxy it was made to, heartbeats go to every proxy, and a slot
lost at one proxy is counted there (lost_at) and redialled there:

    peer = Peer(ctx, worker, "tcp://10.0.0.1:5557", "backend", "billing-py")
    peer.add_proxy("tcp://10.0.0.2:5556", "tcp://10.0.0.2:5557")   # index 1
    for _ in range(4):
        worker.connect("tcp://10.0.0.1:5556")    # named at 10.0.0.1
        worker.connect("tcp://10.0.0.2:5556")    # named at 10.0.0.2

Connections to an endpoint no added proxy has are the first proxy's.

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
    return _address_text(local[0], local[1])


def _address_text(host, port):
    """ "a.b.c.d:port" or "[v6]:port", as the proxy writes addresses."""
    host = host.split("%")[0]                       # no IPv6 scope id
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:"):]                # IPv4-mapped: IPv4 to the proxy
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def dial_forms(endpoint):
    """The endpoints libzmq may report for connections made to endpoint:
    endpoint as given (libzmq 4.3.4 reports that) and, for tcp://, each
    address its host resolves to now, with its port and without a source
    address ("tcp://src;dst" is dst). ValueError if it does not resolve."""
    forms = {endpoint}
    if not endpoint.startswith("tcp://"):
        return forms
    target = endpoint[len("tcp://"):].split(";")[-1]
    host, _, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit():
        raise ValueError("endpoint %r has no host:port" % endpoint)
    try:
        found = _socket.getaddrinfo(host, int(port), type=_socket.SOCK_STREAM,
                                    flags=_socket.AI_NUMERICSERV)
    except (OSError, UnicodeError) as error:
        raise ValueError("endpoint %r does not resolve: %s" % (endpoint, error))
    for family, _, _, _, address in found:
        if family in (_socket.AF_INET, _socket.AF_INET6):
            forms.add("tcp://" + _address_text(address[0], address[1]))
    return forms


class _Proxy:
    """One proxy a Peer is attached to: its control socket, the forms of
    the endpoint the socket dials there (none for the first proxy, which
    takes every other connection) and its counts."""

    def __init__(self, ctx, control, dials):
        self.control_endpoint = control
        self.dials = dials
        self.counts = {"registered": 0, "refused": 0, "lost": 0}
        self.logged = set()
        self.control = _dealer(ctx, control, 0)
        try:
            self.beat = _dealer(ctx, control, _BEAT_HWM)
        except zmq.ZMQError:
            self.control.close(0)
            raise

    def close(self):
        self.control.close(0)
        self.beat.close(0)


def _dealer(ctx, endpoint, hwm):
    """A DEALER to a control socket; with hwm, ZMQ_IMMEDIATE too, so
    heartbeats are queued only on a live connection."""
    dealer = ctx.socket(zmq.DEALER)
    try:
        dealer.setsockopt(zmq.LINGER, 0)
        if endpoint.startswith("tcp://["):
            dealer.setsockopt(zmq.IPV6, 1)
        if hwm:
            dealer.setsockopt(zmq.IMMEDIATE, 1)
            dealer.setsockopt(zmq.SNDHWM, hwm)
        dealer.connect(endpoint)
    except zmq.ZMQError:
        dealer.close(0)
        raise
    return dealer


class Peer:
    """Registers, heartbeats and tracks lost slots for one socket, at one
    proxy or several."""

    def __init__(self, ctx, sock, control, side, name,
                 heartbeat_ms=DEFAULT_HEARTBEAT_MS):
        """Starts watching sock (not yet connected) for the proxy whose
        control socket is control; side is "backend" (a worker) or
        "frontend" (a client); name is what the proxy will call it. A
        worker's socket should have IMMEDIATE 1 by then (doc/workers.md):
        on side "backend" without it, says so on stderr."""
        if side not in ("backend", "frontend"):
            raise ValueError("side must be 'backend' or 'frontend'")
        if not name or any(c.isspace() for c in name):
            raise ValueError("name must be a word")
        self._check_interval(heartbeat_ms)
        self._ctx = ctx
        self._socket = sock
        self._side = side.encode()
        self._name = name.encode()
        self._heartbeat = heartbeat_ms
        self._lock = threading.Lock()       # guards _lost_due and _proxies
        self._lost_due = []                 # endpoints, one per slot lost
        self._dialled = set()
        self._stopping = False
        self._quit = False
        self._proxies = [_Proxy(ctx, control, set())]
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._due_r, self._due_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._monitor = sock.get_monitor_socket(_EVENTS)
        self._thread = threading.Thread(target=self._run, name="streamq_peer",
                                        daemon=True)
        self._thread.start()
        if side == "backend" and not sock.getsockopt(zmq.IMMEDIATE):
            print("streamq_peer: the socket of worker %s has IMMEDIATE 0: a reply "
                  "still queued when its client leaves goes to the next client of "
                  "that connection; set it to 1 before connect()" % name,
                  file=sys.stderr, flush=True)

    #  --- API for the thread that owns the socket

    def add_proxy(self, endpoint, control):
        """Attaches the Peer to one more proxy: connections the socket
        makes to endpoint (what it dials there: the backend for a worker)
        are named at the proxy whose control socket is control, which
        also gets every heartbeat; slots lost there are redialled there.
        Call it before the socket connects to endpoint. Returns the
        proxy's index (the first proxy is 0, then 1, 2, ...). ValueError
        for an endpoint that does not resolve or is already attached."""
        if self._stopping:
            raise RuntimeError("the Peer is closed")
        dials = dial_forms(endpoint)
        with self._lock:
            for proxy in self._proxies[1:]:
                if proxy.dials & dials:
                    raise ValueError("endpoint %r is already attached" % endpoint)
        proxy = _Proxy(self._ctx, control, dials)
        with self._lock:
            self._proxies.append(proxy)
            index = len(self._proxies) - 1
        self._wake()                        # to poll its sockets at once
        return index

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
        """Changes the heartbeat interval (0: off), sent at once to every
        proxy."""
        self._check_interval(interval_ms)
        self._heartbeat = interval_ms
        self._wake()

    @property
    def registered(self):
        """IDENTIFY requests the proxies accepted."""
        return self._count_sum("registered")

    @property
    def refused(self):
        """IDENTIFY requests the proxies refused."""
        return self._count_sum("refused")

    @property
    def lost(self):
        """Slots lost to handshake protocol errors so far, at any proxy."""
        return self._count_sum("lost")

    def registered_at(self, index):
        """IDENTIFY requests the proxy at index accepted."""
        return self._count_at(index, "registered")

    def refused_at(self, index):
        """IDENTIFY requests the proxy at index refused."""
        return self._count_at(index, "refused")

    def lost_at(self, index):
        """Slots lost at the proxy at index."""
        return self._count_at(index, "lost")

    def close(self):
        """Stops the thread and the monitor; call before closing the socket."""
        if self._stopping:
            return
        self._stopping = True
        #  The monitor first, while the thread still reads its events:
        #  libzmq sends them with a blocking send. The thread stops only
        #  on _quit, set once the monitor is stopped: were it to stop on
        #  _stopping, it could close the monitor's socket before the last
        #  event (MONITOR_STOPPED), whose send would then wait for ever.
        self._socket.disable_monitor()
        self._quit = True
        self._wake()
        self._thread.join()
        for proxy in self._proxies:         # any the thread never took
            proxy.close()
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

    def _count_sum(self, which):
        with self._lock:
            return sum(proxy.counts[which] for proxy in self._proxies)

    def _count_at(self, index, which):
        with self._lock:
            return self._proxies[index].counts[which]

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

    def _proxy_for(self, endpoint):
        """The proxy a connection to endpoint belongs to: the added one
        whose endpoint it is, else the first."""
        with self._lock:
            for proxy in self._proxies[1:]:
                if endpoint in proxy.dials:
                    return proxy
            return self._proxies[0]

    def _log_once(self, proxy, command, reason):
        key = (command, reason)
        if key in proxy.logged or len(proxy.logged) >= _REASONS_MAX:
            return
        proxy.logged.add(key)
        print("streamq_peer: the proxy at %s refused %s %s: %s"
              % (proxy.control_endpoint, command, self._name.decode(), reason),
              file=sys.stderr, flush=True)

    @staticmethod
    def _send(dealer, frames):
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
                self._send(self._proxy_for(endpoint).control,
                           [b"IDENTIFY", self._side, address.encode(), self._name])
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            #  Only a connection the socket dialled is lost for good
            if endpoint in self._dialled:
                proxy = self._proxy_for(endpoint)
                with self._lock:
                    proxy.counts["lost"] += 1
                    self._lost_due.append(endpoint)
                    if len(self._lost_due) == 1:
                        os.write(self._due_w, b"d")
        elif event == zmq.EVENT_MONITOR_STOPPED and not self._stopping:
            print("streamq_peer: the monitor of %s stopped before close(): new "
                  "connections are no longer registered" % self._name.decode(),
                  file=sys.stderr, flush=True)

    def _on_reply(self, proxy, frames, command):
        body = frames[1:] if frames and frames[0] == b"" else frames
        if not body:
            return
        if body[0] == b"OK":
            if command == "IDENTIFY":
                with self._lock:
                    proxy.counts["registered"] += 1
            return
        if command == "IDENTIFY":
            with self._lock:
                proxy.counts["refused"] += 1
        reason = body[1] if len(body) > 1 else body[0]
        self._log_once(proxy, command, reason.decode(errors="replace"))

    def _beat_all(self, proxies, interval):
        for proxy in proxies:
            self._send(proxy.beat, [b"HEARTBEAT", self._name, str(interval).encode()])

    def _read_replies(self, proxies):
        for proxy in proxies:
            while proxy.control.poll(0):
                self._on_reply(proxy, proxy.control.recv_multipart(), "IDENTIFY")
            while proxy.beat.poll(0):
                self._on_reply(proxy, proxy.beat.recv_multipart(), "HEARTBEAT")

    def _run(self):
        """The thread: events, replies and heartbeats until close()."""
        poller = zmq.Poller()
        for item in (self._monitor, self._wake_r):
            poller.register(item, zmq.POLLIN)
        polled = []
        interval = self._heartbeat
        next_beat = time.monotonic() + interval / 1000.0
        try:
            while not self._quit:
                with self._lock:
                    proxies = list(self._proxies)
                for proxy in proxies[len(polled):]:     # added since
                    poller.register(proxy.control, zmq.POLLIN)
                    poller.register(proxy.beat, zmq.POLLIN)
                    polled.append(proxy)
                now = time.monotonic()
                if self._heartbeat != interval:
                    interval, next_beat = self._heartbeat, now
                if interval and now >= next_beat:
                    self._beat_all(proxies, interval)
                    next_beat = now + interval / 1000.0
                wait = _TICK_MS
                if interval:
                    wait = min(wait, max(0, int((next_beat - now) * 1000)))
                ready = dict(poller.poll(wait))
                if self._wake_r in ready:
                    self._drain_pipe(self._wake_r)
                while self._monitor.poll(0):
                    self._on_event(self._monitor.recv_multipart())
                self._read_replies(proxies)
        except zmq.ContextTerminated:
            pass
        finally:
            self._monitor.close(0)
            for proxy in polled:
                proxy.close()
