#!/usr/bin/env python3
"""Writes a tiny OCI image layout standing in for the example community's
notebook image, so `r2r export --images --image-source oci:DIR` works
offline.

Usage: make-images.py DIR

The image, quay.io/jupyter/scipy-notebook:2024-10-07 (what the example's
values name), is an index over linux/amd64 and linux/arm64 whose manifests
share a base layer. It holds a few text files, not a notebook server.
"""
import gzip, hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
NAME = "quay.io/jupyter/scipy-notebook:2024-10-07"


def blob(data, media_type):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{d}", "size": len(data)}


def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(text), 1_700_000_000
            t.addfile(info, io.BytesIO(text))
    raw = buf.getvalue()
    gz = gzip.compress(raw, mtime=0)
    return blob(gz, "application/vnd.oci.image.layer.v1.tar+gzip"), f"sha256:{hashlib.sha256(raw).hexdigest()}"


base = layer({"etc/os-release": b"ID=example\n", "home/jovyan/README.md": b"# Example community\n"})
platforms = []
for arch in ["amd64", "arm64"]:
    top = layer({"opt/arch": arch.encode() + b"\n"})
    config = {"architecture": arch, "os": "linux", "config": {"User": "jovyan", "WorkingDir": "/home/jovyan"},
              "rootfs": {"type": "layers", "diff_ids": [base[1], top[1]]}}
    c = blob(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": c, "layers": [base[0], top[0]]}
    d = blob(json.dumps(m, sort_keys=True).encode(), m["mediaType"])
    platforms.append(dict(d, platform={"architecture": arch, "os": "linux"}))
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": platforms}
top = blob(json.dumps(index, sort_keys=True).encode(), index["mediaType"])
top["annotations"] = {"org.opencontainers.image.ref.name": NAME}
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [top]}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
