import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals a provider's keys with AES-256-GCM under GOMODEL_CREDENTIALS_KEY: a fresh random nonce
 * each time, the provider's name as associated data (a sealed value copied to another row does
 * not open there). Layout: nonce, ciphertext, tag.
 */
export function sealKeys(key: Buffer, name: string, keys: readonly string[]): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(keys), 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** The keys sealed by `sealKeys`; throws when the key is not the one they were sealed with, or the value was altered. */
export function openKeys(key: Buffer, name: string, sealed: Buffer): string[] {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed value is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const text = Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  const keys = JSON.parse(text) as unknown;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new Error('sealed value is not a list of keys');
  return keys as string[];
}
