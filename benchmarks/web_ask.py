"""From pressing "Ask" to the rendered answer in a real browser, next to the same query's API time.

    python -m benchmarks.web_ask [--repeats 5]

The shipped sample community is built as after `make demo` (ONNX encoder), served by a real
`copmatch serve` on loopback, and asked every sample question by Debian's headless Chromium
(the browser tests' harness, tests/web/harness.py). For each question and repeat, interleaved
so machine load hits every figure alike:

- page: a member signed in on the Ask page presses Ask; app.js times from the form's submit
  event to the answer inserted into the page with its layout done (``data-ask-ms``);
- page without script: the same form posted as a plain page (what a browser without
  JavaScript does), from navigation start to the new page's DOMContentLoaded;
- API from the browser: ``fetch`` of ``POST /v1/experts`` with the same text and limit in the
  same page, to the parsed JSON;
- API from Python: the same request through httpx, to the parsed JSON;
- page fragment from Python: the request app.js sends (``POST /ask``, signed in), through
  httpx, to the received HTML: the server's share of the page's time, without the browser.

The issue's bar: page / API within 1.5x (ratios of medians, same run).
"""

from __future__ import annotations

import re
import statistics
import time
from contextlib import closing
from typing import Annotated

import httpx
import typer

from benchmarks.lib.communities import open_built
from benchmarks.lib.results import HERE, record
from copmatch.sample import questions
from copmatch.web.ask import ASK_LIMIT
from tests.web.harness import browser_missing, sign_in, start_browser, start_server, stop_browser, wait_for

app = typer.Typer(add_completion=False)
WORK = HERE / ".work" / "web_ask"

FETCH_API = """
const [text, limit, key, done] = arguments;
const started = performance.now();
fetch('/v1/experts', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-API-Key': key},
                      body: JSON.stringify({text: text, limit: limit})})
  .then(r => r.json()).then(body => done([performance.now() - started, body.experts.length]));
"""


def press_ask(driver, text: str) -> float:
    from selenium.webdriver.common.by import By

    driver.execute_script("document.getElementById('question').value = arguments[0];", text)
    asked = int(driver.execute_script("return Number(document.body.dataset.asked || 0)"))
    driver.find_element(By.ID, "ask-button").click()
    wait_for(driver, lambda d: int(d.execute_script("return Number(document.body.dataset.asked || 0)")) > asked)
    return float(driver.execute_script("return Number(document.body.dataset.askMs)"))


def post_page(driver, base: str, text: str) -> float:
    """The Ask form posted as a plain page; ms from navigation start to DOMContentLoaded."""
    driver.get(base + "/")
    driver.execute_script(
        "document.getElementById('question').value = arguments[0]; document.getElementById('ask-form').submit();",
        text,
    )
    wait_for(
        driver, lambda d: d.current_url.endswith("/ask") and d.execute_script("return document.readyState") != "loading"
    )
    return float(
        driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n.domContentLoadedEventEnd - n.startTime;"
        )
    )


def signed_in_client(base: str, secret: str) -> tuple[httpx.Client, str]:
    """An httpx client signed in through the sign-in form, and its session's CSRF token."""
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/sign-in").text
    token = re.search(r'name="sign_in_token" value="([^"]+)"', form).group(1)
    client.post("/sign-in", data={"key": secret, "sign_in_token": token, "next": "/"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    return client, csrf


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


@app.command()
def main(repeats: Annotated[int, typer.Option(min=1, max=50, help="Rounds over the sample questions.")] = 5) -> None:
    reason = browser_missing()
    if reason:
        raise typer.BadParameter(reason)
    community = open_built(WORK / "sample")
    _, secret = community.create_key("member", member_id="m002", label="web_ask benchmark")
    data_dir = community.data_dir
    community.close()
    server = start_server(data_dir, {"member": secret})
    driver = start_browser()
    texts = [q["text"] for q in questions()]
    times: dict[str, list[float]] = {
        "page": [],
        "page_no_script": [],
        "api_browser": [],
        "api_python": [],
        "fragment_python": [],
    }
    try:
        sign_in(driver, server.base, secret)
        pages, csrf = signed_in_client(server.base, secret)
        with closing(pages), httpx.Client(base_url=server.base, headers={"X-API-Key": secret}, timeout=60) as http:
            for text in texts:  # warm-up round: first use of every code path
                press_ask(driver, text)
                http.post("/v1/experts", json={"text": text, "limit": ASK_LIMIT}).raise_for_status()
            for _ in range(repeats):
                for text in texts:
                    times["page"].append(press_ask(driver, text))
                    ms, n = driver.execute_async_script(FETCH_API, text, ASK_LIMIT, secret)
                    assert n > 0
                    times["api_browser"].append(float(ms))
                    started = time.perf_counter()
                    http.post("/v1/experts", json={"text": text, "limit": ASK_LIMIT}).raise_for_status().json()
                    times["api_python"].append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    fragment = {"csrf_token": csrf, "question": text, "fragment": "true"}
                    answered = pages.post("/ask", data=fragment).raise_for_status().text
                    assert "data-member-id" in answered
                    times["fragment_python"].append((time.perf_counter() - started) * 1000)
                for text in texts:
                    times["page_no_script"].append(post_page(driver, server.base, text))
                driver.get(server.base + "/")
    finally:
        stop_browser(driver)
        server.stop()
    stats = {name: summary(values) for name, values in times.items()}
    api = stats["api_browser"]["median_ms"]
    ratios = {
        "page_vs_api_browser": round(stats["page"]["median_ms"] / api, 3),
        "page_vs_api_python": round(stats["page"]["median_ms"] / stats["api_python"]["median_ms"], 3),
        "fragment_python_vs_api_python": round(
            stats["fragment_python"]["median_ms"] / stats["api_python"]["median_ms"], 3
        ),
        "page_no_script_vs_api_browser": round(stats["page_no_script"]["median_ms"] / api, 3),
        "page_p95_vs_api_browser_p95": round(stats["page"]["p95_ms"] / stats["api_browser"]["p95_ms"], 3),
    }
    rows = [{"path": name, **figures} for name, figures in stats.items()]
    for row in rows:
        typer.echo(f"{row['path']:>16}  median {row['median_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms")
    for name, value in ratios.items():
        typer.echo(f"{name}: {value}x")
    record(
        "web_ask",
        sizes={"questions": len(texts), "repeats": repeats, "asks": len(times["page"]), "limit": ASK_LIMIT},
        timings={name: figures for name, figures in stats.items()} | {"ratios": ratios},
        quality={"within_1_5x": ratios["page_vs_api_browser"] <= 1.5},
        tables={"Ask page vs API (ms)": rows},
        notes="page: submit event to the answer inserted with layout done (app.js); API: the same POST /v1/experts "
        "with the same text and limit, from the same browser page (fetch) and from Python (httpx); medians over "
        "every question and repeat, interleaved. Headless Chromium, copmatch serve on loopback, sample community.",
    )


if __name__ == "__main__":
    app()
