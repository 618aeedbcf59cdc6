#!/usr/bin/env python3
"""Writes an OCI image layout with one small synthetic image under each
name `r2r inspect --images --json` lists, so `r2r export --images
--image-source oci:DIR` can carry a real cluster's image list offline.

Usage: named-layout.py IMAGES_JSON DIR [KIB]   (default 64 KiB per image)

Each image is single-platform (linux/amd64): a config and one gzip'd tar
layer of KIB seeded pseudo-random bytes, distinct per name. Digest-pinned
references (`…@sha256:`) are skipped: a synthetic image cannot have that
digest. Same input, same bytes.
"""
import gzip, hashlib, io, json, os, random, sys, tarfile

images_json, out = sys.argv[1], sys.argv[2]
kib = int(sys.argv[3]) if len(sys.argv) > 3 else 64
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)


def blob(data, media_type):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{d}", "size": len(data)}


names = sorted({i["canonical"] for h in json.load(open(images_json)) for i in h["images"]})
manifests = []
for n, name in enumerate(names):
    if "@" in name:
        continue
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = random.Random(name).randbytes(kib << 10)
        info = tarfile.TarInfo(f"data/{n}.bin")
        info.size, info.mtime = len(data), 1_700_000_000
        t.addfile(info, io.BytesIO(data))
    layer = blob(gzip.compress(raw.getvalue(), mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    c = blob(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": [layer]}
    d = blob(json.dumps(m, sort_keys=True).encode(), m["mediaType"])
    d["annotations"] = {"org.opencontainers.image.ref.name": name}
    manifests.append(d)
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": manifests}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(len(manifests))
