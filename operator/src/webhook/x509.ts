// tsyringe inside @peculiar/x509 needs the Reflect metadata API before the library loads, and
// ES modules evaluate imports in order: every use of @peculiar/x509 goes through this module.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node can make keys but not X.509 certificates; @peculiar/x509 signs with WebCrypto.
x509.cryptoProvider.set(webcrypto as never);

export { x509 };
