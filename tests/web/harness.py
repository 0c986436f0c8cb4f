"""A real `copmatch serve` on loopback and Debian's headless Chromium driven by Selenium,
shared by the browser tests (tests/web) and the benchmark of the Ask page (benchmarks/web_ask.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CHROMIUM = Path(os.environ.get("COPMATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("COPMATCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_COMMAND = "apt-get update && apt-get install -y chromium chromium-driver"
# Flags that work in this sandbox (no GPU, no setuid sandbox) and keep the browser from any
# network of its own. The resolver rule makes every host name but loopback unresolvable, so
# a page that needs a CDN breaks here as it would on an intranet without internet.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{', '.join(missing)} not installed; run (as root): {INSTALL_COMMAND}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A `copmatch serve` subprocess over a data dir."""

    data_dir: Path
    port: int
    process: subprocess.Popen
    log_path: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.keys[role]}, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(data_dir: Path, keys: dict[str, str], ready_timeout_s: float = 120) -> Server:
    """Start `copmatch serve` on a free loopback port and wait until it answers a query
    (the first query loads the encoder; later ones are warm)."""
    port = free_port()
    log_path = data_dir / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from copmatch.cli import main; main()",
                "--data-dir",
                str(data_dir),
                "serve",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(data_dir, port, process, log_path, keys)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"copmatch serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base}/health/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        server.stop()
        raise RuntimeError(f"copmatch serve did not become ready:\n{server.log()}")
    with server.api("member") as http:
        http.post("/v1/experts", json={"text": "warm up the encoder", "limit": 1}).raise_for_status()
    return server


def start_browser(width: int = 1280, height: int = 900):
    """Headless Chromium from Debian's package, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="copmatch-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.copmatch_profile = profile
    return driver


def stop_browser(driver) -> None:
    profile = getattr(driver, "copmatch_profile", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(driver, base: str, key: str, next_path: str = "/") -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/sign-in?next={next_path}")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/sign-in" not in d.current_url)


def wait_for(driver, condition, timeout_s: float = 30):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # While a form's answer loads, elements of the page being left go stale or vanish from
    # under the driver ("node does not belong to the document"): look again until the
    # timeout, which still fails the test if the condition never holds.
    ignored = (WebDriverException,)
    return WebDriverWait(driver, timeout_s, poll_frequency=0.02, ignored_exceptions=ignored).until(condition)
