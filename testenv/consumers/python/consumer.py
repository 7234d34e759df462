"""A workload that uses the operator's credentials the way Python applications do.

Every INTERVAL_MS it calls STS GetCallerIdentity with credentials from botocore's default chain (environment
variables, or the shared credentials file named by AWS_SHARED_CREDENTIALS_FILE). MODE says how long it keeps them:
  client    one botocore client for the life of the process (what applications and boto3 clients do)
  per-call  a new botocore session and client for every call (credentials resolved anew each time)
  cli       `aws sts get-caller-identity` (AWS CLI v1) run as a new process for every call
One JSON line per call:
  {"time","sdk","mode","result":"ok"|"expired"|"error","key","fileKey","arn"|"error"}
plus {"time","event":"credentials-changed","key"} when the access key it signs with changes. "key" is the access key
it signed with, "fileKey" the one the mounted file holds now, both as fingerprints (the first 8 hex digits of the
SHA-256 of the access key id: the first 12 characters of AWS's and moto's ids are the same for every key of an
account). Secrets are never printed.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import botocore
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

INTERVAL = int(os.environ.get("INTERVAL_MS", "1000")) / 1000
MODE = os.environ.get("MODE", "client")
FILE = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
SDK = f"botocore {botocore.__version__}"
stopping = False


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit(**fields) -> None:
    sys.stdout.write(json.dumps({"time": now(), **fields}) + "\n")
    sys.stdout.flush()


def fingerprint(key):
    return hashlib.sha256(key.encode()).hexdigest()[:8] if key else None


def file_key():
    """The access key id the mounted credentials file holds now (what the kubelet last wrote into it)."""
    if not FILE:
        return None
    try:
        with open(FILE, encoding="utf-8") as f:
            found = re.search(r"aws_access_key_id\s*=\s*(\S+)", f.read())
        return found.group(1) if found else None
    except OSError:
        return None


def new_client():
    return botocore.session.get_session().create_client("sts")


def signing_key(client):
    # The credentials the client signs with (botocore keeps them on its request signer).
    credentials = client._request_signer._credentials  # pylint: disable=protected-access
    return credentials.get_frozen_credentials().access_key if credentials else None


def call_sdk(client):
    key = None
    try:
        # Resolving the credentials may itself fail (an endpoint that cannot be reached): that is a failed call too.
        key = signing_key(client)
        arn = client.get_caller_identity()["Arn"]
        return key, "ok", {"arn": arn}
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        return key, "expired" if code == "ExpiredToken" else "error", {"error": f"{code}: {err}"}
    except BotoCoreError as err:
        return key, "error", {"error": f"{type(err).__name__}: {err}"}


def call_cli():
    key = file_key() if FILE else os.environ.get("AWS_ACCESS_KEY_ID")
    out = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--output", "json"], capture_output=True, text=True, check=False
    )
    if out.returncode == 0:
        return key, "ok", {"arn": json.loads(out.stdout)["Arn"]}
    message = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
    return key, "expired" if "ExpiredToken" in message else "error", {"error": message}


def main() -> None:
    def stop(*_):
        global stopping  # pylint: disable=global-statement
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    client = new_client() if MODE == "client" else None
    sdk = SDK
    if MODE == "cli":  # "aws-cli/1.46.2 Python/… botocore/…"
        version = subprocess.run(["aws", "--version"], capture_output=True, text=True, check=False)
        sdk = (version.stdout or version.stderr).split()[0].replace("/", " ")
    last = None
    while not stopping:
        if MODE == "cli":
            key, result, extra = call_cli()
        else:
            key, result, extra = call_sdk(client or new_client())
        if key != last:
            emit(event="credentials-changed", key=fingerprint(key))
            last = key
        emit(sdk=sdk, mode=MODE, result=result, key=fingerprint(key), fileKey=fingerprint(file_key()), **extra)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
