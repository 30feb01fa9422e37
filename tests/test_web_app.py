"""The one web app (`frontal/web/`): served by the signaling app when handed in, and, installed
non-editable into a fresh venv, by `frontal serve` to headless Chromium.

The browser tests are skipped cleanly without chromium, chromedriver or selenium. One installs this
tree with `pip install --no-deps --no-build-isolation` (no network) into a venv whose only other
packages are this venv's, reached through a `.pth` line (which does not run this venv's editable
finder), so the page comes from the installed package data or not at all.
"""
from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from frontal.serve import WEB_DIR
from signaling.app import create_app
from signaling.server import ServerThread, bind_socket, socket_url

REPO = Path(__file__).resolve().parent.parent
ASSETS = ("app.js", "call.js", "signaling.js", "style.css")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
browser = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None or importlib.util.find_spec("selenium") is None,
                             reason="chromium, chromedriver or selenium absent")


# --- the signaling app serves the folder it is handed -------------------------------------------


def test_signaling_serves_the_web_app_it_is_handed() -> None:
    with ServerThread(web_dir=WEB_DIR) as server:
        for path in ("/", "/r/kitchen"):
            page = httpx.get(server.url + path, timeout=10)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/web/app.js">' in page.text
        for name in ASSETS:
            asset = httpx.get(f"{server.url}/web/{name}", timeout=10)
            assert asset.status_code == 200, name
        assert "export class SignalingChannel" in httpx.get(server.url + "/web/signaling.js", timeout=10).text
        assert httpx.get(server.url + "/config", timeout=10).status_code == 404  # the page's "server" mode


def test_signaling_alone_serves_no_page() -> None:
    with ServerThread() as server:
        assert httpx.get(server.url + "/", timeout=10).status_code == 404
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def test_a_folder_without_a_page_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no index.html"):
        create_app(web_dir=tmp_path)


def test_the_web_app_is_package_data() -> None:
    """Every file of the folder matches a package-data pattern (checked for real below)."""
    text = (REPO / "pyproject.toml").read_text()
    assert 'frontal = ["web/*.html", "web/*.js", "web/*.css", "web/codec/*.js", "web/peer/*.js",' in text  # + web/dist/ (test_browser_serve.py)
    assert {p.suffix for p in WEB_DIR.iterdir() if p.is_file()} <= {".html", ".js", ".css"}


# --- `frontal serve` from a non-editable install, in headless Chromium -------------------------


def copy_tree(dst: Path) -> Path:
    """The files `pip install .` reads, without caches (the build never touches the repo)."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dst / name)
    for package in ("frontal", "codec", "sender", "receiver", "signaling", "models"):
        shutil.copytree(REPO / package, dst / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with this tree pip-installed (not editable); returns its bin folder."""
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    (Path(site) / "test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--ignore-installed", "--no-cache-dir", str(copy_tree(root / "src"))],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run([python, "-c", "import frontal.serve as s; print(s.WEB_DIR)"],
                           check=True, capture_output=True, text=True, timeout=60, cwd=root).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the installed copy, not this repo
    assert {p.name for p in Path(where).iterdir()} >= {"index.html", *ASSETS}
    return venv / "bin"


@pytest.fixture
def served(installed: Path, tmp_path: Path) -> Iterator[str]:
    """`frontal serve --port 0` from the installed venv; yields its http URL."""
    proc = subprocess.Popen([installed / "frontal", "serve", "--port", "0"], cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            if "signaling server on " in line:
                url = line.split("signaling server on ", 1)[1].split()[0]
        assert url is not None and "web app at /" in line, "frontal serve did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def chrome(tmp: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--no-proxy-server", f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def wait_for(driver: Any, script: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := driver.execute_script(script)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


PAGE_STATE = """
const shown = (id) => { const e = document.getElementById(id); return !!e && e.offsetParent !== null; };
return {mode: document.body.dataset.mode, create: shown("create"), join: shown("join"), room: shown("room"),
        token: shown("token"), camera: shown("local"), status: document.getElementById("status").textContent,
        invite: !document.getElementById("invite").hidden, commands: document.getElementById("commands").textContent,
        link: document.getElementById("invite-link").textContent,
        assets: performance.getEntriesByType("resource").map((e) => e.name)};
"""


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    d = chrome(tmp_path)
    d.set_page_load_timeout(20)
    try:
        yield d
    finally:
        d.quit()


def page_state(driver: Any) -> dict[str, Any]:
    assert wait_for(driver, "return document.body.dataset.mode !== 'loading'")  # app.js and its imports ran
    return driver.execute_script(PAGE_STATE)  # type: ignore[no-any-return]


def created(driver: Any) -> dict[str, Any]:
    """Click "Create a room" and wait for the answer (a room, or an error)."""
    driver.find_element("id", "create").click()
    assert wait_for(driver, "return ['ready', 'error'].includes(document.getElementById('status').dataset.state)")
    return page_state(driver)


@browser
def test_frontal_serve_from_an_install_serves_the_page(served: str, driver: Any) -> None:
    driver.get(served + "/")
    assert driver.title == "Frontal call"
    state = page_state(driver)
    assert state["mode"] == "server"
    assert state["create"] and state["join"] and state["room"] and state["token"]  # create/join controls
    assert not state["camera"]  # the call view belongs to the agent's mode
    assets = {name.rsplit("/", 1)[-1]: name for name in state["assets"] if "/web/" in name}
    assert set(assets) >= set(ASSETS), state["assets"]
    for name, url in assets.items():
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200, name

    state = created(driver)  # POST /rooms
    room = driver.execute_script("return location.pathname.slice(3)")
    assert state["status"] == f"Room {room} created." and state["link"].startswith(f"{served}/r/{room}#token=")

    ws = served.replace("http://", "ws://") + "/ws"
    driver.get(served + "/r/kitchen#token=abcdefgh1234")  # an invite link
    state = page_state(driver)
    assert state["invite"] and state["link"] == served + "/r/kitchen#token=abcdefgh1234"
    assert f"frontal call --room kitchen --token abcdefgh1234 --signaling {ws} --camera 0" in state["commands"]
    assert "--browser" not in state["commands"]  # the loopback agent is a debugging aid, not a way to join


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread; yields its http URL."""
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield socket_url(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@browser
def test_a_created_room_gives_its_invite_link_and_commands(driver: Any) -> None:
    """The page against POST /rooms as specified (201 {room, token}), stood in for here."""
    async def rooms() -> JSONResponse:
        return JSONResponse({"room": "r-1234", "token": "tok-12345678"}, status_code=201)

    app = create_app(web_dir=WEB_DIR)
    app.router.routes.insert(0, APIRoute("/rooms", rooms, methods=["POST"]))  # ahead of the real one
    with serving(app) as url:
        driver.get(url + "/")
        state = created(driver)
        assert state["status"] == "Room r-1234 created." and state["invite"]
        assert state["link"] == url + "/r/r-1234#token=tok-12345678"
        assert driver.execute_script("return location.pathname + location.hash") == "/r/r-1234#token=tok-12345678"
        assert f"frontal call --room r-1234 --token tok-12345678 --signaling ws{url[4:]}/ws --camera 0" in state["commands"]


@browser
def test_a_server_without_room_creation_is_said_so(driver: Any) -> None:
    app = create_app(web_dir=WEB_DIR)
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/rooms"]
    with serving(app) as url:
        driver.get(url + "/")
        state = created(driver)
    assert not state["invite"]
    assert state["status"].startswith("Could not create a room: this server has no POST /rooms"), state["status"]
