"""The words tables of the pages' i18n.js files, read with Node (they are browser scripts
that set window.WP_*_STRINGS): what the page-words tests compare."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..conftest import need


def window_after(*files: Path) -> dict:
    """`window` after running these scripts in order, as JSON."""
    node = shutil.which("node")
    need(node is not None, "node (apt-get install nodejs)")
    script = ("const fs = require('fs'); global.window = {};"
              "for (const f of JSON.parse(process.argv[1])) eval(fs.readFileSync(f, 'utf8'));"
              "process.stdout.write(JSON.stringify(window));")
    out = subprocess.run([node, "-e", script, json.dumps([str(f) for f in files])],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)
