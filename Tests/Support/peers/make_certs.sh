#!/usr/bin/env bash
# Makes the certificates for Trawl's TLS tests in DIR: a CA, a server certificate for localhost/127.0.0.1
# (server-fullchain.crt = leaf + CA), a client certificate with CN "mydomain" (the Devo domain
# certificate), and an unrelated CA with its own client certificate, for refusal tests.
set -euo pipefail
dir=$1
cd "$dir"
quiet() { "$@" >/dev/null 2>&1; }
for ca in ca other-ca; do
    quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.crt" -days 3 -subj "/CN=trawl test $ca"
done
quiet openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
quiet openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3 -extfile server.ext
cat server.crt ca.crt > server-fullchain.crt
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for pair in "client:ca" "other-client:other-ca"; do
    name=${pair%%:*}
    ca=${pair##*:}
    quiet openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=mydomain"
    quiet openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -out "$name.crt" -days 3 -extfile client.ext
done
