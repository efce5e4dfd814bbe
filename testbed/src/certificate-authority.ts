// tsyringe inside @peculiar/x509 needs the Reflect metadata API before the library loads.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node can make keys but not X.509 certificates; @peculiar/x509 signs with WebCrypto, so the
// test bed needs no openssl binary.
x509.cryptoProvider.set(webcrypto);

/** ECDSA P-256 everywhere: key generation takes microseconds, which keeps startup fast. */
const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };

export type KeyPairPem = { publicKeyPem: string; privateKeyPem: string };
export type IssuedCertificate = { certPem: string; keyPem: string };
export type CertificateRequest = {
  commonName: string;
  /** Subject O attributes; kube-apiserver reads them as the user's groups. */
  organizations?: string[];
  usage: 'server' | 'client';
  dnsNames?: string[];
  ipAddresses?: string[];
};
export type CertificateAuthority = {
  certPem: string;
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
};

/** Creates a self-signed CA in memory that issues short-lived-enough (one year) leaf certificates. */
export async function createCertificateAuthority(commonName: string): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    ...validity(),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey);

  return {
    certPem: cert.toString('pem'),
    async issue(request) {
      const leafKeys = await generateKeys();
      const names: x509.JsonGeneralName[] = [
        ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ];
      // One RDN per attribute so every O comes through as a separate group in Go's pkix.Name.
      const subject: x509.JsonName = [{ CN: [request.commonName] }, ...(request.organizations ?? []).map((o) => ({ O: [o] }))];
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject,
        issuer: cert.subject,
        ...validity(),
        signingAlgorithm,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([
            request.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
          ]),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
          authorityKeyId,
          await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
        ],
      });
      return { certPem: leaf.toString('pem'), keyPem: await privateKeyPem(leafKeys.privateKey) };
    },
  };
}

/** An EC P-256 key pair as PEM, e.g. for kube-apiserver's service account token signing. */
export async function generateKeyPairPem(): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return { publicKeyPem: x509.PemConverter.encode(spki, 'PUBLIC KEY'), privateKeyPem: await privateKeyPem(keys.privateKey) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  // PKCS#8 ("PRIVATE KEY") is accepted by Go's tls.X509KeyPair, kube-apiserver's key loaders and node:tls.
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function randomSerial(): string {
  // Go rejects negative serial numbers, so the top bit of the first byte stays clear.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

function validity(): { notBefore: Date; notAfter: Date } {
  // Back-dated an hour so a small clock difference between processes never makes a cert "not yet valid".
  const now = Date.now();
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + 365 * 24 * 60 * 60 * 1000) };
}
