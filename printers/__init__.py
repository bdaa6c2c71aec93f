"""Label building (ZPL), printer drivers and status. Never imports server."""
