#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server, exporting RESV_TEST_PG_URL.
#
# Uses the machine's PostgreSQL binaries (Debian: /usr/lib/postgresql/*/bin).
# As root the server runs as the `postgres` user.  Without the binaries the
# command runs without PostgreSQL, unless CI=true, where that is a failure.
set -euo pipefail

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return; fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
}

BINDIR="$(find_bindir || true)"
if [ -z "${BINDIR}" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "with-postgres: no PostgreSQL binaries found, and CI=true requires them" >&2
    exit 1
  fi
  echo "with-postgres: no PostgreSQL binaries; running on SQLite only" >&2
  exec "$@"
fi

PGBASE="$(mktemp -d /tmp/resv-pg.XXXXXX)"
chmod 755 "$PGBASE"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
RUN=()
if [ "$(id -u)" = "0" ]; then
  chown postgres:postgres "$PGBASE"
  RUN=(runuser -u postgres --)
fi
PGUSER_NAME="$( [ "$(id -u)" = "0" ] && echo postgres || id -un )"

cleanup() {
  "${RUN[@]}" "$BINDIR/pg_ctl" -D "$PGBASE/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGBASE"
}
trap cleanup EXIT

"${RUN[@]}" "$BINDIR/initdb" -D "$PGBASE/data" -U "$PGUSER_NAME" -A trust -E UTF8 \
  --locale=C.UTF-8 >"$PGBASE/initdb.log" 2>&1 || { cat "$PGBASE/initdb.log" >&2; exit 1; }
"${RUN[@]}" "$BINDIR/pg_ctl" -D "$PGBASE/data" -l "$PGBASE/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGBASE -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$PGBASE/server.log" >&2; exit 1; }

export RESV_TEST_PG_URL="postgresql+psycopg://${PGUSER_NAME}@127.0.0.1:${PORT}/postgres"
echo "with-postgres: PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:${PORT}" >&2
set +e
"$@"
status=$?
set -e
exit $status
