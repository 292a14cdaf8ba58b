# Source this file. PostgreSQL for the test suite (RECIPES.md):
# a fresh database on the server at 127.0.0.1:5432 when one answers, otherwise a throwaway
# cluster started here and stopped afterwards.
PGTEST_PORT=${PGTEST_PORT:-55432}
_pgbin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1; }
pg_test_up() {
  local bin port; bin=$(_pgbin)
  PGTEST_DIR=$(mktemp -d -t pgtest.XXXXXX) && chown postgres: "$PGTEST_DIR" || return 1
  runuser -u postgres -- "$bin/initdb" -D "$PGTEST_DIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$PGTEST_DIR/initdb.log" 2>&1 || { cat "$PGTEST_DIR/initdb.log"; pg_test_down; return 1; }
  for port in $(seq "$PGTEST_PORT" $((PGTEST_PORT + 9))) ""; do
    [ -n "$port" ] || { cat "$PGTEST_DIR/server.log"; pg_test_down; return 1; }
    runuser -u postgres -- "$bin/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -w -t 30 -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $PGTEST_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1 && break
  done
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres lms_test || { pg_test_down; return 1; }
  export PGTEST_DIR DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/lms_test"
  echo "PostgreSQL: own cluster on port $port"
}
pg_test_down() {
  [ -n "${PGTEST_DIR:-}" ] || return 0
  runuser -u postgres -- "$(_pgbin)/pg_ctl" -D "$PGTEST_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PGTEST_DIR"; unset PGTEST_DIR DATABASE_URL
}
pg_test_db() {
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    PGTEST_DB="lms_test_$(date +%s)_$$"
    createdb -h 127.0.0.1 -p 5432 -U postgres "$PGTEST_DB" || return 1
    export PGTEST_DB DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$PGTEST_DB"
    echo "PostgreSQL: database $PGTEST_DB on 127.0.0.1:5432"
  else pg_test_up; fi
}
pg_test_db_drop() {
  [ -n "${PGTEST_DB:-}" ] || { pg_test_down; return; }
  dropdb -h 127.0.0.1 -p 5432 -U postgres --if-exists --force "$PGTEST_DB"; unset PGTEST_DB DATABASE_URL
}
