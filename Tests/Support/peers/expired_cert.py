"""Makes an expired client certificate in DIR (made by make_certs.sh): expired-client.crt and
expired-client.key, signed by DIR/ca.crt, valid from ten days ago until yesterday. openssl 3.0's command
line cannot back-date a certificate; Python's cryptography (a dependency of moto) can."""
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

directory = sys.argv[1]
with open(f"{directory}/ca.crt", "rb") as f:
    ca = x509.load_pem_x509_certificate(f.read())
with open(f"{directory}/ca.key", "rb") as f:
    ca_key = serialization.load_pem_private_key(f.read(), password=None)
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
certificate = (
    x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mydomain")]))
    .issuer_name(ca.subject)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=10))
    .not_valid_after(now - datetime.timedelta(days=1))
    .sign(ca_key, hashes.SHA256())
)
with open(f"{directory}/expired-client.crt", "wb") as f:
    f.write(certificate.public_bytes(serialization.Encoding.PEM))
with open(f"{directory}/expired-client.key", "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
