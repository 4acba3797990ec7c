# Shared by the scripts: find Python >= 3.11, create .venv, install the project when pyproject changes.
# Usage: source scripts/_venv.sh <extras>   (extras: "" for runtime only, "dev" for the test tools)

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3)." >&2
    return 1
}

ensure_venv() {
    local extras="$1" spec="." stamp
    [ -n "$extras" ] && spec=".[$extras]"
    if [ ! -x .venv/bin/python ]; then
        "$(find_python)" -m venv .venv
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    fi
    # Reinstall only when the dependency list changed (the stamp holds its hash).
    stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-runtime}"
    if [ ! -f "$stamp" ]; then
        if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" \
            >.venv/pip-install.log 2>&1; then
            cat .venv/pip-install.log >&2
            echo "Installing the dependencies failed (log above, also in .venv/pip-install.log)." >&2
            return 1
        fi
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
