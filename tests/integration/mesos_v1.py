"""A minimal Mesos v1 HTTP scheduler client, written only from the Mesos v1
API reference (shared/reference/mesos-v1-api.md §1, §2, §3, §4): it is the
proof that a scheduler written against the Mesos documentation works
against Agora unmodified. Nothing here knows anything Agora-specific.

Transport (§1.4, §1.5): SUBSCRIBE is a streaming POST; the chunked body is
read incrementally on a background thread, RecordIO-decoded and queued as
events. The Mesos-Stream-Id header of the SUBSCRIBE answer goes on every
other call, each sent on its own connection.

The reader also checks the stream's framing rules of §10 ("each event goes
out as one HTTP chunk holding exactly one whole record", compact JSON) and
records violations in `framing_violations`.
"""

import base64
import getpass
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse

SCHEDULER_PATH = "/api/v1/scheduler"
TERMINAL_STATES = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                   "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


class StreamError(AssertionError):
    pass


def _split(url):
    p = urllib.parse.urlsplit(url)
    return p.hostname, p.port


def post(url, path, body, headers=None, timeout=15.0):
    """POST on a fresh connection -> (status, headers, body bytes). body is
    a JSON value or bytes/str; Content-Type defaults to application/json
    (a header value of None removes it)."""
    host, port = _split(url)
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    for k, v in (headers or {}).items():
        for existing in list(hdrs):
            if existing.lower() == k.lower():
                del hdrs[existing]
        if v is not None:
            hdrs[k] = v
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class CallResult:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<CallResult %d %r>" % (self.status, self.body[:300])


# --------------------------------------------------------------------------
# Message builders (§2, §3)


def scalar(name, value, allocation_info=None):
    r = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if allocation_info:
        r["allocation_info"] = dict(allocation_info)
    return r


def ranges(name, pairs, allocation_info=None):
    r = {"name": name, "type": "RANGES",
         "ranges": {"range": [{"begin": b, "end": e} for b, e in pairs]}}
    if allocation_info:
        r["allocation_info"] = dict(allocation_info)
    return r


def offer_allocation_info(offer):
    """The allocation_info resources of a LAUNCH must carry (§2.4): the
    offer's, else the one on its resources."""
    if offer.get("allocation_info"):
        return offer["allocation_info"]
    for r in offer.get("resources", []):
        if r.get("allocation_info"):
            return r["allocation_info"]
    return None


def offer_scalar(offer, name):
    total = 0.0
    for r in offer.get("resources", []):
        if r.get("name") == name and r.get("type", "SCALAR") == "SCALAR":
            total += float(r.get("scalar", {}).get("value", 0))
    return total


def offer_ranges(offer, name):
    out = []
    for r in offer.get("resources", []):
        if r.get("name") == name and r.get("type") == "RANGES":
            for rg in r.get("ranges", {}).get("range", []):
                out.append((int(rg["begin"]), int(rg["end"])))
    return out


def task_info(offer, task_id, shell=None, argv=None, cpus=0.1, mem=32, disk=None,
              ports=None, name=None, kill_grace=None, env=None, extra=None):
    """A command TaskInfo (§3.5) for `offer`: either a shell command (shell
    string, CommandInfo.shell true) or argv (shell false, value argv[0])."""
    ai = offer_allocation_info(offer)
    res = [scalar("cpus", cpus, ai), scalar("mem", mem, ai)]
    if disk:
        res.append(scalar("disk", disk, ai))
    if ports:
        res.append(ranges("ports", ports, ai))
    if argv is not None:
        command = {"shell": False, "value": argv[0], "arguments": list(argv)}
    else:
        command = {"shell": True, "value": shell if shell is not None else "true"}
    if env:
        command["environment"] = {"variables": [{"name": k, "value": v}
                                                for k, v in env.items()]}
    t = {
        "name": name or task_id,
        "task_id": {"value": task_id},
        "agent_id": dict(offer["agent_id"]),
        "resources": res,
        "command": command,
    }
    if kill_grace is not None:
        t["kill_policy"] = {"grace_period": {"nanoseconds": int(kill_grace * 1e9)}}
    if extra:
        t.update(extra)
    return t


def status_of(event):
    return event.get("update", {}).get("status", {})


# --------------------------------------------------------------------------
# The scheduler


class Scheduler:
    """One framework. Typical use:

        s = Scheduler(master_url, name="x").subscribe()
        offer = s.wait_offer()
        s.launch(offer, [task_info(offer, "t1", shell="echo hi")])
        s.wait_update("t1", "TASK_FINISHED")
    """

    def __init__(self, master_url, name="agora-it", user=None, role=None, roles=None,
                 capabilities=(), failover_timeout=None, checkpoint=None, auto_ack=True,
                 framework_id=None, hostname=None, principal=None, extra_info=None,
                 registry=None):
        self.master_url = master_url
        self.auto_ack = auto_ack
        self.framework_id = framework_id
        info = {"user": user or getpass.getuser(), "name": name}
        if roles is not None:
            info["roles"] = list(roles)
            caps = set(capabilities) | {"MULTI_ROLE"}
        else:
            caps = set(capabilities)
            if role is not None:
                info["role"] = role
        if caps:
            info["capabilities"] = [{"type": c} for c in sorted(caps)]
        if failover_timeout is not None:
            info["failover_timeout"] = failover_timeout
        if checkpoint is not None:
            info["checkpoint"] = checkpoint
        if hostname:
            info["hostname"] = hostname
        if principal:
            info["principal"] = principal
        if extra_info:
            info.update(extra_info)
        self.framework_info = info
        self.stream_id = None
        self.subscribe_status = None
        self.subscribe_headers = None
        self.subscribe_body = b""
        self.events = []           # every event, in arrival order
        self.event_times = []      # time.monotonic() of each
        self.offers = {}           # outstanding offers: id -> offer
        self.rescinded = set()
        self.framing_violations = []
        self.closed = False        # the stream ended (EOF or error)
        self.close_reason = None
        self.acks_sent = []        # uuids acknowledged (auto or manual)
        self.ack_failures = []     # (uuid, status, message) of failed auto-acks
        self._cond = threading.Condition()
        self._sock = None
        self._reader = None
        self._acker = None
        self._ack_queue = queue.Queue()
        self._buf = b""
        self._stream_start = 0
        if registry is not None:
            registry.append(self)

    # ---- subscription

    def subscribe_body_json(self, framework_id=None):
        info = dict(self.framework_info)
        fid = framework_id or self.framework_id
        call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if fid:
            info["id"] = {"value": fid}
            call["framework_id"] = {"value": fid}
        return call

    def subscribe(self, framework_id=None, timeout=15.0, expect_subscribed=True, headers=None):
        """Opens the event stream. With expect_subscribed, waits for the
        SUBSCRIBED event and records the framework id; otherwise returns
        after the response headers (check subscribe_status / events)."""
        if self._reader is not None:
            self.close()
        self._reset_stream_state()
        host, port = _split(self.master_url)
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        body = json.dumps(self.subscribe_body_json(framework_id))
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        for k, v in (headers or {}).items():
            for existing in list(hdrs):
                if existing.lower() == k.lower():
                    del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        conn.request("POST", SCHEDULER_PATH, body=body, headers=hdrs)
        self._sock = conn.sock
        resp = conn.getresponse()
        self.subscribe_status = resp.status
        self.subscribe_headers = resp.headers
        if resp.status != 200:
            self.subscribe_body = resp.read()
            conn.close()
            self.closed = True
            if expect_subscribed:
                raise StreamError("SUBSCRIBE answered %d: %r" % (resp.status,
                                                                  self.subscribe_body[:500]))
            return self
        self.stream_id = resp.getheader("Mesos-Stream-Id")
        te = (resp.getheader("Transfer-Encoding") or "").lower()
        if "chunked" not in te:
            self.framing_violations.append("SUBSCRIBE response is not chunked "
                                           "(Transfer-Encoding: %r)" % te)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, args=(resp, "chunked" in te),
                                        name="sched-reader", daemon=True)
        self._reader.start()
        if self._acker is None:
            self._acker = threading.Thread(target=self._ack_loop, name="sched-acker",
                                           daemon=True)
            self._acker.start()
        if expect_subscribed:
            ev = self.wait_for(lambda e: e["type"] in ("SUBSCRIBED", "ERROR"), timeout,
                               what="SUBSCRIBED", start=self._stream_start)
            if ev["type"] == "ERROR":
                raise StreamError("SUBSCRIBE got ERROR: %r" % ev)
            self.framework_id = ev["subscribed"]["framework_id"]["value"]
        return self

    def _reset_stream_state(self):
        with self._cond:
            self.closed = False
            self.close_reason = None
            self.offers = {}
            self._buf = b""
            self._stream_start = len(self.events)

    def close(self):
        """Drops the subscription connection (the master sees the framework
        disconnect, §4.4)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    disconnect = close

    def stop(self):
        self.close()
        if self._acker is not None:
            self._ack_queue.put(None)
            self._acker.join(5)
            self._acker = None

    # ---- reading

    def _read_loop(self, resp, chunked):
        fp = resp.fp
        reason = "EOF"
        try:
            while True:
                if chunked:
                    line = fp.readline()
                    if not line:
                        reason = "EOF without last chunk"
                        break
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        reason = "last chunk"
                        break
                    data = fp.read(size)
                    if len(data) < size:
                        reason = "EOF inside a chunk"
                        self._on_chunk(data, True)
                        break
                    fp.readline()
                    self._on_chunk(data, True)
                else:
                    data = fp.read1(65536) if hasattr(fp, "read1") else fp.read(1)
                    if not data:
                        break
                    self._on_chunk(data, False)
        except (OSError, ValueError) as e:
            reason = "error: %s" % e
        with self._cond:
            self.closed = True
            self.close_reason = reason
            self._cond.notify_all()

    def _on_chunk(self, data, check_alignment):
        if check_alignment and self._buf:
            self.framing_violations.append(
                "chunk starts inside a record (%d bytes pending)" % len(self._buf))
        self._buf += data
        records = 0
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > 20:
                    self.framing_violations.append("record length line too long: %r" %
                                                   self._buf[:40])
                break
            length_text = self._buf[:nl]
            if not length_text.isdigit():
                self.framing_violations.append("bad record length %r" % length_text[:40])
                self._buf = b""
                break
            length = int(length_text)
            if length == 0:
                self.framing_violations.append("zero-length record")
            if len(self._buf) < nl + 1 + length:
                break
            record = self._buf[nl + 1:nl + 1 + length]
            self._buf = self._buf[nl + 1 + length:]
            records += 1
            self._on_record(record)
        if check_alignment:
            if self._buf:
                self.framing_violations.append("chunk ends inside a record")
            if records > 1:
                self.framing_violations.append("%d records in one chunk" % records)

    def _on_record(self, record):
        if b"\n" in record:
            self.framing_violations.append("raw newline inside a record")
        try:
            event = json.loads(record.decode("utf-8"))
        except ValueError as e:
            self.framing_violations.append("record is not JSON (%s): %r" % (e, record[:200]))
            return
        self._handle(event)

    def _handle(self, event):
        t = event.get("type")
        with self._cond:
            if t == "OFFERS":
                for o in event.get("offers", {}).get("offers", []):
                    self.offers[o["id"]["value"]] = o
            elif t == "RESCIND":
                oid = event.get("rescind", {}).get("offer_id", {}).get("value")
                self.offers.pop(oid, None)
                self.rescinded.add(oid)
            self.events.append(event)
            self.event_times.append(time.monotonic())
            self._cond.notify_all()
        if t == "UPDATE" and self.auto_ack:
            st = status_of(event)
            if st.get("uuid"):
                self._ack_queue.put(st)

    def _ack_loop(self):
        while True:
            st = self._ack_queue.get()
            if st is None:
                return
            try:
                r = self.acknowledge(st, check=False)
                if r.status != 202:
                    self.ack_failures.append((st.get("uuid"), r.status, r.text[:200]))
            except OSError as e:
                self.ack_failures.append((st.get("uuid"), 0, str(e)))

    # ---- waiting

    def wait_for(self, pred, timeout=15.0, what=None, start=0):
        """The first event at index >= start satisfying pred, waiting until
        `timeout`. Raises StreamError naming `what` on timeout."""
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamError("timed out after %.1fs waiting for %s; last events:\n%s" %
                                      (timeout, what or "an event", self.describe(12)))
                self._cond.wait(min(left, 0.2))

    def index_of(self, pred, start=0):
        with self._cond:
            for i in range(start, len(self.events)):
                if pred(self.events[i]):
                    return i
        return None

    def mark(self):
        """Index to pass as `start` to see only events after now."""
        with self._cond:
            return len(self.events)

    def wait_type(self, type_, timeout=15.0, start=0):
        return self.wait_for(lambda e: e.get("type") == type_, timeout, type_, start)

    def wait_closed(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamError("stream still open after %.1fs" % timeout)
                self._cond.wait(min(left, 0.2))
        return self.close_reason

    def updates(self, task_id=None, start=0):
        """TaskStatus objects of UPDATE events (for task_id), in order."""
        with self._cond:
            out = []
            for e in self.events[start:]:
                if e.get("type") == "UPDATE":
                    st = status_of(e)
                    if task_id is None or st.get("task_id", {}).get("value") == task_id:
                        out.append(st)
            return out

    def states(self, task_id, start=0):
        return [s.get("state") for s in self.updates(task_id, start)]

    def wait_update(self, task_id, states, timeout=20.0, start=0, pred=None):
        """Waits for an UPDATE of task_id whose state is in `states` (a name
        or a collection) and returns its TaskStatus."""
        if isinstance(states, str):
            states = {states}

        def match(e):
            if e.get("type") != "UPDATE":
                return False
            st = status_of(e)
            return (st.get("task_id", {}).get("value") == task_id and st.get("state") in states
                    and (pred is None or pred(st)))

        ev = self.wait_for(match, timeout, "UPDATE %s -> %s" % (task_id, sorted(states)), start)
        return status_of(ev)

    def wait_terminal(self, task_id, timeout=20.0, start=0):
        return self.wait_update(task_id, TERMINAL_STATES, timeout, start)

    def take_offer(self, pred=None, timeout=15.0, agent_id=None):
        """Waits for an outstanding offer (optionally on agent_id, and
        satisfying pred) and removes it from the outstanding set."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for oid, o in list(self.offers.items()):
                    if agent_id and o["agent_id"]["value"] != agent_id:
                        continue
                    if pred and not pred(o):
                        continue
                    del self.offers[oid]
                    return o
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamError("no offer%s within %.1fs; outstanding: %s; last events:\n%s" %
                                      (" on " + agent_id if agent_id else "", timeout,
                                       list(self.offers), self.describe(8)))
                self._cond.wait(min(left, 0.2))

    wait_offer = take_offer

    def poll_offer(self, agent_id=None):
        """An outstanding offer (removed from the set), or None at once."""
        with self._cond:
            for oid, o in list(self.offers.items()):
                if not agent_id or o["agent_id"]["value"] == agent_id:
                    del self.offers[oid]
                    return o
        return None

    def release_offers(self, refuse_seconds=3600):
        """Declines every outstanding offer (so another framework can be
        offered those agents); returns how many."""
        offers = self.outstanding()
        for o in offers:
            self.decline(o["id"]["value"], refuse_seconds=refuse_seconds)
        return len(offers)

    def fence(self, timeout=15.0):
        """Waits until every event the master sent before now has arrived:
        reconciles a task id nobody uses and waits for the answer (events on
        one stream are ordered)."""
        tid = "fence-%d" % len(self.events)
        m = self.mark()
        self.reconcile([tid])
        self.wait_for(lambda e: e.get("type") == "UPDATE" and
                      status_of(e).get("task_id", {}).get("value") == tid, timeout,
                      "reconciliation fence", m)

    def quiesce(self):
        """SUPPRESS, then give back every offer held: afterwards this
        framework holds no offers and gets none until REVIVE."""
        self.suppress()
        self.fence()
        return self.release_offers(refuse_seconds=0)

    def hold(self, offer):
        """Puts an offer taken with take_offer/poll_offer back (unless it
        was rescinded meanwhile)."""
        with self._cond:
            if offer["id"]["value"] not in self.rescinded:
                self.offers[offer["id"]["value"]] = offer

    def outstanding(self, agent_id=None):
        with self._cond:
            return [o for o in self.offers.values()
                    if not agent_id or o["agent_id"]["value"] == agent_id]

    def describe(self, n=20):
        lines = []
        with self._cond:
            evs = self.events[-n:]
        for e in evs:
            t = e.get("type")
            if t == "UPDATE":
                st = status_of(e)
                lines.append("  UPDATE %s %s %s %s uuid=%s" % (
                    st.get("task_id", {}).get("value"), st.get("state"), st.get("reason", ""),
                    st.get("message", ""), st.get("uuid", "-")))
            elif t == "OFFERS":
                lines.append("  OFFERS %s" % [
                    (o["id"]["value"], o["agent_id"]["value"]) for o in
                    e.get("offers", {}).get("offers", [])])
            else:
                lines.append("  " + json.dumps(e)[:300])
        return "\n".join(lines) or "  (none)"

    # ---- calls (§2.1)

    def call(self, type_, payload=None, stream_id=True, framework_id=True, headers=None,
             raw=None):
        """Sends one call on its own connection; returns a CallResult.
        stream_id/framework_id: True = this subscription's, None/False = omit,
        a string = that value."""
        body = raw
        if body is None:
            body = {"type": type_}
            fid = self.framework_id if framework_id is True else framework_id
            if fid:
                body["framework_id"] = {"value": fid}
            if payload is not None:
                body[type_.lower()] = payload
        hdrs = {}
        sid = self.stream_id if stream_id is True else stream_id
        if sid:
            hdrs["Mesos-Stream-Id"] = sid
        hdrs.update(headers or {})
        status, rh, rb = post(self.master_url, SCHEDULER_PATH, body, hdrs)
        return CallResult(status, rh, rb)

    def _expect_202(self, result, what):
        if result.status != 202:
            raise StreamError("%s answered %d (expected 202): %r" % (what, result.status,
                                                                     result.body[:500]))
        return result

    def accept(self, offer_ids, operations, refuse_seconds=None, check=True):
        payload = {"offer_ids": [{"value": o} for o in offer_ids], "operations": operations}
        if refuse_seconds is not None:
            payload["filters"] = {"refuse_seconds": refuse_seconds}
        with self._cond:
            for o in offer_ids:
                self.offers.pop(o, None)
        r = self.call("ACCEPT", payload)
        return self._expect_202(r, "ACCEPT") if check else r

    def launch(self, offer, tasks, refuse_seconds=None, check=True):
        """ACCEPT `offer` (an Offer or an offer id) with one LAUNCH op."""
        oid = offer if isinstance(offer, str) else offer["id"]["value"]
        op = {"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}
        return self.accept([oid], [op], refuse_seconds, check)

    def launch_one(self, task_id, shell=None, argv=None, agent_id=None, refuse_seconds=0,
                   timeout=15.0, **kw):
        """Takes an offer with room for the task, launches it, returns the
        offer used."""
        cpus = kw.get("cpus", 0.1)
        mem = kw.get("mem", 32)
        offer = self.take_offer(lambda o: offer_scalar(o, "cpus") >= cpus - 1e-9 and
                                offer_scalar(o, "mem") >= mem - 1e-9, timeout, agent_id)
        self.launch(offer, [task_info(offer, task_id, shell=shell, argv=argv, **kw)],
                    refuse_seconds=refuse_seconds)
        return offer

    def decline(self, offer_ids, refuse_seconds=None, check=True):
        if isinstance(offer_ids, str):
            offer_ids = [offer_ids]
        payload = {"offer_ids": [{"value": o} for o in offer_ids]}
        if refuse_seconds is not None:
            payload["filters"] = {"refuse_seconds": refuse_seconds}
        with self._cond:
            for o in offer_ids:
                self.offers.pop(o, None)
        r = self.call("DECLINE", payload)
        return self._expect_202(r, "DECLINE") if check else r

    def kill(self, task_id, agent_id=None, grace=None, check=True):
        payload = {"task_id": {"value": task_id}}
        if agent_id:
            payload["agent_id"] = {"value": agent_id}
        if grace is not None:
            payload["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
        r = self.call("KILL", payload)
        return self._expect_202(r, "KILL") if check else r

    def acknowledge(self, status, check=True):
        """ACKNOWLEDGE a TaskStatus carrying a uuid: agent_id, task_id and the
        base64 uuid echoed back byte-for-byte (§2.7)."""
        payload = {"agent_id": dict(status["agent_id"]), "task_id": dict(status["task_id"]),
                   "uuid": status["uuid"]}
        r = self.call("ACKNOWLEDGE", payload)
        if r.status == 202:
            self.acks_sent.append(status["uuid"])
        return self._expect_202(r, "ACKNOWLEDGE") if check else r

    def reconcile(self, tasks=(), check=True):
        """tasks: iterable of task ids or (task_id, agent_id) pairs; empty =
        implicit reconciliation (§4.6)."""
        items = []
        for t in tasks:
            if isinstance(t, str):
                items.append({"task_id": {"value": t}})
            else:
                item = {"task_id": {"value": t[0]}}
                if t[1]:
                    item["agent_id"] = {"value": t[1]}
                items.append(item)
        r = self.call("RECONCILE", {"tasks": items})
        return self._expect_202(r, "RECONCILE") if check else r

    def revive(self, roles=None, check=True):
        r = self.call("REVIVE", {"roles": list(roles)} if roles else None)
        return self._expect_202(r, "REVIVE") if check else r

    def suppress(self, roles=None, check=True):
        r = self.call("SUPPRESS", {"roles": list(roles)} if roles else None)
        return self._expect_202(r, "SUPPRESS") if check else r

    def teardown(self, check=True):
        r = self.call("TEARDOWN")
        return self._expect_202(r, "TEARDOWN") if check else r

    def message(self, agent_id, executor_id, data, check=True):
        payload = {"agent_id": {"value": agent_id}, "executor_id": {"value": executor_id},
                   "data": base64.b64encode(data).decode()}
        r = self.call("MESSAGE", payload)
        return self._expect_202(r, "MESSAGE") if check else r

    def shutdown(self, executor_id, agent_id, check=True):
        payload = {"executor_id": {"value": executor_id}, "agent_id": {"value": agent_id}}
        r = self.call("SHUTDOWN", payload)
        return self._expect_202(r, "SHUTDOWN") if check else r


# --------------------------------------------------------------------------
# Agent-side helpers (§7.4, §7.6)


def get_json(url, path, timeout=15.0):
    host, port = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise StreamError("GET %s%s -> %d %r" % (url, path, resp.status, body[:300]))
        return json.loads(body.decode("utf-8"))
    finally:
        conn.close()


def agent_state(agent_url):
    return get_json(agent_url, "/state")


def agent_executor(state, framework_id, executor_id, completed=False):
    """The executor object of the agent's /state for (framework, executor),
    or None. Looks in completed executors/frameworks too when asked."""
    fw_keys = ("frameworks", "completed_frameworks") if completed else ("frameworks",)
    ex_keys = ("executors", "completed_executors") if completed else ("executors",)
    for fk in fw_keys:
        for fw in state.get(fk, []):
            if fw.get("id") != framework_id:
                continue
            for ek in ex_keys:
                for ex in fw.get(ek, []):
                    if ex.get("id") == executor_id:
                        return ex
    return None


def agent_tasks(state, framework_id=None, include_completed=False):
    """All task objects on the agent (running ones from executors[].tasks)."""
    out = []
    for fw in state.get("frameworks", []):
        if framework_id and fw.get("id") != framework_id:
            continue
        for ex in fw.get("executors", []):
            out.extend(ex.get("tasks", []))
            out.extend(ex.get("queued_tasks", []))
            if include_completed:
                out.extend(ex.get("completed_tasks", []))
        if include_completed:
            for ex in fw.get("completed_executors", []):
                out.extend(ex.get("completed_tasks", []))
                out.extend(ex.get("tasks", []))
    return out


def files_read(agent_url, path, offset=0, length=None):
    """GET /files/read -> (status, json-or-body)."""
    q = {"path": path, "offset": str(offset)}
    if length is not None:
        q["length"] = str(length)
    host, port = _split(agent_url)
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request("GET", "/files/read?" + urllib.parse.urlencode(q))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 200:
            return resp.status, json.loads(body.decode("utf-8"))
        return resp.status, body
    finally:
        conn.close()


def files_browse(agent_url, path):
    host, port = _split(agent_url)
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request("GET", "/files/browse?" + urllib.parse.urlencode({"path": path}))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 200:
            return resp.status, json.loads(body.decode("utf-8"))
        return resp.status, body
    finally:
        conn.close()


def read_sandbox_file(agent_url, directory, name):
    """The whole content of directory/name through /files/read (following
    the 64 KiB cap)."""
    out = ""
    offset = 0
    while True:
        status, data = files_read(agent_url, directory.rstrip("/") + "/" + name, offset)
        if status != 200:
            raise StreamError("/files/read %s/%s -> %d %r" % (directory, name, status, data))
        chunk = data.get("data", "")
        if not chunk:
            return out
        out += chunk
        offset += len(chunk.encode("utf-8"))


# --------------------------------------------------------------------------
# Operator API (§6)


def operator_call(url, type_, payload=None, headers=None, path="/api/v1"):
    body = {"type": type_}
    if payload is not None:
        body[type_.lower()] = payload
    status, rh, rb = post(url, path, body, headers)
    return CallResult(status, rh, rb)
