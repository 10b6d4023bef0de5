#!/usr/bin/env bash
# Makes a throwaway CA, a server certificate for localhost/127.0.0.1 and a
# client certificate, all signed by the CA, in the folder given.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -s client.pem ] && [ -s server.pem ] && exit 0
days=30
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $days \
    -subj "/CN=svccomm test CA" 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
cat > client.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT
for who in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr \
        -subj "/CN=svccomm test $who" 2>/dev/null
    openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out $who.pem -days $days -extfile $who.ext 2>/dev/null
done
rm -f ./*.csr ./*.ext ca.srl
echo "certificates in $dir"
