"""Regenerates the fixtures with Python batou 2.7.1 (which calls the `age` CLI).

    python3 -m venv venv && venv/bin/pip install batou==2.7.1 && apt-get install age
    venv/bin/python make-fixtures.py
"""
import pathlib

from batou.secrets.encryption import AGEEncryptedFile, DiffableAGEEncryptedFile

here = pathlib.Path(__file__).parent
age_pub = [l.split(": ")[1].strip() for l in (here / "age-identity.txt").read_text().splitlines() if l.startswith("# public key")][0]
ssh_pub = " ".join((here / "id_ed25519.pub").read_text().split()[:2])
members = [age_pub, ssh_pub]

cleartext = f"""[batou]
secret_provider = {{provider}}
members = {age_pub},
    {ssh_pub}

[component:hello]
password = s3cr3t-hunter2
multi = first line
    second line

[host:localhost]
data-token = tok-abc123
"""


def write(cls, path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with cls(path, writeable=True) as f:
        f.write(content.encode("utf-8"), members)


write(AGEEncryptedFile, here / "environments/agefix/secrets.cfg.age", cleartext.format(provider="age"))
write(AGEEncryptedFile, here / "environments/agefix/secret-cert.pem.age", "-----BEGIN CERT-----\nc2VjcmV0LWNlcnQ=\n-----END CERT-----\n")
write(DiffableAGEEncryptedFile, here / "environments/difffix/secrets.cfg.age-diffable", cleartext.format(provider="age-diffable"))
