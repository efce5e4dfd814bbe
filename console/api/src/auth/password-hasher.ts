import { hash, verify } from '@node-rs/argon2';

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~20 ms here, slow enough to make
// offline guessing costly and fast enough that sign-in stays snappy on 2 cores.
// algorithm 2 is Algorithm.Argon2id (a const enum, which type stripping cannot inline).
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes a password with argon2id; the PHC string carries its own salt and parameters. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

// Verified when the e-mail is unknown, so a miss costs as much time as a wrong password and
// response times do not reveal which accounts exist.
let decoyHash: Promise<string> | undefined;

/** True when `password` matches `passwordHash`; with no hash, spends the same time and returns false. */
export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (passwordHash === null) {
    decoyHash ??= hashPassword('decoy password that matches nothing');
    await verify(await decoyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
