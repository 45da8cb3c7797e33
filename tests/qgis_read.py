"""Read one OAPIF collection with QGIS's own provider and print its feature count.

Run by tests/test_api_clients.py with Debian's python3 (python3-qgis), not the venv:
    /usr/bin/python3 tests/qgis_read.py URL COLLECTION
"""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsVectorLayer  # noqa: E402

app = QgsApplication([], False)
app.initQgis()
url, name = sys.argv[1], sys.argv[2]
layer = QgsVectorLayer(f"url='{url}' typename='{name}'", name, "OAPIF")
if not layer.isValid():
    print("invalid layer:", layer.error().summary())
    sys.exit(2)
print(sum(1 for _ in layer.getFeatures()), layer.crs().authid(), flush=True)
# QGIS 3.22 can crash while tearing its providers down (exitQgis with live layers): the
# answer is printed, so leave without the teardown.
os._exit(0)
