"""Loads a page in headless chromium through selenium and prints its title
once the page's script has set it (tests/tls_browser.rs runs this).

The server's certificate is trusted the way browser tests do it without
turning checks off: chromium pins the leaf's key with
--ignore-certificate-errors-spki-list (base64 of the SHA-256 of its
SubjectPublicKeyInfo, computed here from the DER file given). Host names
resolve to 127.0.0.1 by --host-resolver-rules. Flags for a container run
as root: --no-sandbox, --headless=new, --disable-gpu, --disable-dev-shm-usage.

Prints `TITLE <title>` and exits 0 when the title starts with one of the
--until prefixes within --timeout seconds; exits 1 otherwise. With
--signal-on PREFIX --signal-pid PID, the first title starting with PREFIX
sends PID a SIGQUIT (tests/websocket_pragmas.rs: a graceful shutdown while
the page holds a WebSocket).
"""

import argparse
import base64
import hashlib
import os
import signal
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--spki-der", help="the leaf's SubjectPublicKeyInfo, DER (for https)")
    ap.add_argument("--host", action="append", default=[], help="a name to map to 127.0.0.1")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--driver", default="/usr/bin/chromedriver")
    ap.add_argument("--until", action="append", default=[], help="a title prefix that ends the wait")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--signal-on", help="a title prefix that sends --signal-pid a SIGQUIT")
    ap.add_argument("--signal-pid", type=int)
    args = ap.parse_args()

    spki = None
    if args.spki_der:
        with open(args.spki_der, "rb") as f:
            spki = base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
    rules = ",".join(f"MAP {h} 127.0.0.1" for h in args.host)

    with tempfile.TemporaryDirectory(prefix="upgate-chromium-") as profile:
        options = Options()
        options.binary_location = args.chromium
        for flag in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--lang=en-US",
            f"--user-data-dir={profile}",
            f"--host-resolver-rules={rules}",
        ] + ([f"--ignore-certificate-errors-spki-list={spki}"] if spki else []):
            options.add_argument(flag)
        service = Service(executable_path=args.driver)
        driver = webdriver.Chrome(service=service, options=options)
        try:
            driver.set_page_load_timeout(args.timeout)
            driver.get(args.url)
            deadline = time.monotonic() + args.timeout
            title = driver.title
            signalled = False
            while time.monotonic() < deadline:
                title = driver.title
                if args.signal_on and not signalled and title.startswith(args.signal_on):
                    os.kill(args.signal_pid, signal.SIGQUIT)
                    signalled = True
                if any(title.startswith(u) for u in args.until):
                    break
                time.sleep(0.1)
            print(f"TITLE {title}", flush=True)
            done = any(title.startswith(u) for u in args.until)
            if not done:
                for entry in driver.get_log("browser"):
                    print(f"console: {entry}", file=sys.stderr)
            return 0 if done else 1
        finally:
            driver.quit()


if __name__ == "__main__":
    sys.exit(main())
