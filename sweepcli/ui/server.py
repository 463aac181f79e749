"""``sweepcli ui``: the web app (aiohttp), its routes and its rules.

Pages are one shell (``page.html``, ``ui.js``, ``ui.css``) that draws the home page, a
sweep's page and a run's page from the JSON routes; an open sweep page follows the sweep
through server-sent events (``/api/sweep/ID/events``), fed by one look every
``POLL`` seconds per sweep with a page open (``live.Live``: incremental).

The rules: bound to 127.0.0.1 by default, where requests must name the host they came to
(a DNS-rebinding page names its own); bound elsewhere, every request needs the token
printed at start (``?token=`` once: a cookie after; or the ``X-Sweepcli-Token`` header).
Control (pause, resume, stop, cancel) is off unless ``--allow-control``, and even then
needs the token in the header (no form of another site can send it). Every ID is checked
before a path is built; nothing a request says names a file. The page puts every value in
the DOM as text.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from functools import lru_cache
import secrets
from importlib import resources
from typing import Any

from aiohttp import web

from .. import api
from ..errors import SweepcliError
from ..store import SweepStore
from ..store.files import InvalidId, check_id, parse_sweep_ref
from .live import Live

POLL = 0.25  # seconds between looks at a sweep with a page open
COOKIE = "sweepcli_token"
CONTROLS = ("pause", "resume", "stop", "cancel")


def dumps(value: Any) -> str:
    try:  # (no NaN anywhere, the common case: one pass in C)
        return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # NaN or infinities (a diverged run's): null, as the report has them
        from ..reporting.dashboard import json_safe

        return json.dumps(json_safe(value), separators=(",", ":"), default=str)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class App:
    def __init__(self, store: SweepStore, host: str, port: int, allow_control: bool,
                 token: str | None = None):
        self.store = store
        self.host = host
        self.port = port
        self.allow_control = allow_control
        self.token = token or secrets.token_urlsafe(24)
        self.local = is_loopback(host)
        self.lives: dict[str, Live] = {}
        self.watchers: dict[str, asyncio.Task[None]] = {}
        self.queues: dict[str, set[asyncio.Queue[tuple[str, Any]]]] = {}

    # ---- the rules ---------------------------------------------------------------------------
    def _token_ok(self, request: web.Request) -> bool:
        given = (request.headers.get("X-Sweepcli-Token") or request.query.get("token")
                 or request.cookies.get(COOKIE) or "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.local:
            name = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith(
                "[") else (request.host or "").split("]")[0] + "]"
            if not is_loopback(name):  # a page of another site that resolved to us
                return web.Response(status=403, text="sweepcli ui: wrong Host for a local page")
        elif not self._token_ok(request):
            return web.Response(status=401, text="sweepcli ui: open the address printed at "
                                "start (it carries the token)")
        response = await handler(request)
        if not self.local and request.query.get("token") and isinstance(response, web.Response):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; script-src 'self' 'unsafe-eval'; "
                                    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                    "frame-ancestors 'none'")
        return response

    # ---- sweeps --------------------------------------------------------------------------------
    def live(self, ref: str) -> Live:
        try:
            parse_sweep_ref(ref)
        except InvalidId as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        got = self.lives.get(ref)
        if got is None:
            try:
                sweep = self.store.open(ref)
            except SweepcliError as exc:
                raise web.HTTPNotFound(text=str(exc)) from None
            got = self.lives.setdefault(ref, Live(sweep))
        return got

    async def _in_thread(self, f: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, f, *args)

    # ---- routes --------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        html = _file("page.html").replace("{{CONTROL}}", "true" if self.allow_control else "false")
        # the token, for the page's control requests (a page of another origin cannot read it)
        html = html.replace("{{TOKEN}}", self.token if self.allow_control else "")
        return web.Response(text=html, content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "ui.js":
            return web.Response(text=_file("ui.js"), content_type="application/javascript")
        if name == "ui.css":
            return web.Response(text=_file("ui.css"), content_type="text/css")
        if name == "plotly.js":
            from plotly.offline import get_plotlyjs

            return web.Response(text=get_plotlyjs(), content_type="application/javascript",
                                headers={"Cache-Control": "max-age=86400"})
        raise web.HTTPNotFound()

    async def sweeps(self, request: web.Request) -> web.Response:
        from ..reporting.status import overview

        def rows() -> list[dict[str, Any]]:
            out = []
            for ref in self.store.list():
                try:  # each sweep kept open: a look reads only what is new since the last
                    live = self.live(ref)
                    with live.lock:
                        out.append(overview(live.sweep))
                except (SweepcliError, OSError, web.HTTPException) as exc:
                    out.append({"id": ref, "error": getattr(exc, "text", None) or str(exc)})
            return out

        return web.Response(text=dumps(await self._in_thread(rows)),
                            content_type="application/json")

    async def sweep(self, request: web.Request) -> web.Response:
        live = self.live(request.match_info["ref"])
        data = await self._in_thread(live.snapshot)
        data["control"] = {"allowed": self.allow_control, "state": data.pop("control")}
        return web.Response(text=dumps(data), content_type="application/json")

    async def summaries(self, request: web.Request) -> web.Response:
        live = self.live(request.match_info["ref"])
        return web.Response(text=dumps(await self._in_thread(live.summaries)),
                            content_type="application/json")

    async def lines(self, request: web.Request) -> web.Response:
        live = self.live(request.match_info["ref"])
        run_id = self._run(live, request)
        try:
            start = max(0, int(request.query.get("from", "0")))
        except ValueError:
            raise web.HTTPBadRequest(text="from: an integer") from None
        return web.Response(text=dumps(await self._in_thread(live.lines, run_id, start)),
                            content_type="application/json")

    def _run(self, live: Live, request: web.Request) -> str:
        try:
            run_id = check_id(request.match_info["run"], "run ID")
        except InvalidId as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        if run_id not in live.sweep.state.runs:
            raise web.HTTPNotFound(text=f"no run {run_id}")
        return run_id

    async def run(self, request: web.Request) -> web.Response:
        live = self.live(request.match_info["ref"])
        await self._in_thread(live.sweep.refresh)
        run_id = self._run(live, request)
        from ..reporting.status import read_summary
        from .live import row

        def read() -> dict[str, Any]:
            r = live.sweep.state.runs[run_id]
            folder = live.sweep.run_dir(run_id)
            tail = ""
            try:
                with open(folder / "output.log", "rb") as f:
                    f.seek(0, 2)
                    size = f.tell()
                    f.seek(max(0, size - 32768))
                    tail = f.read().decode(errors="replace")
            except OSError:
                pass
            segments = [{"step": s["step"], "params": s["params"], "parent": s.get("parent")}
                        for s in r.segments]
            return {**row(live.sweep, r), "summary": read_summary(folder),
                    "attempts": [*r.attempts, {"attempt": r.attempt, "state": r.state.value,
                                               "agent": r.agent,
                                               "started_at": r.attempt_started_at,
                                               "ended_at": r.ended_at,
                                               "exit_code": r.exit_code, "reason": r.reason}],
                    "folder": str(folder), "log_tail": tail[-32768:], "segments": segments,
                    "sweep": live.sweep.ref,
                    "metric": live.sweep.config.metric.name if live.sweep.config.metric else None}

        return web.Response(text=dumps(await self._in_thread(read)),
                            content_type="application/json")

    async def figures(self, request: web.Request) -> web.Response:
        """The sweep's own views, as the report draws them (importance, parallel
        coordinates, the metric against each parameter, the front, the rule's rungs, the
        population): plotly figures."""
        live = self.live(request.match_info["ref"])

        def make() -> str:
            from ..reporting import dashboard

            with live.lock:
                live.sweep.refresh()
                if live.views is not None and live.views[0] == live.sweep.events_applied:
                    return live.views[1]  # nothing new: the forest is not fitted again
                s = dashboard.report_data(live.sweep)
                figs, axes = dashboard._figures(s)
                text = dumps({"figs": figs, "importance": s.get("importance"),
                              "texts": [dashboard._hover(r, s["metric"]["name"] if
                                                         s["metric"] else None)
                                        for r in s["runs"]]})
                live.views = (live.sweep.events_applied, text)
                return text

        return web.Response(text=await self._in_thread(make), content_type="application/json")

    async def control(self, request: web.Request) -> web.Response:
        if not self.allow_control:
            raise web.HTTPForbidden(text="control is off: start sweepcli ui with --allow-control")
        if not hmac.compare_digest((request.headers.get("X-Sweepcli-Token") or "").encode(),
                                   self.token.encode()):
            raise web.HTTPForbidden(text="control needs the token (the X-Sweepcli-Token header)")
        live = self.live(request.match_info["ref"])
        action = request.match_info["action"]
        if action not in CONTROLS and action != "stop-run":
            raise web.HTTPNotFound(text=f"no control {action}")
        run_id = request.query.get("run")

        def act() -> None:
            with live.lock:  # (the page's Sweep: the same store, its own reads)
                if action == "stop-run":
                    api.stop_run(live.sweep, run_id or "")
                else:
                    getattr(api, action)(live.sweep)

        try:
            await self._in_thread(act)
        except SweepcliError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        return web.Response(text=dumps({"ok": True, "action": action}),
                            content_type="application/json")

    async def events(self, request: web.Request) -> web.StreamResponse:
        live = self.live(request.match_info["ref"])
        ref = live.sweep.ref
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=1000)
        self.queues.setdefault(ref, set()).add(queue)
        if ref not in self.watchers or self.watchers[ref].done():
            self.watchers[ref] = asyncio.create_task(self._watch(ref, live))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    kind, data = await asyncio.wait_for(queue.get(), timeout=15)
                    await response.write(f"event: {kind}\ndata: {dumps(data)}\n\n".encode())
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.queues.get(ref, set()).discard(queue)
        return response

    async def _watch(self, ref: str, live: Live) -> None:
        while self.queues.get(ref):
            try:
                events = await self._in_thread(live.look)
            except (OSError, SweepcliError):
                events = []
            for queue in list(self.queues.get(ref, ())):
                for e in events:
                    try:
                        queue.put_nowait(e)
                    except asyncio.QueueFull:
                        pass  # a page that stopped reading: it reloads when it comes back
            await asyncio.sleep(POLL)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        sweep = "/api/sweep/{ref:[^{}]+}"
        for path, handler in [
                ("/", self.page), ("/sweep/{ref:[^{}]+}/run/{run}", self.page),
                ("/sweep/{ref:[^{}]+}", self.page), ("/static/{name}", self.static),
                ("/api/sweeps", self.sweeps), (sweep + "/events", self.events),
                (sweep + "/summaries", self.summaries), (sweep + "/figures", self.figures),
                (sweep + "/run/{run}/lines", self.lines), (sweep + "/run/{run}", self.run),
                (sweep, self.sweep)]:
            app.router.add_get(path, handler)
        app.router.add_post(sweep + "/control/{action}", self.control)
        return app


@lru_cache(maxsize=4)
def _file(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def serve(store: SweepStore, host: str, port: int, allow_control: bool,
          say: Any = print) -> None:
    """Serve until Ctrl-C (or SIGTERM); say the address once it listens (port 0: the one
    the system gave)."""
    import signal

    ui = App(store, host, port, allow_control)

    async def run() -> None:
        # (open event streams are ended at once on Ctrl-C, not waited for a minute)
        runner = web.AppRunner(ui.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SweepcliError(f"sweepcli ui cannot listen on {host}:{port} "
                                f"({exc.strerror or exc}): choose another --port (0: any "
                                "free one)") from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/" + ("" if ui.local else f"?token={ui.token}")
        say(f"sweepcli ui: {url}" + ("" if ui.local else "  (the token is needed: bound to "
                                      f"{host}, not this host alone)"))
        if allow_control:
            say("sweepcli ui: control is on: pause, resume, stop and cancel from the page")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for task in ui.watchers.values():
                task.cancel()
            await runner.cleanup()

    asyncio.run(run())
