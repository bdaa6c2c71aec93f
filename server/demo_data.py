"""The demo warehouse `make run` creates on first start (data, not code paths)."""

PRODUCTS = [  # sku, gtin-13, name, weight g, (l, w, h) mm, location
    ("WP-TEE-BLK-M", "9506000210018", "Organic Cotton Tee - Black / M", 180, (300, 250, 20), "A-01-02-3"),
    ("WP-TEE-BLK-L", "9506000210025", "Organic Cotton Tee - Black / L", 195, (300, 250, 20), "A-01-02-4"),
    ("WP-TEE-WHT-M", "9506000210032", "Organic Cotton Tee - White / M", 180, (300, 250, 20), "A-01-03-1"),
    ("WP-HOOD-GRY-M", "9506000210117", "Heavyweight Hoodie - Grey / M", 690, (350, 300, 60), "A-02-01-2"),
    ("WP-HOOD-GRY-L", "9506000210124", "Heavyweight Hoodie - Grey / L", 720, (350, 300, 60), "A-02-01-1"),
    ("WP-SOCK-3PK-M", "9506000210216", "Merino Socks 3-Pack - M", 150, (200, 100, 40), "A-03-02-1"),
    ("WP-TOTE-NAT", "9506000210315", "Canvas Tote - Natural", 210, (380, 420, 10), "A-04-03-2"),
    ("WP-CAP-NVY", "9506000210414", "Washed Cotton Cap - Navy", 95, (280, 190, 120), "A-05-01-3"),
    ("WP-MUG-350-SAGE", "9506000220017", "Stoneware Mug 350 ml - Sage", 410, (120, 90, 100), "B-03-04-2"),
    ("WP-MUG-350-CHAR", "9506000220024", "Stoneware Mug 350 ml - Charcoal", 410, (120, 90, 100), "B-03-04-3"),
    ("WP-BOTL-750-STL", "9506000220116", "Insulated Bottle 750 ml - Steel", 395, (80, 80, 270), "B-05-01-1"),
    ("WP-CAND-200-FIG", "9506000230016", "Soy Candle 200 g - Fig", 380, (90, 90, 100), "C-01-01-2"),
    ("WP-NOTE-A5-DOT", "9506000230115", "A5 Dot Grid Notebook", 260, (210, 148, 15), "C-02-03-1"),
]

# Customs data (HS code, country of origin) per SKU, so parcels leaving the UK or the EU
# can be declared.
CUSTOMS = {
    "WP-TEE-BLK-M": ("610910", "PT"), "WP-TEE-BLK-L": ("610910", "PT"),
    "WP-TEE-WHT-M": ("610910", "PT"), "WP-HOOD-GRY-M": ("611020", "PT"),
    "WP-HOOD-GRY-L": ("611020", "PT"), "WP-SOCK-3PK-M": ("611595", "PT"),
    "WP-TOTE-NAT": ("420222", "IN"), "WP-CAP-NVY": ("650500", "CN"),
    "WP-MUG-350-SAGE": ("691200", "GB"), "WP-MUG-350-CHAR": ("691200", "GB"),
    "WP-BOTL-750-STL": ("961700", "CN"), "WP-CAND-200-FIG": ("340600", "GB"),
    "WP-NOTE-A5-DOT": ("482020", "GB"),
}

WAREHOUSES = [  # code, name, zone, stock per SKU
    ("main", "Leeds fulfilment centre", "uk", 120),
    ("rtm", "Rotterdam fulfilment centre", "eu", 60),
]

# Every product's bin above is its pick face: minimum a tenth of the stock, maximum (the
# face's capacity) the stock itself. These SKUs also have reserve stock (no min, no max) in
# aisle R, where a replenishment task takes it from (handheld page: Replenish).
RESERVE = [  # location, sku, quantity (in each warehouse)
    ("R-01-01-1", "WP-TEE-WHT-M", 200),
    ("R-01-01-2", "WP-HOOD-GRY-M", 80),
    ("R-01-02-1", "WP-HOOD-GRY-L", 80),
    ("R-02-01-1", "WP-TOTE-NAT", 150),
]

USERS = [  # badge, role, pin, name
    ("1001", "picker", "1111", "Pat Picker"),
    ("2001", "packer", "2222", "Pam Packer"),
    ("3001", "supervisor", "3333", "Sam Supervisor"),
    ("9001", "admin", "9999", "Ada Admin"),
]

CHANNELS = [  # name, kind, secret
    ("demo-shopify", "shopify", "wavepack-test-secret"),
    ("demo-woo", "woocommerce", "wavepack-test-secret"),
    ("demo-api", "native", ""),
]

# Ready orders for the Rotterdam warehouse (EU addresses), so that a supervisor can plan a
# wave (`POST /api/v1/waves {"warehouse": "rtm"}`) and a picker try the handheld page.
DEMO_ORDERS = [  # ref, name, city, postcode, country, [(sku, qty)], carrier
    ("DEMO-1001", "Sanne de Vries", "Amsterdam", "1012 JS", "NL",
     [("WP-TEE-BLK-M", 2), ("WP-SOCK-3PK-M", 1)], "PostNL"),
    ("DEMO-1002", "Jonas Müller", "Berlin", "10115", "DE", [("WP-MUG-350-SAGE", 1)],
     "DHL Express"),
    ("DEMO-1003", "Lotte Janssen", "Utrecht", "3511 LX", "NL",
     [("WP-HOOD-GRY-M", 1), ("WP-CAP-NVY", 1), ("WP-NOTE-A5-DOT", 2)], "PostNL"),
    ("DEMO-1004", "Émile Laurent", "Lyon", "69002", "FR", [("WP-BOTL-750-STL", 1)], "DPD"),
    ("DEMO-1005", "Mia Schmidt", "Hamburg", "20095", "DE",
     [("WP-CAND-200-FIG", 1), ("WP-TOTE-NAT", 1)], "DHL Express"),
    ("DEMO-1006", "Daan Bakker", "Rotterdam", "3011 AD", "NL",
     [("WP-TEE-WHT-M", 1), ("WP-MUG-350-CHAR", 2)], "PostNL"),
]

# An order whose shipping method no table maps: held (carrier_unmapped) for a supervisor to
# assign a service: POST /api/v1/orders/{id}/carrier {"carrier": "postnl", "service": "3085"}.
HELD_ORDERS = [
    ("DEMO-1007", "Femke Visser", "Delft", "2611 AB", "NL", [("WP-CAND-200-FIG", 1)],
     "Sendcloud Flex"),
]
