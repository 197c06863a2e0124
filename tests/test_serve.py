"""skdigits serve: POST /predict, its refusals, concurrency, the CLI's start and stop, and the page in Chromium."""

import base64
import concurrent.futures
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IN_CI = os.environ.get("CI", "").lower() == "true"
if not IN_CI:  # the serve extra is optional for a developer; CI installs it (the dev extra) and must run these tests
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
import uvicorn  # noqa: E402

import skdigits  # noqa: E402
from skdigits.datasets import load_images  # noqa: E402
from skdigits.normalization import normalize_digit  # noqa: E402
from skdigits.serve import MAX_SERVED_PIXELS, create_app, describe_prediction  # noqa: E402


class _Server:
    """uvicorn serving `app` on a free port of 127.0.0.1, in a thread of this process."""

    def __init__(self, app):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "uvicorn did not stop"
        self.socket.close()


@pytest.fixture(scope="module")
def server(sample_model):
    with _Server(create_app(sample_model, max_upload_bytes=1_000_000)) as running:
        yield running


def _post(url, body, *, content_type="image/png", query=""):
    request = urllib.request.Request(f"{url}/predict{query}", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def _png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _paper_digit(sample, i, side=140):
    """Sample digit `i` as dark ink on light paper, larger and in an RGB photo-like page."""
    digit = np.asarray(Image.fromarray(sample[0][i].reshape(28, 28)).resize((side, side), Image.Resampling.BILINEAR))
    return np.repeat((255 - digit)[..., None], 3, axis=2)


def test_describe_prediction_orders_the_top_classes():
    description = describe_prediction(np.array([3, 5, 8]), [0.2, 0.05, 0.75])
    assert description == {"label": 8, "top3": [{"label": 8, "probability": 0.75}, {"label": 3, "probability": 0.2},
                                                {"label": 5, "probability": 0.05}]}


def test_the_page_and_its_script_are_served_with_a_strict_policy(server):
    with urllib.request.urlopen(server.url + "/", timeout=30) as response:
        page = response.read().decode()
        assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'self' covers it
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert '<canvas id="canvas"' in page and 'type="file"' in page and '<script src="/serve.js">' in page
    with urllib.request.urlopen(server.url + "/serve.js", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert 'fetch("/predict"' in response.read().decode()


def test_predict_answers_what_the_model_predicts(server, sample, sample_model):
    page = _paper_digit(sample, 4500)
    status, answer = _post(server.url, _png(page))
    assert status == 200, answer
    expected_pixels = normalize_digit(page)
    np.testing.assert_array_equal(np.array(answer["pixels"]).reshape(28, 28), expected_pixels)
    proba = sample_model.predict_proba(expected_pixels.reshape(1, -1))[0]
    np.testing.assert_allclose(answer["probabilities"], proba, atol=1e-6)
    assert answer["classes"] == list(range(10))
    assert answer == {**answer, **describe_prediction(sample_model.classes_, proba)}
    assert answer["label"] == sample[1][4500]


def test_invert_query_parameter_overrides_the_border_rule(server, sample):
    page = _paper_digit(sample, 4501)
    _, automatic = _post(server.url, _png(page))
    _, forced = _post(server.url, _png(page), query="?invert=true")
    status, wrong = _post(server.url, _png(page), query="?invert=false")
    assert forced["pixels"] == automatic["pixels"]
    assert status == 422 and "holds no ink" in wrong["error"]  # read as light ink, the dark digit is background


def _chunked_post(url, chunks):
    """POST with Transfer-Encoding: chunked (no Content-Length), as a streaming client does."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", "/predict", body=iter(chunks), encode_chunked=True,
                           headers={"Content-Type": "image/png"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _bomb(side):
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")  # 25 or 400 megapixels in a few KB
    return buffer.getvalue()


BAD_INPUTS = {
    "empty body": (b"", "image/png", "", 400, r"the request body is empty"),
    "not an image": (b"hello, not a picture", "image/png", "", 400, r"the upload is not an image skdigits can read"),
    "truncated PNG": (None, "image/png", "", 400, r"is not an image skdigits can read"),
    "over the upload size": (b"\x89PNG" + bytes(1_000_000), "image/png", "", 413,
                             r"the upload is 1,000,004 bytes or more, over the 1,000,000 this server accepts"),
    "over the pixel cap (a decompression bomb)": (
        _bomb(5_000), "image/png", "", 413,
        rf"the upload is 5000x5000 pixels, more than the {MAX_SERVED_PIXELS:,} skdigits decodes \(a decompression bomb"),
    "over Pillow's own bomb limit": (_bomb(20_000), "image/png", "", 413, r"has far more pixels"),
    "a blank canvas": (_png(np.zeros((280, 280, 4), np.uint8)), "image/png", "", 422, r"the image holds no ink"),
    "a multipart form": (b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", "", 415,
                         r"send the image file itself as the request body, not a multipart form"),
    "a bad invert value": (_png(np.zeros((8, 8), np.uint8)), "image/png", "?invert=maybe", 400,
                           r"invert='maybe' is not understood"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gets_a_4xx_and_a_message(server, case, sample):
    body, content_type, query, status, message = BAD_INPUTS[case]
    if body is None:
        body = _png(_paper_digit(sample, 0))[:300]
    got_status, answer = _post(server.url, body, content_type=content_type, query=query)
    assert got_status == status, answer
    assert re.search(message, answer["error"]), answer["error"]


def test_a_streamed_upload_is_cut_off_at_the_size_cap(server):
    status, answer = _chunked_post(server.url, [bytes(300_000)] * 5)  # 1.5 MB with no Content-Length
    assert status == 413 and "over the 1,000,000 this server accepts" in answer["error"]
    status, answer = _chunked_post(server.url, [b"\x89PNG", b"\r\n\x1a\n", b"not really"])
    assert status == 400 and "not an image" in answer["error"]


def test_a_huge_declared_upload_is_refused_before_its_body_is_read(server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                       b"Content-Length: 1000000000000\r\n\r\n")  # a terabyte announced, nothing sent
        response = http.client.HTTPResponse(client)
        response.begin()
        answer = json.loads(response.read())
    assert response.status == 413
    assert "the upload is 1,000,000,000,000 bytes or more, over the 1,000,000 this server accepts" in answer["error"]


def test_get_on_predict_is_not_allowed(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + "/predict", timeout=30)
    assert refused.value.code == 405


def test_concurrent_requests_are_all_served(server, sample):
    bodies = [_png(_paper_digit(sample, 4600 + i, side=60 + 10 * i)) for i in range(12)]
    sequential = [_post(server.url, body)[1] for body in bodies]
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        parallel = list(pool.map(lambda body: _post(server.url, body), bodies))
    assert [status for status, _ in parallel] == [200] * 12
    assert [answer for _, answer in parallel] == sequential


def test_uploads_are_never_written_to_disk(server, sample):
    written = []

    def audit(event, args):
        if event == "open" and recording.is_set():
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags & (os.O_WRONLY | os.O_RDWR)):
                written.append(path)

    recording = threading.Event()
    sys.addaudithook(audit)  # audit hooks cannot be removed: this one records only while the event is set
    recording.set()
    try:
        assert _post(server.url, _png(_paper_digit(sample, 7, side=600)))[0] == 200
        assert _post(server.url, b"\x89PNG" + bytes(900_000))[0] == 400
    finally:
        recording.clear()
    assert written == []


def test_cli_serve_starts_answers_and_stops_cleanly(tmp_path, sample_model, sample):
    model_path = tmp_path / "model.skdigits"
    skdigits.save(sample_model, model_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "skdigits.cli", "serve", "--model", str(model_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()
            try:
                urllib.request.urlopen(url + "/", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "skdigits serve did not answer within 120 s"
                time.sleep(0.2)
        status, answer = _post(url, _png(_paper_digit(sample, 4700)))
        assert status == 200 and answer["label"] == sample_model.predict(load_images([_paper_digit(sample, 4700)]))[0]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"at http://127.0.0.1:{port}/" in stdout and "skdigits serve: stopped" in stdout
    assert "Application shutdown complete" in stderr and "Traceback" not in stderr


def test_cli_serve_refuses_a_pickle_without_trust_pickle(tmp_path):
    pickle = tmp_path / "model.joblib"
    pickle.write_bytes(b"not even opened")
    result = subprocess.run([sys.executable, "-m", "skdigits.cli", "serve", "--model", str(pickle)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "model.joblib is a pickle (joblib) file, and unpickling runs code from the file; pass --trust-pickle" \
        in result.stderr


def test_cli_serve_loads_a_pickle_with_trust_pickle_and_warns_off_loopback(monkeypatch, capsys, tmp_path,
                                                                             sample_model, sample):
    import skdigits.serve
    from skdigits.cli import main

    served = {}
    monkeypatch.setattr(skdigits.serve, "run_server", lambda model, **options: served.update(model=model, **options))
    skdigits.save(sample_model, tmp_path / "model.joblib")
    assert main(["serve", "--model", str(tmp_path / "model.joblib"), "--trust-pickle", "--host", "0.0.0.0",
                 "--port", "8123", "--max-upload-mb", "2", "--max-pixels", "1000000"]) == 0
    output = capsys.readouterr()
    assert "warning: binding 0.0.0.0: other machines can reach this model" in output.err
    assert "at http://0.0.0.0:8123/" in output.out and "skdigits serve: stopped" in output.out
    assert (served["host"], served["port"], served["max_upload_bytes"], served["max_pixels"]) == (
        "0.0.0.0", 8123, 2 * 2**20, 1_000_000)
    np.testing.assert_array_equal(served["model"].predict(sample[0][:50]), sample_model.predict(sample[0][:50]))


def test_cli_serve_without_the_extra_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    from skdigits.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if skdigits[serve] were not installed
    assert main(["serve", "--model", str(tmp_path / "model.skdigits")]) == 2
    error = capsys.readouterr().err
    assert "skdigits serve needs Starlette and uvicorn" in error and "pip install 'skdigits[serve]'" in error


# --- the page in a real browser -------------------------------------------------------------------------------

def _chromium():
    """Paths of Debian's chromium and chromium-driver; skipped locally without them, a failure in CI."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        message = "Chromium or chromedriver is missing: apt-get install chromium chromium-driver (bash .ci/chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    if not IN_CI:
        pytest.importorskip("selenium")
    return binary, driver


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,720"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _settled_answer(browser, timeout=60):
    """The prediction and bars shown once the page has stopped asking (state "done", unchanged for 1 s)."""

    def shown():
        return browser.execute_script(
            "return [document.body.dataset.state, document.getElementById('prediction').textContent,"
            " [...document.querySelectorAll('#bars [data-label]')].map(r => [r.dataset.label, r.dataset.probability])]"
        )

    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        current = shown()
        if current != last:
            last, since = current, time.monotonic()
        elif current[0] == "done" and time.monotonic() - since > 1.0:
            return current[1], {int(label): float(p) for label, p in current[2]}
        assert current[0] != "error", browser.find_element("id", "error").text
        time.sleep(0.1)
    raise AssertionError(f"the page did not settle: {last}")


def _draw_seven(browser, canvas):
    """A 7 drawn with pointer events: a bar across the top, then a stroke down to the lower left."""
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(browser, duration=20)
    actions.move_to_element_with_offset(canvas, -70, -80).click_and_hold()
    for _ in range(14):
        actions.move_by_offset(10, 0)
    for _ in range(16):
        actions.move_by_offset(-5, 11)
    actions.release().perform()


def test_the_page_draws_predicts_and_shows_what_the_server_answers(browser, server, tmp_path, sample):
    browser.get(server.url + "/")
    canvas = browser.find_element("id", "canvas")
    _draw_seven(browser, canvas)
    shown_label, shown_bars = _settled_answer(browser)

    drawing = base64.b64decode(browser.execute_script(
        "return document.getElementById('canvas').toDataURL('image/png').split(',')[1]"))
    assert np.asarray(Image.open(io.BytesIO(drawing)))[..., 3].any(), "nothing was drawn on the canvas"
    status, answer = _post(server.url, drawing)
    assert status == 200, answer
    assert shown_label == str(answer["label"]) == "7"  # the sample model reads the drawn 7
    assert shown_bars == dict(zip(answer["classes"], answer["probabilities"]))
    preview = browser.execute_script(
        "return Array.from(document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data)")
    assert np.array(preview[::4]).tolist() == answer["pixels"]  # "what the model sees" is the server's input

    screenshots = Path(os.environ.get("SKDIGITS_SCREENSHOT_DIR", tmp_path))
    screenshots.mkdir(parents=True, exist_ok=True)
    shot = screenshots / "serve-page.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert Image.open(shot).size[0] >= 800

    upload = tmp_path / "paper-digit.png"
    Image.fromarray(_paper_digit(sample, 4800)).save(upload)
    browser.find_element("id", "upload").send_keys(str(upload))
    time.sleep(0.2)
    shown_label, shown_bars = _settled_answer(browser)
    _, answer = _post(server.url, upload.read_bytes())
    assert shown_label == str(answer["label"]) and shown_bars == dict(zip(answer["classes"], answer["probabilities"]))

    browser.find_element("id", "clear").click()
    assert browser.find_element("id", "prediction").text == ""
