#!/usr/bin/env bash
# Make sure the local PostgreSQL answers on 127.0.0.1:5432 (the PostgreSQL
# store's tests create and drop throw-away databases there).  Starts the
# Debian cluster if it is installed but stopped; says what to do otherwise.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "starting PostgreSQL $version (pg_ctlcluster)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do ready && exit 0; sleep 0.2; done
fi
echo "PostgreSQL is not answering on 127.0.0.1:5432: install and start it (Debian: apt-get install postgresql)," >&2
echo "with trust (or PAILS_TEST_PG=postgresql://USER:PASSWORD@HOST:PORT/postgres) for the tests." >&2
exit 1
