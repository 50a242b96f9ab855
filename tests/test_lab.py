"""JupyterLab opens a paired notebook: `make lab`'s server, started headless."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.notebook
def test_lab_serves_a_paired_notebook_from_its_source():
    port, token = free_port(), "lipnb-test-token"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, "jupyter lab exited"
            assert time.monotonic() < deadline, "jupyter lab did not answer within 60 s"
            time.sleep(0.5)
        status, _ = get(f"{base}/lab", token)
        assert status == 200  # JupyterLab itself, not just the server
        # jupytext's contents manager opens the percent-format source as a notebook
        status, body = get(f"{base}/api/contents/01_lipschitz_constraint.py?content=1", token)
        model = json.loads(body)
        assert status == 200 and model["type"] == "notebook"
        cells = model["content"]["cells"]
        assert any(c["cell_type"] == "markdown" for c in cells) and any(c["cell_type"] == "code" for c in cells)
        assert model["content"]["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
        kernels = json.loads(get(f"{base}/api/kernelspecs", token)[1])["kernelspecs"]
        assert "lipnb" in kernels
    finally:
        server.terminate()
        server.wait(timeout=30)
