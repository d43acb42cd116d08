"""`make serve`: replicas behind real nginx, sticky sessions, a replica killed, and nothing left after Ctrl-C."""

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, nginx
from processes import command_of, descendants
from waiting import TIMEOUT_S, eventually

from chromium import (CANVAS, CANVAS_HOST, WAIT_MS, answer, clear, cookie_on_replica, draw, free_port,
                      model_card, open_on_replica, phone_sends, projector_room, retrain_settings, settled,
                      wait_for_app)
from digitnet.config import DRAWINGS_ENV
from digitnet.replicas import NGINX_TEMPLATE, ServeError, render_nginx_config
from digitnet.state.store import RETRAINED_ENV

pytestmark = pytest.mark.server

def test_the_nginx_template_is_filled_in_whole_and_nginx_accepts_it(tmp_path):
    text = render_nginx_config(NGINX_TEMPLATE.read_text(), "127.0.0.1:8501", [9001, 9002], tmp_path)
    assert "server 127.0.0.1:9001 " in text and "server 127.0.0.1:9002 " in text
    assert "listen 127.0.0.1:8501;" in text and f"pid {tmp_path}/nginx.pid;" in text
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    checked = subprocess.run([nginx(), "-t", "-p", str(tmp_path), "-c", str(conf)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_replicas_on_other_machines_join_the_upstream_and_a_wrong_address_is_refused(tmp_path):
    text = render_nginx_config(NGINX_TEMPLATE.read_text(), "127.0.0.1:8501", [9001], tmp_path,
                               ("192.0.2.10:8601", "[2001:db8::7]:8601"))
    assert "server 127.0.0.1:9001 " in text and "server 192.0.2.10:8601 " in text and "server [2001:db8::7]:8601 " in text
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    checked = subprocess.run([nginx(), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    for wrong in ("192.0.2.10", "host:port", "a; evil:1"):
        with pytest.raises(ServeError, match="not host:port"):
            render_nginx_config(NGINX_TEMPLATE.read_text(), "127.0.0.1:8501", [9001], tmp_path, (wrong,))


def test_replicas_only_serve_the_page_on_every_interface_with_no_nginx(mnist_path, tmp_path):
    port = free_port()
    env = {**os.environ, "DIGITNET_MNIST": str(mnist_path), DRAWINGS_ENV: str(tmp_path / "drawings")}
    process = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--replicas-only", "--replicas", "1",
                                "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        try:
            wait_for_app(port, process)
        except RuntimeError as failure:
            pytest.fail(f"{failure}: {process.stderr.read()}")
        children = descendants(process.pid)[1:]
        assert children and not [pid for pid in children if "nginx" in " ".join(command_of(pid))]
        assert any("--server.address 0.0.0.0" in " ".join(command_of(pid)) for pid in children)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        process.wait(TIMEOUT_S)
    assert process.returncode == 0, process.stderr.read()


def test_a_free_port_is_one_no_outgoing_connection_can_take_meanwhile():
    lowest_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(port < lowest_ephemeral for port in ports) and len(ports) > 1
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))  # free on every interface, as nginx and `--replicas-only` bind


def test_a_template_value_digitnet_does_not_know_is_refused(tmp_path):
    with pytest.raises(ServeError, match="@NAME@"):
        render_nginx_config("listen @LISTEN@; root @ROOT@;", "127.0.0.1:8501", [9001], tmp_path)


class Serve:
    """`make serve REPLICAS=2` on a free port, in its own process group, with its own folders."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.log_path = log
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "serve", "REPLICAS=2", f"PORT={self.port}"], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        eventually(lambda: "Ctrl-C stops it all" in self.log() or self.process.poll() is not None, "make serve")
        if self.process.poll() is not None:
            pytest.fail(f"make serve stopped: {self.log()}")
        try:
            wait_for_app(self.port, self.process)
        except (AssertionError, RuntimeError) as failure:
            pytest.fail(f"{failure}; make serve printed: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def replica_pids(self) -> dict[str, int]:
        """Replica port -> process id, for the replicas running now."""
        found = {}
        for line in subprocess.run(["pgrep", "-af", "streamlit run"], capture_output=True, text=True).stdout.splitlines():
            match = re.search(r"--server.port (\d+)", line)
            pid = int(line.split()[0])
            if match and pid in descendants(self.process.pid):
                found[match.group(1)] = pid
        return found

    def all_pids(self) -> list[int]:
        return descendants(self.process.pid)[1:]


@pytest.fixture
def serve(mnist_path, tmp_path):
    nginx()
    env = {**os.environ, "DIGITNET_MNIST": str(mnist_path), RETRAINED_ENV: str(tmp_path / "retrained"),
           DRAWINGS_ENV: str(tmp_path / "drawings")}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    server = Serve(env, tmp_path / "serve.log")
    try:
        server.wait_ready()
        yield server
    finally:
        children = server.all_pids()
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGINT)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_two_browsers_through_nginx_stay_on_their_replicas_and_see_one_retrain(browser, serve):
    first, first_replica, first_answered = open_on_replica(browser, serve.url, set())
    second, second_replica, second_answered = open_on_replica(browser, serve.url, {first_replica})
    for page in (first, second):
        draw(page, "7")
        assert answer(page) == "7"
    answered = {first_replica, second_replica}
    assert first_answered - {""} == {first_replica} and second_answered - {""} == {second_replica}
    assert len(answered) == 2  # two replicas, each browser on its own
    sidebar = retrain_settings(first, epochs=2, images=2000)
    sidebar.get_by_text("Learn from real people's pen digits").click()
    settled(first, after_change=True)
    sidebar.get_by_role("button", name="Retrain").click()
    # The other replica's visitor sees the same retrain, and then the new model.
    second.get_by_text(re.compile(r"Epoch \d of 2|Done: MNIST test accuracy")).first.wait_for(timeout=WAIT_MS)
    for page in (first, second):
        page.get_by_text(re.compile(r"Done: MNIST test accuracy")).wait_for(timeout=WAIT_MS)
        model_card(page).get_by_text("retrained here").wait_for(timeout=WAIT_MS)


def test_a_killed_replica_is_not_the_rooms_problem(browser, serve):
    first, first_replica, _ = open_on_replica(browser, serve.url, set())
    second, _, _ = open_on_replica(browser, serve.url, {first_replica})
    errors: list[str] = []
    second.on("pageerror", lambda error: errors.append(str(error)))
    sockets: list = []
    first.on("websocket", lambda socket: sockets.append(socket))
    draw(first, "1")
    assert answer(first) == "1"
    port = first_replica.rsplit(":", 1)[1]
    os.kill(serve.replica_pids()[port], signal.SIGKILL)
    # Streamlit reconnects the browser, and nginx sends it to the living replica within 10 s.
    eventually(lambda: sockets or first.wait_for_timeout(100), "the browser on the killed replica to reconnect")
    # Once it says it is connected and its first run on the living replica has ended (a click before
    # that is lost), its page works: its drawing may be gone, a new one is read.
    first.locator('[data-testid="stStatusWidget"]:has-text("Connecting")').wait_for(state="detached", timeout=WAIT_MS)
    settled(first, after_change=True)
    redraw(first, "7")
    assert answer(first) == "7"
    # make serve said so and started the replica again; the other browser never noticed.
    eventually(lambda: port in serve.replica_pids(), "the replica restarted", every=0.5)
    assert f"the replica on port {port} died (killed by SIGKILL): restarting it" in serve.log()
    redraw(second, "7")
    assert answer(second) == "7"
    assert not errors
    assert second.get_by_text("Connection error").count() == 0


def redraw(page, digit: str) -> None:
    """Clear the canvas and draw `digit` on the new one once it is on screen."""
    clear(page)
    page.locator(CANVAS).wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_function(f"document.querySelector('{CANVAS_HOST}')?.shadowRoot"
                           f"?.querySelector('canvas.upper-canvas')?.getBoundingClientRect().width > 0",
                           timeout=WAIT_MS)
    draw(page, digit)


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm to make"])
def test_stopping_make_serve_leaves_nothing_running(serve, stop):
    children = serve.all_pids()
    assert len(serve.replica_pids()) == 2 and any("nginx" in Path(f"/proc/{p}/cmdline").read_text() for p in children)
    if stop == "ctrl-c":
        os.killpg(serve.process.pid, signal.SIGINT)  # what the terminal sends the whole foreground group
    else:
        serve.process.send_signal(signal.SIGTERM)  # make alone: it does not pass it on
    serve.process.wait(TIMEOUT_S)
    eventually(lambda: not [p for p in children if Path(f"/proc/{p}").exists()], "every child to stop")
    with pytest.raises(OSError):
        urllib.request.urlopen(serve.url, timeout=2)


def test_phones_on_both_replicas_feed_one_wall(browser, serve):
    projector, projector_replica, code = projector_room(browser, serve.url, set())
    assert projector.get_by_text("loads faster").count() == 0  # behind nginx: no advice to use make serve
    replicas = set()
    for taken in (set(), {projector_replica}):  # one phone on the projector's replica, one on the other
        value, replica = cookie_on_replica(serve.url, taken)
        replicas.add(replica)
        phone_sends(browser, serve.url, code, cookie=value)
    assert len(replicas) == 2
    wall = projector.locator(".st-key-wall")
    wall.get_by_text("people: 2 · drawings: 2").wait_for(timeout=WAIT_MS)
    assert wall.locator("figure.tile").count() == 2


def new_session(url: str, source: str) -> tuple[int, socket.socket]:
    """Open Streamlit's WebSocket from `source` (an address in 127.0.0.0/8, all of it loopback), as a new
    browser session does; the HTTP status nginx answered, and the socket, left open."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    connection = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: streamlit\r\n\r\n").encode())
    answer = b""
    while b"\r\n" not in answer:
        chunk = connection.recv(1024)
        if not chunk:
            break
        answer += chunk
    return int(answer.split()[1]), connection


def test_a_flood_of_new_sessions_from_one_address_is_refused_and_a_real_phone_is_served(browser, serve, tmp_path):
    from digitnet.state.room import ROOMS_FILENAME, Rooms

    code = Rooms(tmp_path / "drawings" / ROOMS_FILENAME).open()
    statuses, held = [], []
    try:
        started = time.monotonic()
        for _ in range(320):  # a script opening sessions as fast as it can, from one address
            status, connection = new_session(serve.url, "127.0.0.2")
            statuses.append(status)
            held.append(connection)
        seconds = time.monotonic() - started
        accepted = statuses.count(101)
        # nginx's burst of 200, then 2 a second for as long as the flood took (longer on a busy machine).
        assert set(statuses) == {101, 429} and 200 <= accepted <= 200 + 2 * seconds + 2, (seconds, statuses)
        phone_sends(browser, serve.url, code)  # a phone in the same room, from its own address, meanwhile
    finally:
        for connection in held:
            connection.close()
    assert Rooms(tmp_path / "drawings" / ROOMS_FILENAME).state(code).drawings == 1


def test_a_phone_through_nginx_gets_compressed_code_no_icon_font_and_a_working_socket(browser, serve, tmp_path):
    from chromium import draw_on_phone, phone_first_visit

    from digitnet.state.room import ROOMS_FILENAME, Rooms

    code = Rooms(tmp_path / "drawings" / ROOMS_FILENAME).open()
    visit = phone_first_visit(browser, f"{serve.url}/?room={code}")
    assert not [url for url in visit.by_url if "MaterialSymbols" in url]  # the phone form shows no icon

    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    encodings: dict[str, str] = {}
    phone.on("response", lambda r: encodings.__setitem__(r.url, r.headers.get("content-encoding", "")))
    phone.goto(f"{serve.url}/?room={code}")
    draw_on_phone(phone, "7")
    # The big ones (3 MB of the 3.2 MB a phone moved uncompressed); files under 1 KB are not worth it. The
    # phone's pad is the page's own: the Draw page's canvas component (Fabric.js) is never loaded.
    big = ("/static/js/index.", "/static/js/protobuf.", "/static/js/StreamlitMarkdown.", "/static/css/index.")
    found = {name: encoding for url, encoding in encodings.items() for name in big if name in url}
    assert found == dict.fromkeys(big, "gzip")
    assert not [url for url in encodings if "streamlit-drawable-canvas" in url]
    # The WebSocket goes through the compressing proxy untouched: a drawing is sent and read.
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("Sent: your 7 is on the screen").wait_for(timeout=WAIT_MS)
    context.close()


def test_the_kubernetes_example_is_valid_kubernetes_and_shares_everything_through_the_database():
    import kubernetes_validate  # requirements-dev.txt: Kubernetes' schemas, offline
    import yaml

    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
    deployment, service, ingress = documents
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "Ingress"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert "app.py" in container["command"] and service["spec"]["selector"] == pod["metadata"]["labels"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["DIGITNET_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "digitnet"  # never in the file
    assert container["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"  # sticky sessions
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"] and backend["port"]["name"] == service["spec"]["ports"][0]["name"]


@pytest.mark.parametrize("url", ["not a url", "postgresql://digitnet@127.0.0.1:{port}/digits"])
def test_a_wrong_database_url_stops_serve_at_once_with_one_line(url, tmp_path):
    from digitnet.state.database import DATABASE_ENV

    env = {**os.environ, DATABASE_ENV: url.format(port=free_port())}  # a port nothing listens on
    ended = subprocess.run([sys.executable, "-m", "digitnet", "serve", "--replicas-only", "--port", str(free_port())],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert ended.returncode == 1
    assert ended.stderr.startswith("error: DIGITNET_DATABASE_URL cannot be used: ") and "Traceback" not in ended.stderr
    assert len(ended.stderr.strip().splitlines()) == 1


def test_a_database_the_role_may_not_create_tables_in_stops_serve_with_the_sql_that_fixes_it(postgres):
    """PostgreSQL 15's docs' way: a role, and a database the superuser owns. serve says what to run."""
    import secrets

    import psycopg

    from digitnet.state.database import DATABASE_ENV, check_usable

    role, database = f"visitor_{secrets.token_hex(3)}", f"owned_by_postgres_{secrets.token_hex(3)}"
    with psycopg.connect(f"{postgres.url}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f"CREATE DATABASE {database}")
    env = {**os.environ, DATABASE_ENV: postgres.url.replace("postgres@", f"{role}@") + f"/{database}"}
    ended = subprocess.run([sys.executable, "-m", "digitnet", "serve", "--replicas-only", "--port", str(free_port())],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert ended.returncode == 1 and len(ended.stderr.strip().splitlines()) == 1
    assert "may not create tables" in ended.stderr
    fix = ended.stderr.strip().rsplit("run: ", 1)[1]
    assert fix == f"ALTER DATABASE {database} OWNER TO {role};"
    with psycopg.connect(f"{postgres.url}/postgres", autocommit=True) as connection:
        connection.execute(fix)  # the fix, as said, works
    check_usable(env[DATABASE_ENV])
    with psycopg.connect(env[DATABASE_ENV]) as connection:  # and the check left nothing behind
        assert connection.execute("SELECT to_regclass('digitnet_setup_check')").fetchone()[0] is None


def test_serve_help_names_every_environment_setting_that_changes_it():
    import re

    shown = subprocess.run([sys.executable, "-m", "digitnet", "serve", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=TIMEOUT_S).stdout
    settings = set()
    for path in (ROOT / "digitnet").rglob("*.py"):
        settings |= set(re.findall(r'_ENV = "(DIGITNET_\w+)"', path.read_text()))
    wanted = settings - {"DIGITNET_PENDIGITS", "DIGITNET_UNIPEN", "DIGITNET_TEACHER"}  # a retrain's, not serve's
    assert wanted and {name for name in wanted if name not in shown} == set()


@pytest.mark.parametrize("unit", ["digitnet.service", "digitnet-replicas.service"])
def test_the_systemd_units_pass_systemd_s_own_check(unit, tmp_path):
    """Each unit, with /opt/digitnet where this checkout is (systemd checks that ExecStart exists);
    and the check can fail: a unit whose program is not there does not pass."""
    import shutil

    from conftest import unavailable

    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze not found: install it with `sudo apt-get install -y systemd`")
    text = (ROOT / "deploy" / unit).read_text()
    assert "/opt/digitnet/.venv/bin/python -m digitnet serve" in text and "Restart=on-failure" in text
    here, broken = tmp_path / unit, tmp_path / "broken" / unit
    here.write_text(text.replace("/opt/digitnet", str(ROOT)))
    broken.parent.mkdir()
    broken.write_text(text.replace("/opt/digitnet/.venv", str(tmp_path / "nowhere")))
    for path, passes in ((here, True), (broken, False)):
        checked = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                                 timeout=TIMEOUT_S)
        assert (checked.returncode == 0) == passes, checked.stderr
