"""Starting the studio: which folders are runs and which are checkpoints, the port check, uvicorn.

Binds 127.0.0.1 unless told otherwise. The port is tried with a plain socket before uvicorn starts,
so a busy port is one line naming it instead of uvicorn's log and traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError
from .painters import PainterPool
from .pool import ModelSpec
from .runs import RunFolder, is_run_folder
from .stylizer import StylizerPool

LOOPBACK = "127.0.0.1"


def _is_checkpoint_folder(path: Path) -> bool:
    return path.is_dir() and (path / "state.json").is_file() and (path / "config.json").is_file()


def _translates(folder: Path) -> bool:
    """Whether a run or checkpoint folder holds a photo -> painting translator (its config.json says
    so; a run without one, a log or frames alone, is treated as a painter's)."""
    try:
        return json.loads((folder / "config.json").read_text()).get("generator") == "translator"
    except (OSError, ValueError, AttributeError):
        return False


def _short_name(path: Path) -> str:
    """How menus and tabs name a folder: a run by its name, a checkpoint as RUN/step-NNNNNN."""
    return f"{path.parent.parent.name}/{path.name}" if _is_checkpoint_folder(path) else path.name


def studio_parts(paths: list[str | os.PathLike], device: str = "cpu",
                 size: int | None = None) -> tuple[PainterPool, list[RunFolder], StylizerPool]:
    """The painters (bundled first, then each painter run's latest checkpoint or checkpoint folder),
    the run folders (each with a dashboard) and the stylizers (bundled first, then each photo ->
    painting run's or checkpoint folder's) that `paths` name."""
    if size is not None and not 16 <= size <= 4096:
        raise UserError(f"--size must lie in 16..4096 pixels, got {size}")
    painters, stylizers = [ModelSpec("bundled Monet painter")], [ModelSpec("bundled stylizer")]
    runs: list[RunFolder] = []
    names = [_short_name(Path(raw)) for raw in paths]
    for raw, name in zip(paths, names):
        path = Path(raw)
        if names.count(name) > 1:  # runs/a/run and runs/b/run: the paths as given tell them apart
            name = str(raw)
        if _is_checkpoint_folder(path):
            spec = ModelSpec(name, checkpoint=path)
        elif is_run_folder(path):
            runs.append(RunFolder(path, name))
            spec = ModelSpec(f"{name} (latest checkpoint)", run=path)
        else:
            raise UserError(f"{path}: not a run folder (config.json, log.jsonl or frames/) "
                            f"nor a checkpoint folder (RUN_DIR/checkpoints/step-NNNNNN)")
        (stylizers if _translates(path) else painters).append(spec)
    return PainterPool(painters, device=device, size=size), runs, StylizerPool(stylizers, device=device)


def check_port_free(host: str, port: int) -> None:
    """Bind and release `port` once; a busy one is a UserError naming it."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port must lie in 1..65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} is in use; pass --port N") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise UserError(f"port {port} needs privileges; pass --port N above 1023") from None
            raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None


def _server(app, host: str, port: int):
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


@contextlib.contextmanager
def running_server(app, host: str = LOOPBACK, port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` from a background thread for the block's duration; yields its base URL.

    For tests and benchmarks: `port=0` takes a free port. Signals stay with the main thread.
    """
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    server = _server(app, host, port)
    thread = threading.Thread(target=server.run, name="monetgan-studio", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"studio server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def serve(paths: list[str | os.PathLike], host: str = LOOPBACK, port: int = 7860, device: str = "cpu",
          size: int | None = None) -> None:
    """Serve the studio until Ctrl-C (uvicorn shuts down gracefully, then KeyboardInterrupt is raised)."""
    from .app import create_app

    painters, runs, stylizers = studio_parts(paths, device, size)
    check_port_free(host, port)
    if host not in (LOOPBACK, "localhost", "::1"):
        print(f"monetgan: warning: serving on {host}, reachable from other machines; the studio has no "
              f"login, so anyone who can reach port {port} sees these runs", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    print(f"monetgan studio: http://{shown}:{port}/  ({len(painters)} painters, {len(stylizers)} stylizers, "
          f"{len(runs)} runs; Ctrl-C stops)", flush=True)
    _server(create_app(painters, runs, stylizers), host, port).run()
