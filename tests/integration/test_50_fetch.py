"""The fetcher (CommandInfo.uris): http from a local server with a tar.gz
extracted and a second task served from the agent's cache (the server sees
one request); a 404 fails the task with a clear message; file:// with
executable; output_file and zip; unsupported schemes; the fetcher metrics."""

import http.server
import io
import os
import stat
import tarfile
import threading
import zipfile

import pytest

import harness
from harness import get_json, wait_until
from mesos_v1 import task_info

FAILED_STATES = ["TASK_FINISHED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        return super().do_GET()


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A directory served on 127.0.0.1 (port picked by the kernel), with
    the number of requests seen per path in server.hits."""
    root = tmp_path_factory.mktemp("www")

    def handler(*a, **kw):
        return _Handler(*a, directory=str(root), **kw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.hits = {}
    server.lock = threading.Lock()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    server.root = str(root)
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    yield from harness.module_cluster(tmp_path_factory, "fetch",
                                      agent_flags={"fetcher_stall_timeout": "2secs"})


@pytest.fixture
def fw(mc, scheduler_factory):
    return scheduler_factory(mc.url, name="fetch-fw").subscribe()


def make_tar_gz(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def run_task(fw, task_id, shell, uris):
    offer = fw.take_offer()
    t = task_info(offer, task_id, shell=shell)
    t["command"]["uris"] = uris
    fw.launch(offer, [t], refuse_seconds=0)
    return fw.wait_update(task_id, FAILED_STATES, timeout=40)


def sandbox_of(mc, fw, task_id):
    agent = mc.agents[0]

    def find():
        st = get_json(agent.url, "/state")
        for key in ("frameworks", "completed_frameworks"):
            for f in st.get(key, []):
                if f.get("id") != fw.framework_id:
                    continue
                for ek in ("executors", "completed_executors"):
                    for ex in f.get(ek, []):
                        if ex.get("id") == task_id:
                            return ex.get("directory")
        return None

    return wait_until(find, 10, what="sandbox of %s" % task_id)


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def metrics(mc):
    return get_json(mc.agents[0].url, "/metrics/snapshot")


def test_http_tar_gz_extracted_then_cached(mc, fw, http_root):
    make_tar_gz(os.path.join(http_root.root, "app.tar.gz"),
                {"app/hello.txt": b"hello-from-archive\n", "app/data/x": b"x" * 1000})
    url = http_root.url + "/app.tar.gz"
    uri = {"value": url, "extract": True, "cache": True}
    cmd = "cat app/hello.txt && test -f app.tar.gz && test -s app/data/x"
    before = metrics(mc)

    fin = run_task(fw, "fetch-1", cmd, [uri])
    assert fin["state"] == "TASK_FINISHED", fin
    d1 = sandbox_of(mc, fw, "fetch-1")
    assert "hello-from-archive" in read(os.path.join(d1, "stdout"))
    assert http_root.hits.get("/app.tar.gz") == 1, http_root.hits

    fin = run_task(fw, "fetch-2", cmd, [uri])
    assert fin["state"] == "TASK_FINISHED", fin
    d2 = sandbox_of(mc, fw, "fetch-2")
    assert d1 != d2
    assert "hello-from-archive" in read(os.path.join(d2, "stdout"))
    # The second task was served from the cache: still one request.
    assert http_root.hits.get("/app.tar.gz") == 1, http_root.hits
    assert "served from the cache" in read(os.path.join(d2, "stderr"))

    after = metrics(mc)
    assert (after["containerizer/fetcher/task_fetches_succeeded"] -
            before["containerizer/fetcher/task_fetches_succeeded"]) == 2, after
    assert after["containerizer/fetcher/cache_size_used_bytes"] > 0, after
    assert after["containerizer/fetcher/cache_size_total_bytes"] > 0, after


def test_uncached_http_fetched_each_time(mc, fw, http_root):
    with open(os.path.join(http_root.root, "plain.txt"), "w") as f:
        f.write("plain-content\n")
    uri = {"value": http_root.url + "/plain.txt?v=1"}
    for i in range(2):
        fin = run_task(fw, "plain-%d" % i, "cat plain.txt", [uri])
        assert fin["state"] == "TASK_FINISHED", fin
    assert http_root.hits.get("/plain.txt?v=1") == 2, http_root.hits


def test_404_fails_the_task_clearly(mc, fw, http_root):
    before = metrics(mc)
    url = http_root.url + "/no-such-file.tgz"
    fin = run_task(fw, "fetch-404", "echo should-not-run", [{"value": url}])
    assert fin["state"] == "TASK_FAILED", fin
    assert fin.get("reason") == "REASON_CONTAINER_LAUNCH_FAILED", fin
    msg = fin.get("message", "")
    assert msg.startswith("Failed to fetch '%s'" % url), msg
    assert "404" in msg, msg
    assert fin.get("source") == "SOURCE_AGENT", fin
    d = sandbox_of(mc, fw, "fetch-404")
    assert "should-not-run" not in read(os.path.join(d, "stdout"))
    after = metrics(mc)
    assert (after["containerizer/fetcher/task_fetches_failed"] -
            before["containerizer/fetcher/task_fetches_failed"]) == 1, after


def test_connection_refused_fails(mc, fw):
    # A port nothing listens on (bound then closed).
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = "http://127.0.0.1:%d/x.tar.gz" % port
    fin = run_task(fw, "fetch-refused", "true", [{"value": url}])
    assert fin["state"] == "TASK_FAILED", fin
    assert fin["message"].startswith("Failed to fetch '%s': " % url), fin


def test_stalled_server_times_out(mc, fw):
    """A server that accepts and never answers: the fetch fails after the
    stall timeout instead of hanging the launch."""
    import socket
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    url = "http://127.0.0.1:%d/slow.tgz" % srv.getsockname()[1]
    try:
        start = time.monotonic()
        fin = run_task(fw, "fetch-stall", "true", [{"value": url}])
        took = time.monotonic() - start
    finally:
        srv.close()
    assert fin["state"] == "TASK_FAILED", fin
    assert fin["message"].startswith("Failed to fetch '%s': " % url), fin
    assert "too slow" in fin["message"] or "timed out" in fin["message"].lower(), fin
    assert took < 30, took


def test_cache_evicts_least_recently_used(cluster_factory, scheduler_factory, http_root):
    # Room for one of the two 2 KB files: fetching b evicts a.
    c = cluster_factory(agent_flags={"fetcher_cache_size": "3KB"})
    s = scheduler_factory(c.url, name="lru-fw").subscribe()
    for name in ("lru-a.bin", "lru-b.bin"):
        with open(os.path.join(http_root.root, name), "wb") as f:
            f.write(os.urandom(2048))
    order = ["lru-a.bin", "lru-a.bin", "lru-b.bin", "lru-a.bin"]
    for i, name in enumerate(order):
        uri = {"value": "%s/%s" % (http_root.url, name), "cache": True}
        fin = run_task(s, "lru-%d" % i, "test -s %s" % name, [uri])
        assert fin["state"] == "TASK_FINISHED", fin
    # a: fetched, hit, then evicted by b, fetched again.
    assert http_root.hits.get("/lru-a.bin") == 2, http_root.hits
    assert http_root.hits.get("/lru-b.bin") == 1, http_root.hits
    m = get_json(c.agents[0].url, "/metrics/snapshot")
    assert m["containerizer/fetcher/cache_size_used_bytes"] <= 3072, m
    assert m["containerizer/fetcher/cache_size_total_bytes"] == 3072, m


def test_file_uri_executable(mc, fw, tmp_path):
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho tool-ran-$1\n")
    os.chmod(script, 0o644)  # not executable at the source
    uri = {"value": "file://%s" % script, "executable": True}
    fin = run_task(fw, "fetch-exec", "./tool.sh ok", [uri])
    assert fin["state"] == "TASK_FINISHED", fin
    d = sandbox_of(mc, fw, "fetch-exec")
    assert "tool-ran-ok" in read(os.path.join(d, "stdout"))
    mode = os.stat(os.path.join(d, "tool.sh")).st_mode
    assert mode & stat.S_IXUSR, oct(mode)


def test_plain_path_output_file_and_zip(mc, fw, tmp_path):
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inside/inner.txt", "zipped-content\n")
    plain = tmp_path / "config.ini"
    plain.write_text("key=value\n")
    uris = [{"value": str(z), "output_file": "renamed.zip"},
            {"value": str(plain), "output_file": "conf/app.ini", "extract": False}]
    fin = run_task(fw, "fetch-zip", "test -f renamed.zip && cat inside/inner.txt conf/app.ini",
                   uris)
    assert fin["state"] == "TASK_FINISHED", fin
    out = read(os.path.join(sandbox_of(mc, fw, "fetch-zip"), "stdout"))
    assert "zipped-content" in out and "key=value" in out, out


def test_missing_local_file_and_bad_scheme(mc, fw, tmp_path):
    missing = str(tmp_path / "nope.tar.gz")
    fin = run_task(fw, "fetch-missing", "true", [{"value": missing}])
    assert fin["state"] == "TASK_FAILED", fin
    assert fin["message"].startswith("Failed to fetch '%s': " % missing), fin
    assert "No such file" in fin["message"], fin

    fin = run_task(fw, "fetch-ftp", "true", [{"value": "ftp://127.0.0.1/x"}])
    assert fin["state"] == "TASK_FAILED", fin
    assert "unsupported URI scheme 'ftp'" in fin["message"], fin

    fin = run_task(fw, "fetch-escape", "true",
                   [{"value": str(tmp_path / "x"), "output_file": "../escape"}])
    assert fin["state"] == "TASK_FAILED", fin
    assert "output_file" in fin["message"], fin
