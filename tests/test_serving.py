"""Chapter 10's service: answers, bad requests with a message, batching, a bounded load test, and it stops."""

import time

import httpx
import numpy as np
import pytest

from utils.serving import BackgroundServer, LoadReport, cost_per_million, load_test, make_app


def _predict(texts):
    """Probabilities from the text alone, so a batched answer can be checked against a single one."""
    time.sleep(0.002)
    positive = np.array([min(0.99, 0.1 + 0.1 * len(t)) for t in texts])
    return np.stack([1 - positive, positive], axis=1)


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(make_app(_predict, ["negative", "positive"], max_chars=40), max_seconds=60) as running:
        yield running
    assert not running.running  # the with block stopped it


@pytest.mark.parametrize("body, status, words", [
    ({"text": ""}, 422, "empty"),
    ({"text": "   "}, 422, "empty"),
    ({"text": 5}, 422, "valid string"),
    ({"text": ["a", "b"]}, 422, "valid string"),
    ({"text": "x" * 41}, 413, "limit is 40"),
    ({"sentence": "a"}, 422, "text"),
    ([1, 2], 422, "dictionary"),
])
def test_bad_requests_get_a_4xx_with_a_message(server, body, status, words):
    answer = httpx.post(f"{server.url}/predict", json=body, timeout=10)
    assert answer.status_code == status
    assert words in str(answer.json()["detail"])
    assert httpx.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}  # still serving


def test_a_good_request_gets_the_label_and_probabilities(server):
    answer = httpx.post(f"{server.url}/predict", json={"text": "a fine film"}, timeout=10).json()
    assert answer["label"] == "positive"
    assert answer["probs"] == pytest.approx(_predict(["a fine film"])[0].tolist())


def test_a_failing_model_gets_a_500_with_its_message():
    def broken(texts):
        raise ValueError("weights missing")

    with BackgroundServer(make_app(broken, ["a", "b"]), max_seconds=30) as running:
        answer = httpx.post(f"{running.url}/predict", json={"text": "x"}, timeout=10)
        assert answer.status_code == 500 and "weights missing" in answer.json()["detail"]


def test_batching_groups_concurrent_requests_and_answers_each_its_own():
    app = make_app(_predict, ["negative", "positive"], max_batch=8, max_wait_ms=20)
    texts = ["a", "bb", "ccc", "dddd"]
    with BackgroundServer(app, max_seconds=30) as running:
        report = load_test(running.url, texts, concurrency=8, n_requests=48)
        answers = [httpx.post(f"{running.url}/predict", json={"text": t}, timeout=10).json()["probs"] for t in texts]
    assert isinstance(report, LoadReport) and report.n_errors == 0 and len(report.latencies) == 48
    assert max(app.state.batch_sizes) > 1 and sum(app.state.batch_sizes) == 48 + 4  # every request in exactly one batch
    assert np.allclose(answers, _predict(texts))
    assert report.p50_ms <= report.p95_ms and report.throughput > 0


def test_load_test_counts_requests_at_each_concurrency(server):
    for concurrency in (1, 8):
        report = load_test(server.url, ["good", "bad"], concurrency=concurrency, n_requests=16)
        assert len(report.latencies) == 16 and report.concurrency == concurrency
        assert report.throughput == pytest.approx(16 / report.seconds)


def test_the_server_stops_by_itself():
    with BackgroundServer(make_app(_predict, ["a", "b"]), max_seconds=0.5) as running:
        assert running.running
        time.sleep(1.5)
        assert not running.running
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{running.url}/health", timeout=1)


def test_cost_per_million_is_the_price_of_the_hours_it_takes():
    # 1e6 predictions at 100 per second take 1e4 s = 2.78 h; at 0.36 per hour that is 1.0
    assert cost_per_million(100.0, 0.36) == pytest.approx(1.0)
    assert cost_per_million(200.0, 0.36) == pytest.approx(0.5)
