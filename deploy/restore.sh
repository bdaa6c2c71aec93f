#!/usr/bin/env bash
# Restore a dump made by deploy/backup.sh into an EMPTY PostgreSQL database, then let
# `wavepack init-db` check it: it reports the schema version and applies the migrations of
# this release the dump predates.
#
#   createdb -O wavepack wavepack_restored            # as the postgres user
#   DATABASE_URL=postgresql://wavepack:…@host/wavepack_restored deploy/restore.sh FILE.dump
#
# DATABASE_URL names the target. A dump of one schema (?schema=NAME at backup) comes back
# under the same schema name: give the target URL that ?schema=NAME. A dump without that
# schema, or a target that already holds tables there, is refused and nothing is changed. The restore is one transaction: it
# lands whole or not at all. Objects are owned by the user of DATABASE_URL.
# WAVEPACK (default: the wavepack of this release, else the one on PATH) runs init-db.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/pg_env.sh
. "$here/pg_env.sh"

if [ $# -ne 1 ] || [ "$1" = -h ]; then
    echo "usage: DATABASE_URL=postgresql://… $0 FILE.dump" >&2
    exit 1
fi
dump=$1
[ -f "$dump" ] || { echo "error: no dump file at $dump" >&2; exit 1; }
wavepack_pg_env "${DATABASE_URL:-}" || exit 1
for tool in pg_restore psql; do
    command -v $tool >/dev/null || { echo "error: $tool not found (Debian: apt-get install postgresql-client)" >&2; exit 1; }
done
pg_restore --list "$dump" >/dev/null 2>&1 || { echo "error: $dump is not a pg_dump custom-format file" >&2; exit 1; }
wavepack=${WAVEPACK:-}
if [ -z "$wavepack" ]; then
    if [ -x "$here/../.venv/bin/wavepack" ]; then wavepack="$here/../.venv/bin/wavepack"
    else wavepack=wavepack; fi
fi

schema=${WAVEPACK_PG_SCHEMA:-public}
# the schemas of the dump that hold a wavepack database (its migration history table)
held=$(pg_restore --list "$dump" | awk '$4 == "TABLE" && $6 == "schema_migration" {print $5}' | sort -u | paste -sd, -)
case ",$held," in
    *",$schema,"*) ;;
    *) echo "error: $dump holds no wavepack schema named $schema (it holds: ${held:-none}); give DATABASE_URL ?schema=NAME" >&2
       exit 1 ;;
esac
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -v schema="$schema" "$@"; }
tables=$(sql <<<"SELECT count(*) FROM pg_tables WHERE schemaname = :'schema'")
if [ "$tables" != 0 ]; then
    echo "error: database $PGDATABASE already holds $tables tables in schema $schema: restore into an empty database" >&2
    exit 1
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname="$PGDATABASE" "$dump"

found=$(sql <<<"SELECT to_regclass(format('%I.schema_migration', :'schema')) IS NOT NULL")
[ "$found" = t ] || { echo "error: schema $schema has no schema_migration table after the restore" >&2; exit 1; }
"$wavepack" init-db
