"""Headless Chromium for tests: proof that a page renders in a real browser.

Why this exists: the chaos report is read in browsers, and grepping the HTML
cannot tell whether a browser parses and draws the inline SVG. CI installs
Debian's ``chromium`` package, so tests using this helper do not skip: a
missing browser is an error that says what to install.

Each call gets a fresh, throw-away profile (``--user-data-dir``) so runs never
share state or lock each other's profile, and it runs in its own process group
so that Chromium's helper processes (zygote, renderer, GPU) go away with it —
also when it hangs and the timeout fires.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

# Debian calls the binary "chromium"; Ubuntu's and older packages "chromium-browser".
EXECUTABLES = ("chromium", "chromium-browser")


class ChromiumMissing(RuntimeError):
    """No Chromium on PATH: the browser tests cannot run."""


def executable() -> str:
    """The path of the Chromium binary, or a clear error saying how to get one."""
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumMissing(
        f"none of {', '.join(EXECUTABLES)} is on PATH; the report tests need a real browser: "
        "install Debian's chromium package (apt-get install chromium)"
    )


def chromium(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with ``args`` (e.g. ``--dump-dom URL``) and return its output.

    stdout and stderr are captured as text; Chromium writes a lot of harmless
    noise to stderr (D-Bus, GPU), which callers should only show on failure.
    Raises ``subprocess.TimeoutExpired`` (with the output so far) after ``timeout_s``.
    """
    with tempfile.TemporaryDirectory(prefix="kubesim-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            executable(),
            "--headless",
            "--no-sandbox",  # containers and CI runners often run as root, where the sandbox refuses
            "--disable-gpu",
            "--disable-dev-shm-usage",  # /dev/shm is tiny in Docker
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",  # screenshots show the page, not a scrollbar
            "--mute-audio",
            *args,
        ]
        # Keep Chromium's caches and config inside the throw-away profile, not $HOME.
        env = dict(os.environ, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,  # its own process group, so the helpers can be ended together
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _end_group(process.pid)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(command, timeout_s, output=stdout, stderr=stderr) from None
        finally:
            # Helpers may outlive the browser process (crashpad); the group is ours alone.
            _end_group(process.pid)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _end_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
