"""The studio's web app: a Starlette app serving one static page and a small JSON/PNG API.

Routes (painters, stylizers and runs are named by index, never by path, so a URL cannot point at a file):
  GET /                                  the page (static/index.html)
  GET /static/...                        its JS and CSS (package data)
  GET /api/info                          painters, runs and stylizers (by index and label)
  GET /api/paint/{p}/{seed}.png          seed's painting by painter p (?download=1: as an attachment)
  GET /api/walk/{p}/frame.png            one frame of a walk (?seeds=3,17&frames=60&mode=slerp&i=0)
  GET /api/walk/{p}/walk.{gif,mp4}       the whole walk as a file (same query, plus fps)
  GET /api/runs/{r}                      run r's dashboard summary (the page polls it)
  GET /api/stylizers/{s}                 stylizer s's settings and their ranges (loads it)
  POST /api/stylize/{s}.png              the photo in the body painted by s (?size=256&strength=1&chroma_blur=1)
  GET /runs/{r}/files/{path}             a file inside run r's folder (frames), checked by RunFolder.safe_file

Endpoints are plain functions: Starlette runs them in its thread pool, so a forward pass never
blocks the event loop, and the models' locks keep passes on one generator apart. The one upload
reads its body asynchronously (bounded by MAX_UPLOAD_BYTES) and paints in the thread pool.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import UserError
from ..painting.interpolate import MODES, parse_seeds
from .painters import PainterPool
from .runs import RunFolder
from .stylizer import MAX_UPLOAD_BYTES, StylizerPool

STATIC_DIR = Path(__file__).parent / "static"
# The page asks for at most this many frames per walk and seeds per gallery page; beyond is refused
# rather than letting one request keep a painter busy for minutes.
MAX_WALK_FRAMES = 240
MAX_SEED = 2**31 - 1
_NO_STORE = {"Cache-Control": "no-store"}
_SECURITY = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:"}


def _bad(message: str, status: int = 400) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status)


def _refusal(exc: Exception) -> PlainTextResponse:
    """A user's mistake as one line (400, or the error's own status); an unknown index as 404."""
    if isinstance(exc, UserError):
        return _bad(str(exc), getattr(exc, "status", 400))
    return _bad("not found", 404)


def _secured(response: Response) -> Response:
    response.headers.update(_SECURITY)
    return response


def _int(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise UserError(f"missing ?{name}=")
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"?{name}= must be a whole number") from None


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise UserError(f"?{name}= must be a number") from None


class UploadTooLarge(UserError):
    """An upload past MAX_UPLOAD_BYTES: answered 413, not 400."""

    status = 413


async def _upload(request: Request) -> bytes:
    """The request's body, refused past MAX_UPLOAD_BYTES whether or not it declares its length."""
    too_big = UploadTooLarge(f"the photo is over {MAX_UPLOAD_BYTES // 2**20} MB; send a smaller one")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise too_big
    return bytes(body)


def _walk_query(request: Request) -> tuple[list[int], int, str]:
    seeds = parse_seeds(request.query_params.get("seeds", ""))
    frames = _int(request, "frames", 60)
    mode = request.query_params.get("mode", "slerp")
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}")
    if not 2 <= len(seeds) <= 16 or not all(0 <= s <= MAX_SEED for s in seeds):
        raise UserError("give 2 to 16 seeds, each 0 or more")
    if not len(seeds) <= frames <= MAX_WALK_FRAMES:
        raise UserError(f"frames must lie in {len(seeds)}..{MAX_WALK_FRAMES}")
    return seeds, frames, mode


def guarded(endpoint):
    """A user mistake in a request is one line (400, or its own status); an unknown index is a
    404. Plain endpoints run in Starlette's thread pool, async ones (the upload) on the event loop."""
    if inspect.iscoroutinefunction(endpoint):
        async def wrapped_async(request: Request) -> Response:
            try:
                return _secured(await endpoint(request))
            except (UserError, KeyError, IndexError) as exc:
                return _secured(_refusal(exc))
        return wrapped_async

    def wrapped(request: Request) -> Response:
        try:
            return _secured(endpoint(request))
        except (UserError, KeyError, IndexError) as exc:
            return _secured(_refusal(exc))
    return wrapped


def create_app(painters: PainterPool, runs: list[RunFolder], stylizers: StylizerPool | None = None) -> Starlette:
    """The studio app over these painters, run folders and stylizers (default: the bundled one)."""
    stylizers = StylizerPool(device=painters.device) if stylizers is None else stylizers

    def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=_NO_STORE)

    def info(request: Request) -> Response:
        return JSONResponse({"painters": painters.describe(), "stylizers": stylizers.describe(),
                             "runs": [{"index": i, "name": run.name} for i, run in enumerate(runs)]})

    def painting(request: Request) -> Response:
        index, seed = int(request.path_params["painter"]), int(request.path_params["seed"])
        if seed > MAX_SEED:
            raise UserError(f"seed must lie in 0..{MAX_SEED}")
        data = painters.painting_png(index, seed)
        headers = {"Cache-Control": "no-cache"}
        if request.query_params.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="seed{seed:06d}.png"'
        return Response(data, media_type="image/png", headers=headers)

    def walk_frame(request: Request) -> Response:
        seeds, frames, mode = _walk_query(request)
        data = painters.walk_frame_png(int(request.path_params["painter"]), seeds, frames, mode, _int(request, "i"))
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    def walk_file(request: Request) -> Response:
        if request.path_params["fmt"] not in ("gif", "mp4"):
            raise KeyError(request.path_params["fmt"])
        seeds, frames, mode = _walk_query(request)
        suffix = "." + request.path_params["fmt"]
        fps = _int(request, "fps", 24)
        if not 1 <= fps <= 60:
            raise UserError("fps must lie in 1..60")
        workdir = Path(tempfile.mkdtemp(prefix="monetgan-walk-"))
        try:
            path = painters.walk_video(int(request.path_params["painter"]), seeds, frames, mode, suffix, fps, workdir)
            data = path.read_bytes()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        name = f"walk-{'-'.join(map(str, seeds))}{suffix}"
        return Response(data, media_type="image/gif" if suffix == ".gif" else "video/mp4",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def stylizer_settings(request: Request) -> Response:
        return JSONResponse(stylizers.settings(int(request.path_params["stylizer"])))

    async def stylize_photo(request: Request) -> Response:
        index = int(request.path_params["stylizer"])
        if not 0 <= index < len(stylizers):
            raise KeyError(index)  # before the upload is read
        size = _int(request, "size", 256)
        strength, chroma_blur = _float(request, "strength"), _float(request, "chroma_blur")
        data = await _upload(request)
        png = await run_in_threadpool(stylizers.stylize_png, index, data, size, strength, chroma_blur)
        return Response(png, media_type="image/png", headers=_NO_STORE)

    def run_summary(request: Request) -> Response:
        index = int(request.path_params["run"])
        return JSONResponse(runs[index].dashboard(index), headers=_NO_STORE)

    def run_file(request: Request) -> Response:
        index = int(request.path_params["run"])
        path = runs[index].safe_file(request.path_params["path"])
        if path is None:
            return _bad("not found", 404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    routes = [
        Route("/", guarded(index)),
        Route("/api/info", guarded(info)),
        Route("/api/paint/{painter:int}/{seed:int}.png", guarded(painting)),
        Route("/api/walk/{painter:int}/frame.png", guarded(walk_frame)),
        Route("/api/walk/{painter:int}/walk.{fmt:str}", guarded(walk_file)),
        Route("/api/runs/{run:int}", guarded(run_summary)),
        Route("/api/stylizers/{stylizer:int}", guarded(stylizer_settings)),
        Route("/api/stylize/{stylizer:int}.png", guarded(stylize_photo), methods=["POST"]),
        Route("/runs/{run:int}/files/{path:path}", guarded(run_file)),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes)
