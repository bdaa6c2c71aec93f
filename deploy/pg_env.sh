# Sourced by backup.sh and restore.sh: DATABASE_URL → the libpq environment (PGHOST, PGPORT,
# PGUSER, PGPASSWORD, PGDATABASE) and WAVEPACK_PG_SCHEMA, read the way wavepack reads it
# (server/store/db.py: host 127.0.0.1, port 5432 and database `postgres` when absent,
# ?schema=NAME optional). The password goes through the environment, never on a command
# line where `ps` would show it.
wavepack_pg_env() {
    local url="${1:-}"
    case "$url" in
        postgres://*|postgresql://*) ;;
        "") echo "error: DATABASE_URL is not set (postgresql://user:password@host:port/db)" >&2
            return 1 ;;
        *) echo "error: DATABASE_URL is not a PostgreSQL URL (SQLite: use \`wavepack backup FILE\`)" >&2
           return 1 ;;
    esac
    local assignments
    assignments=$(python3 - "$url" <<'PY'
import re, shlex, sys
from urllib.parse import parse_qs, unquote, urlparse
url = urlparse(sys.argv[1])
schema = (parse_qs(url.query).get("schema") or [""])[0]
if schema and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
    sys.exit(f"error: bad schema name {schema!r} in DATABASE_URL")
values = {"PGHOST": url.hostname or "127.0.0.1", "PGPORT": str(url.port or 5432),
          "PGDATABASE": unquote(url.path.lstrip("/")) or "postgres",
          "PGUSER": unquote(url.username) if url.username else "",
          "PGPASSWORD": unquote(url.password) if url.password else "",
          "WAVEPACK_PG_SCHEMA": schema}
for name, value in values.items():
    if value or name == "WAVEPACK_PG_SCHEMA":
        print(f"export {name}={shlex.quote(value)}")
PY
) || return 1
    eval "$assignments"
}
