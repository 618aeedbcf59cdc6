#!/usr/bin/env python3
"""Writes small stand-in chart repositories for the example community, so
`r2r export --chart-repos-dir examples/community/chart-repos` resolves the
example charts' remote dependencies, and the cert-manager chart r2r
carries with a support chart, offline.

Usage: make-chart-repos.py DIR

The example's basehub depends on jupyterhub 4.3.3 and dask-gateway
2024.1.0, its support chart on ingress-nginx 4.11.3. The archives written
here have those names and versions but are NOT those charts: each holds a
Chart.yaml saying it is a stand-in, a few default values and one ConfigMap
template. They name no container image, so the example's image layout
(make-images.py) stays the only image it carries. DIR gets one folder per
repository URL, `https/<host>/<path>/`, with the archive and an index.yaml
listing it with its sha256, as `helm repo index` writes it. Same input,
same bytes.
"""
import gzip, hashlib, io, os, sys, tarfile

out = sys.argv[1]
MTIME = 1704067200  # 2024-01-01T00:00:00Z

CHARTS = [
    ("jupyterhub.github.io/helm-chart", "jupyterhub", "4.3.3", "5.3.0",
     "hub:\n  config: {}\nproxy:\n  service:\n    type: ClusterIP\nsingleuser:\n  storage:\n    type: none\ncustom: {}\n"),
    ("helm.dask.org", "dask-gateway", "2024.1.0", "2024.1.0",
     "gateway:\n  backend: {}\ncontroller:\n  enabled: true\n"),
    ("kubernetes.github.io/ingress-nginx", "ingress-nginx", "4.11.3", "1.11.3",
     "controller:\n  ingressClass: nginx\n  service:\n    type: LoadBalancer\n"),
    # r2r carries cert-manager with every support chart (the cluster layer).
    ("charts.jetstack.io", "cert-manager", "v1.20.3", "v1.20.3",
     "crds:\n  enabled: false\n"),
]

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-%s-standin
data:
  note: "r2r example stand-in for %s %s; install the real chart for a working hub"
"""


def archive(name, version, app_version, values):
    files = {
        "Chart.yaml": (
            f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{app_version}\"\n"
            f"description: Stand-in for r2r's example community, not the real {name} chart.\n"
        ),
        "values.yaml": values,
        "templates/standin.yaml": TEMPLATE % (name, name, version),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size, info.mtime, info.mode = len(data), MTIME, 0o644
            info.uname = info.gname = ""
            t.addfile(info, io.BytesIO(data))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=MTIME) as g:
        g.write(raw.getvalue())
    return buf.getvalue()


for repo, name, version, app_version, values in CHARTS:
    folder = os.path.join(out, "https", repo)
    os.makedirs(folder, exist_ok=True)
    data = archive(name, version, app_version, values)
    file = f"{name}-{version}.tgz"
    with open(os.path.join(folder, file), "wb") as f:
        f.write(data)
    digest = hashlib.sha256(data).hexdigest()
    index = (
        "apiVersion: v1\nentries:\n"
        f"  {name}:\n"
        f"  - apiVersion: v2\n    appVersion: \"{app_version}\"\n"
        "    created: \"2024-01-01T00:00:00Z\"\n"
        f"    description: Stand-in for r2r's example community, not the real {name} chart.\n"
        f"    digest: {digest}\n"
        f"    name: {name}\n    urls:\n    - {file}\n    version: {version}\n"
        "generated: \"2024-01-01T00:00:00Z\"\n"
    )
    with open(os.path.join(folder, "index.yaml"), "w") as f:
        f.write(index)
