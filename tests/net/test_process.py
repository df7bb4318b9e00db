"""The hub as a real process: killed with SIGKILL, restarted, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from accord.net import Reply, SiteClient, Task, TaskQueue

HUB = """
import sys
from pathlib import Path
from accord.net import TaskQueue, authenticate_site_header, create_app, serve
queue = TaskQueue(Path(sys.argv[1]), poll_interval_s=0.1)
serve(create_app(queue, authenticate_site_header), "127.0.0.1", int(sys.argv[2]),
      ssl_context=None, insecure=True)
queue.close()
print("hub stopped cleanly")
"""


class Rounds:
    def handle(self, task: Task) -> Reply:
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=task.round)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hub(db: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", HUB, str(db), str(port)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def _task(task_id: str, rnd: int) -> Task:
    return Task.build(task_id=task_id, plan_id="p", round=rnd, site="a", kind="stats")


def test_a_killed_hub_restarts_from_its_queue_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    db, port = tmp_path / "hub" / "queue.sqlite", _free_port()
    hub = _hub(db, port)
    loop = TaskQueue(db, poll_interval_s=0.05)  # the round loop, in this (another) process
    stop = threading.Event()
    client = SiteClient(
        f"http://127.0.0.1:{port}",
        Rounds(),
        ssl_context=None,
        site="a",
        spool_dir=tmp_path / "spool",
        poll_wait_s=1.0,
        backoff_max_s=0.5,
    )
    thread = threading.Thread(target=client.run, args=(stop,), daemon=True)
    thread.start()
    try:
        loop.post(_task("t1", 1))
        assert set(loop.wait_replies(["t1"], 20.0)) == {"t1"}
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        loop.post(_task("t2", 2))  # posted while the hub is down
        hub = _hub(db, port)
        assert loop.wait_replies(["t2"], 20.0)["t2"].weight == 2.0
        hub.send_signal(signal.SIGTERM)
        output, _ = hub.communicate(timeout=20)
    finally:
        stop.set()
        thread.join(5)
        client.close()
        loop.close()
        if hub.poll() is None:
            hub.kill()
    assert hub.returncode == 0
    assert "hub stopped cleanly" in output
