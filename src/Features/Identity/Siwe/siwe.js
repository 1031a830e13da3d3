// Sign-In with Ethereum in the browser, for Freeside's own pages: Keccak-256, EIP-55 addresses and
// EIP-4361 messages. No dependencies and no network: served by Freeside at /assets/identity/siwe.js.
(function (global) {
  'use strict';
  const MASK = (1n << 64n) - 1n;
  const ROUND = [
    0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
    0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
    0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
    0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
    0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
    0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n];
  // ROTATE[x][y]: the rho offsets of lane (x, y).
  const ROTATE = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]];

  const rotl = (v, n) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK);

  function permute(a) {
    const c = new Array(5), b = new Array(25);
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
      for (let x = 0; x < 5; x++) {
        const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (let y = 0; y < 25; y += 5) a[x + y] ^= d;
      }
      for (let x = 0; x < 5; x++)
        for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], ROTATE[x][y]);
      for (let y = 0; y < 25; y += 5)
        for (let x = 0; x < 5; x++) a[x + y] = b[x + y] ^ (~b[(x + 1) % 5 + y] & MASK & b[(x + 2) % 5 + y]);
      a[0] ^= ROUND[round];
    }
  }

  /** Keccak-256 (the original padding Ethereum uses, not SHA3-256) of bytes; 32 bytes back. */
  function keccak256(bytes) {
    const rate = 136;
    const padded = new Uint8Array((Math.floor(bytes.length / rate) + 1) * rate);
    padded.set(bytes);
    padded[bytes.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const state = new Array(25).fill(0n);
    for (let offset = 0; offset < padded.length; offset += rate) {
      for (let lane = 0; lane < rate / 8; lane++) {
        let v = 0n;
        for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(padded[offset + lane * 8 + i]);
        state[lane] ^= v;
      }
      permute(state);
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = Number((state[i >> 3] >> BigInt(8 * (i & 7))) & 0xffn);
    return out;
  }

  /** The EIP-55 mixed-case form of a 0x-prefixed address. */
  function checksumAddress(address) {
    const hex = String(address).toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]{40}$/.test(hex)) throw new Error('Not an Ethereum address: ' + address);
    const hash = keccak256(new TextEncoder().encode(hex));
    let out = '0x';
    for (let i = 0; i < 40; i++) {
      const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0x0f;
      out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
    }
    return out;
  }

  /** An EIP-4361 message; fields as named by the specification. */
  function buildMessage(f) {
    let m = f.domain + ' wants you to sign in with your Ethereum account:\n' + checksumAddress(f.address) + '\n\n';
    if (f.statement) m += f.statement + '\n\n';
    m += 'URI: ' + f.uri + '\nVersion: 1\nChain ID: ' + f.chainId + '\nNonce: ' + f.nonce + '\nIssued At: ' + f.issuedAt;
    if (f.expirationTime) m += '\nExpiration Time: ' + f.expirationTime;
    if (f.requestId) m += '\nRequest ID: ' + f.requestId;
    return m;
  }

  /** Hex of a string's UTF-8 bytes, as personal_sign wants its message. */
  function utf8Hex(text) {
    return '0x' + Array.from(new TextEncoder().encode(text), b => b.toString(16).padStart(2, '0')).join('');
  }

  const api = { keccak256, checksumAddress, buildMessage, utf8Hex };
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  else global.FreesideSiwe = api;
})(typeof window !== 'undefined' ? window : globalThis);
