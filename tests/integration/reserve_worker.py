"""A separate process that reserves stock (used by test_concurrency's multi-process test):
python -m tests.integration.reserve_worker DATABASE_URL PREFIX COUNT"""
import sys


def main(url: str, prefix: str, count: int) -> int:
    from server import create_app
    from server.services import channels, intake
    from server.settings import current
    from server.store.db import db
    from tests.factories import draft
    app = create_app({"database": {"url": url}})
    quantities = (2, 3, 4, 6)
    with app.app_context(), db.connection_context():
        ch = channels.ref(channels.get_channel("api"))
        for i in range(count):
            [res] = intake.import_orders(
                ch, [draft(f"{prefix}-{i}", [("WP-TEE-BLK-M", quantities[i % 4])])], "test",
                settings=current())
            assert res.outcome == "created" and res.status in ("ready", "backordered"), res
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
