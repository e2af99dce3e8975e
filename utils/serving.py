"""A classifier behind a small HTTP service on 127.0.0.1, load-tested, and what a million predictions cost (chapter 10).

- :func:`make_app` builds a FastAPI app: ``POST /predict`` with ``{"text": "..."}`` answers
  ``{"label": ..., "probs": [...]}``; an empty text, a text that is not a string or one over ``max_chars``
  characters gets a 4xx answer whose ``detail`` says what is wrong, and an error inside the model a 500 with a
  message, never a dead server. With ``max_batch > 1`` requests that arrive within ``max_wait_ms`` of each other are
  run through the model together (dynamic batching, as inference servers do).
- :class:`BackgroundServer` runs an app with uvicorn in a background thread on a free port of 127.0.0.1 and stops
  it on leaving the ``with`` block, or by itself after ``max_seconds`` whatever happens.
- :func:`load_test` sends a fixed number of requests from ``concurrency`` clients at once (httpx) and returns a
  :class:`LoadReport`: p50, p95 and throughput.
- :func:`cost_per_million` turns a throughput and a price per hour into the price of a million predictions.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from utils.checks import check_callable, check_int, check_number, describe, fail

__all__ = ["make_app", "BackgroundServer", "LoadReport", "load_test", "cost_per_million"]


# =============================================================================================
# 1. The app
# =============================================================================================


class _Batcher:
    """Collects ``(text, future)`` pairs and runs them through ``predict`` in groups of at most ``max_batch``."""

    def __init__(self, predict: Callable, max_batch: int, max_wait_s: float):
        self.predict, self.max_batch, self.max_wait_s = predict, max_batch, max_wait_s
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batch_sizes: list[int] = []

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def submit(self, text: str) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((text, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(items) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            self.batch_sizes.append(len(items))
            try:
                probs = await loop.run_in_executor(None, self.predict, [text for text, _ in items])
            except Exception as error:  # noqa: BLE001  every waiting request learns what went wrong
                for _, future in items:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), row in zip(items, probs):
                if not future.done():
                    future.set_result(row)


def make_app(predict: Callable[[list[str]], np.ndarray], label_names: Sequence[str], max_chars: int = 1000,
             max_batch: int = 1, max_wait_ms: float = 5.0):
    """A FastAPI app serving ``predict(texts) -> probs (N, C)`` at ``POST /predict`` (and ``GET /health``).

    Requests: JSON ``{"text": str}``, 1 to ``max_chars`` characters after stripping spaces. Answers: ``200`` with
    ``{"label", "probs"}``; ``422`` for an empty text or a non-string; ``413`` for a text over ``max_chars``;
    ``500`` with the error's message if ``predict`` fails. ``max_batch > 1`` batches requests arriving within
    ``max_wait_ms``; ``app.state.batch_sizes`` lists the size of every batch run.
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, StrictStr

    check_callable("predict", predict, hint="a function list of sentences -> probabilities (N, C)")
    if isinstance(label_names, str) or not isinstance(label_names, Sequence) or len(label_names) < 2:
        fail(f"label_names must be a list of at least 2 class names, got {describe(label_names)}", TypeError)
    max_chars = check_int("max_chars", max_chars, minimum=1)
    max_batch = check_int("max_batch", max_batch, minimum=1)
    max_wait_s = check_number("max_wait_ms", max_wait_ms, minimum=0.0) / 1e3
    batcher = _Batcher(predict, max_batch, max_wait_s)

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: StrictStr  # a number or a list is refused (422), not turned into a string

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="sentiment", lifespan=lifespan)
    app.state.batch_sizes = batcher.batch_sizes

    @app.exception_handler(Exception)
    async def model_error(request: Request, error: Exception):
        return JSONResponse(status_code=500, content={"detail": f"the model failed: {type(error).__name__}: {error}"})

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/predict")
    async def predict_one(request: PredictRequest):
        text = request.text.strip()
        if not text:
            raise HTTPException(422, "text is empty: send a sentence to classify, e.g. {\"text\": \"a fine film\"}")
        if len(text) > max_chars:
            raise HTTPException(413, f"text has {len(text)} characters, the limit is {max_chars}: shorten it or split "
                                     f"it into sentences")
        probs = np.asarray(await batcher.submit(text), dtype=np.float64)
        return {"label": str(label_names[int(probs.argmax())]), "probs": [float(p) for p in probs]}

    return app


# =============================================================================================
# 2. Running it in the background
# =============================================================================================


class BackgroundServer:
    """``with BackgroundServer(app) as server:`` serves ``app`` at ``server.url`` (127.0.0.1, a free port).

    uvicorn runs in a daemon thread; the server stops when the block ends, or after ``max_seconds`` if the block
    never ends (a watchdog), and :attr:`running` says whether it still serves.
    """

    def __init__(self, app, max_seconds: float = 120.0, start_timeout_s: float = 20.0):
        if not callable(app):
            fail(f"app must be an ASGI app (from make_app), got {describe(app)}", TypeError)
        self.app = app
        self.max_seconds = check_number("max_seconds", max_seconds, above=0.0)
        self.start_timeout_s = check_number("start_timeout_s", start_timeout_s, above=0.0)
        self.server = self.thread = self.watchdog = None
        self.url = ""

    def __enter__(self) -> "BackgroundServer":
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # port 0: the system picks a free one
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        started = time.perf_counter()
        while not self.server.started:
            if not self.thread.is_alive() or time.perf_counter() - started > self.start_timeout_s:
                self.stop()
                fail(f"the server did not start within {self.start_timeout_s:g} s", RuntimeError)
            time.sleep(0.01)
        self.watchdog = threading.Timer(self.max_seconds, self.stop)
        self.watchdog.daemon = True
        self.watchdog.start()
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread (at most 10 s)."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=10.0)
        if self.watchdog is not None and self.watchdog is not threading.current_thread():
            self.watchdog.cancel()

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self.thread is not None and self.thread.is_alive()

    def __exit__(self, *exc) -> None:
        self.stop()


# =============================================================================================
# 3. Load test and cost
# =============================================================================================


@dataclass(frozen=True)
class LoadReport:
    """``latencies`` (seconds, one per request, in the order they finished), ``seconds`` of the whole test."""

    latencies: tuple[float, ...]
    seconds: float
    concurrency: int
    n_errors: int

    @property
    def p50_ms(self) -> float:
        """Median request latency, ms."""
        return 1e3 * float(np.percentile(self.latencies, 50))

    @property
    def p95_ms(self) -> float:
        """95th percentile of the request latency, ms."""
        return 1e3 * float(np.percentile(self.latencies, 95))

    @property
    def throughput(self) -> float:
        """Answered requests per second over the whole test."""
        return len(self.latencies) / self.seconds


def load_test(url: str, texts: Sequence[str], concurrency: int, n_requests: int, timeout_s: float = 30.0) -> LoadReport:
    """Send ``n_requests`` ``POST {url}/predict`` (sentence ``i % len(texts)``) from ``concurrency`` clients at once.

    Each client sends its next request as soon as its previous one is answered (a closed loop); a request that is
    not answered with 200 counts in ``n_errors``.
    """
    import httpx

    if not isinstance(url, str) or not url.startswith("http"):
        fail(f"url must be the server's address such as 'http://127.0.0.1:8000', got {describe(url)}", ValueError)
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        fail(f"texts must be a non-empty list of strings, got {describe(texts)}", TypeError)
    concurrency = check_int("concurrency", concurrency, minimum=1, maximum=256)
    n_requests = check_int("n_requests", n_requests, minimum=1, hint="a bounded test: a few hundred at most")
    check_number("timeout_s", timeout_s, above=0.0)
    counter, lock = iter(range(n_requests)), threading.Lock()
    latencies, errors = [], []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def client_loop(client):
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                ok = client.post(f"{url}/predict", json={"text": texts[i % len(texts)]}).status_code == 200
            except httpx.HTTPError:
                ok = False
            with lock:
                (latencies if ok else errors).append(time.perf_counter() - started)

    with httpx.Client(timeout=timeout_s, limits=limits) as client:
        client.get(f"{url}/health")  # the connection set up before the clock starts
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in [pool.submit(client_loop, client) for _ in range(concurrency)]:
                future.result()
        seconds = time.perf_counter() - started
    if not latencies:
        fail(f"no request to {url}/predict was answered with 200 ({len(errors)} failed)", RuntimeError,
             "is the server running? try one request by hand")
    return LoadReport(tuple(latencies), seconds, concurrency, len(errors))


def cost_per_million(throughput_per_s: float, price_per_hour: float) -> float:
    """The price of a million predictions on a machine rented at ``price_per_hour`` serving ``throughput_per_s``.

    ``price_per_hour / 3600 * 1e6 / throughput_per_s``, in the currency of the price; it assumes the machine is kept
    busy (a machine idle half the time costs twice as much per prediction).
    """
    throughput_per_s = check_number("throughput_per_s", throughput_per_s, above=0.0)
    price_per_hour = check_number("price_per_hour", price_per_hour, minimum=0.0)
    return price_per_hour / 3600.0 * 1e6 / throughput_per_s
