"""Write a ``.env`` for docker-compose.airflow.yml with fresh secrets; never overwrite an existing one.

python -m scripts.compose_env [PATH]   # default: .env at the repository's root
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent


def fresh_secrets() -> dict[str, str]:
    """Every secret .env.example names, newly generated."""
    return {
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
    }


def write_env(path: Path) -> bool:
    """Write ``path`` (readable by its owner only) unless it exists; return whether it was written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as env:
        env.writelines(f"{name}={value}\n" for name, value in fresh_secrets().items())
    return True


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else REPO / ".env"
    if write_env(path):
        print(f"wrote {path}; the UI's login is airflow with AIRFLOW_ADMIN_PASSWORD from it")
    else:
        print(f"{path} exists: left as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
