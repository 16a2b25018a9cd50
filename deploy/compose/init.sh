#!/bin/sh
# One-off set-up of the compose federation, run by the `init` service into the `pki` volume:
# a look-alike PKI with certificates for the services' compose host names, the pseudonymiser's
# seed and a synthetic person registry. Does nothing when the PKI already exists.
set -eu
PKI=/vir/pki
if [ -f "$PKI/root.pem" ]; then
  echo "PKI exists; keeping it"
  exit 0
fi
vir-certs dev-pki --dir "$PKI" --prefix "VIR Compose"
vir-certs issue-service --dir "$PKI" --name pseudonymiser --org "VIR Pseudonymisatiedienst" \
  --oin 00000099000000000001 --host pseudonymiser
vir-certs issue-service --dir "$PKI" --name hub --org "Verwijsindex Risicojongeren" \
  --oin 00000099000000000002 --host hub
vir-certs issue-client --dir "$PKI" --name operator --org "VIR Beheer" --oin 00000099000000000003
vir-certs issue-node --dir "$PKI" --name node-drenthe --region drenthe \
  --oin 00000099000000000010 --host node-drenthe
vir-certs issue-node --dir "$PKI" --name node-zuid-limburg --region zuid-limburg \
  --oin 00000099000000000011 --host node-zuid-limburg
vir-certs issue-node --dir "$PKI" --name node-hoeksche-waard --region hoeksche-waard \
  --oin 00000099000000000012 --host node-hoeksche-waard
vir-certs issue-client --dir "$PKI" --name drenthe-school --org "CBS De Regenboog Assen" \
  --oin 00000099000000000100
vir-certs issue-client --dir "$PKI" --name zuid-limburg-jgz --org "GGD Zuid Limburg Jeugdgezondheidszorg" \
  --oin 00000099000000000120
vir-pseudonymiser init-seed --out "$PKI/pseudonymiser-seed.hex"
vir-certs registry --out "$PKI/registry.json" --households 500
echo "compose PKI ready in $PKI"
