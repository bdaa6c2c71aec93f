#!/usr/bin/env bash
# Back up wavepack's PostgreSQL database: one pg_dump custom-format file (-Fc: compressed,
# restored table by table with pg_restore) named by its UTC time, checked readable before
# it is kept, and backups older than the retention removed.
#
#   DATABASE_URL=postgresql://… deploy/backup.sh [-d DIR] [-k DAYS]
#
#   -d DIR   where the dumps go (default $WAVEPACK_BACKUP_DIR, else /var/backups/wavepack)
#   -k DAYS  remove wavepack-*.dump files in DIR older than DAYS days (default
#            $WAVEPACK_BACKUP_KEEP_DAYS, else 14; 0 keeps everything)
#
# With ?schema=NAME in DATABASE_URL only that schema is dumped. Prints the new file's path.
# A dump is a snapshot of one moment; docs/deploy.md "Backups" adds WAL archiving for
# point-in-time recovery. Restore with deploy/restore.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/pg_env.sh
. "$here/pg_env.sh"

dir=${WAVEPACK_BACKUP_DIR:-/var/backups/wavepack}
keep=${WAVEPACK_BACKUP_KEEP_DAYS:-14}
while getopts "d:k:h" opt; do
    case $opt in
        d) dir=$OPTARG ;;
        k) keep=$OPTARG ;;
        h) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-d DIR] [-k DAYS]" >&2; exit 1 ;;
    esac
done
case $keep in
    ''|*[!0-9]*) echo "error: -k wants a whole number of days, not '$keep'" >&2; exit 1 ;;
esac
wavepack_pg_env "${DATABASE_URL:-}" || exit 1
command -v pg_dump >/dev/null || { echo "error: pg_dump not found (Debian: apt-get install postgresql-client)" >&2; exit 1; }

mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file="$dir/wavepack-$stamp.dump"
[ -e "$file" ] && { echo "error: $file already exists" >&2; exit 1; }
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

args=(--format=custom --file="$partial")
[ -n "$WAVEPACK_PG_SCHEMA" ] && args+=(--schema="$WAVEPACK_PG_SCHEMA")
pg_dump "${args[@]}"
# a dump pg_restore cannot list is no backup
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
trap - EXIT

if [ "$keep" -gt 0 ]; then
    find "$dir" -maxdepth 1 -type f -name 'wavepack-*.dump' -mtime +"$keep" -print -delete \
        | sed 's/^/removed old backup /' >&2
fi
echo "$file"
