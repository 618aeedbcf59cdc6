#!/usr/bin/env python3
"""Writes a deterministic OCI image layout for the images benchmark.

Usage: make-image-layout.py DIR [SIZE_MIB]   (default 1024)

Three single-platform images, img-a, img-b and img-c, and img-multi, an
index over two platforms. Every image shares one base layer (1/8 of the
size); the rest is split evenly into per-image layers. Layer bytes are
seeded pseudo-random, so they do not compress, and stored as plain tar
(application/vnd.oci.image.layer.v1.tar), which keeps generation fast.
"""
import hashlib, io, json, os, random, sys, tarfile

out, size_mib = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
total = size_mib << 20


def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}


def layer(seed, n):
    body = random.Random(seed).randbytes(n)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo(f"data/{seed}.bin")
        info.size, info.mtime = n, 1_700_000_000
        t.addfile(info, io.BytesIO(body))
    data = buf.getvalue()
    return dict(blob(data), mediaType="application/vnd.oci.image.layer.v1.tar"), hashlib.sha256(data).hexdigest()


def manifest(arch, layers):
    config = {"architecture": arch, "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for _, d in layers]}}
    c = dict(blob(json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json")
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": c, "layers": [l for l, _ in layers]}
    return dict(blob(json.dumps(m).encode()), mediaType=m["mediaType"])


base = layer("base", total // 8)
each = (total - total // 8) // 10  # a, b, c: two layers each; multi: two platforms, two layers each
refs = []
for name in ["img-a", "img-b", "img-c"]:
    m = manifest("amd64", [base, layer(f"{name}-1", each), layer(f"{name}-2", each // 2)])
    refs.append(dict(m, annotations={"org.opencontainers.image.ref.name": name}))
plats = []
for arch in ["amd64", "arm64"]:
    m = manifest(arch, [base, layer(f"multi-{arch}", each)])
    plats.append(dict(m, platform={"architecture": arch, "os": "linux"}))
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": plats}
refs.append(dict(blob(json.dumps(idx).encode()), mediaType=idx["mediaType"],
                 annotations={"org.opencontainers.image.ref.name": "img-multi"}))
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": refs}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
