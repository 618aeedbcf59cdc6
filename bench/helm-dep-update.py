#!/usr/bin/env python3
"""The peer for bench/clusters: Helm's own `helm dependency update` (Helm
v4's engine through PyPI helm-python-sdk) of 2i2c's basehub, daskhub and
support charts, from the same loopback chart repositories r2r is timed
against: each Chart.yaml's https repositories pointed at HTTP_BASE/<host>/<path>
and oci:// ones at oci://REGISTRY/<host>/<path>.

Usage: helm-dep-update.py INFRA_REPO WORK HTTP_BASE REGISTRY
Prints the seconds it took.
"""
import re, shutil, sys, time
from pathlib import Path

import helm_python as helm

infra, work, http_base, registry = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
charts = work / "helm-charts"
shutil.rmtree(charts, ignore_errors=True)
for name in ["basehub", "daskhub", "support"]:
    shutil.copytree(infra / "helm-charts" / name, charts / name, symlinks=True)
    chart_yaml = charts / name / "Chart.yaml"
    text = chart_yaml.read_text()
    text = re.sub(r"repository: https://([^\s]+?)/?$", lambda m: f"repository: {http_base}/{m.group(1)}", text, flags=re.M)
    text = re.sub(r"repository: oci://([^\s]+?)/?$", lambda m: f"repository: oci://{registry}/{m.group(1)}", text, flags=re.M)
    chart_yaml.write_text(text)
start = time.monotonic()
for name in ["basehub", "daskhub", "support"]:
    helm.dependency_update(charts / name, plain_http=True)
print(f"{time.monotonic() - start:.3f}")
