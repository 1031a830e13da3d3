// Tests for chain.mjs and start-anvil.sh. Run: npm test (node --test).
// Everything is local: a stub HTTP server on 127.0.0.1 stands in for the Freeside API, and
// the chain tests start their own anvil on a free loopback port in a temp dir.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HDNodeWallet, Mnemonic, verifyMessage } from 'ethers';

import { ANVIL_ACCOUNTS, ANVIL_MNEMONIC, buildSiweMessage, isoNow, siweParamsFromBase } from '../chain.mjs';

const HERE = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const CLI = path.join(HERE, 'chain.mjs');
const run = promisify(execFile);
const [ACCT0, ACCT1] = ANVIL_ACCOUNTS;
const ACCT2 = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

async function cli(...args) {
  const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: HERE, timeout: 60_000 });
  const lines = stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one stdout line, got: ${stdout}\nstderr: ${stderr}`);
  return JSON.parse(lines[0]);
}

async function cliFails(...args) {
  try {
    await run(process.execPath, [CLI, ...args], { cwd: HERE, timeout: 60_000 });
  } catch (e) {
    return e; // has .code, .stdout, .stderr
  }
  assert.fail(`expected ${args[0]} to fail`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe('offline', () => {
  test('anvil default account constants match the mnemonic', () => {
    for (const [i, acct] of ANVIL_ACCOUNTS.entries()) {
      const w = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`);
      assert.equal(w.address, acct.address);
      assert.equal(w.privateKey, acct.privateKey);
    }
  });

  test('EIP-4361 message layout', () => {
    const { domain, uri } = siweParamsFromBase('http://127.0.0.1:5080/');
    assert.equal(domain, '127.0.0.1:5080');
    assert.equal(uri, 'http://127.0.0.1:5080');
    const msg = buildSiweMessage({
      domain,
      address: ACCT1.address,
      uri,
      chainId: 31337,
      nonce: 'abcdef0123456789',
      issuedAt: '2025-01-02T03:04:05Z',
    });
    assert.equal(
      msg,
      [
        '127.0.0.1:5080 wants you to sign in with your Ethereum account:',
        '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        '',
        'Sign in to Freeside',
        '',
        'URI: http://127.0.0.1:5080',
        'Version: 1',
        'Chain ID: 31337',
        'Nonce: abcdef0123456789',
        'Issued At: 2025-01-02T03:04:05Z',
      ].join('\n'),
    );
    assert.match(isoNow(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('siwe-login --dry-run signs a message that verifyMessage recovers', async () => {
    const r = await cli('siwe-login', '--base-url', 'http://127.0.0.1:5080', '--key', ACCT1.privateKey, '--nonce', 'n0nce12345', '--dry-run');
    assert.equal(r.address, ACCT1.address);
    assert.equal(verifyMessage(r.message, r.signature), ACCT1.address);
    assert.match(r.message, /\nChain ID: 31337\n/);
  });

  test('sign --message-file signs the exact file bytes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-sign-'));
    const file = path.join(dir, 'm.txt');
    const text = 'hello\nFreeside ✓\n';
    fs.writeFileSync(file, text);
    const r = await cli('sign', '--key', ACCT0.privateKey, '--message-file', file);
    assert.equal(r.address, ACCT0.address);
    assert.equal(verifyMessage(text, r.signature), ACCT0.address);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('siwe-login against a stub API', () => {
    let server;
    let base;
    const seen = [];
    let failNext = false;

    before(async () => {
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, body });
          const reply = (status, obj) => {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(JSON.stringify(obj));
          };
          if (req.method === 'GET' && req.url === '/api/v1/auth/nonce') {
            return reply(200, { nonce: 'stubNonce12345678', expires_at: new Date(Date.now() + 300_000).toISOString() });
          }
          if (req.method === 'POST' && req.url === '/api/v1/auth/siwe') {
            if (failNext) return reply(401, { error: 'bad_signature' });
            const { message, signature } = JSON.parse(body);
            const address = verifyMessage(message, signature);
            const lines = message.split('\n');
            return reply(200, { token: `stub.${address}`, lines });
          }
          reply(404, { error: 'not found' });
        });
      });
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${server.address().port}`;
    });
    after(() => new Promise((r) => server.close(r)));

    test('GET nonce, POST {message, signature}, prints the response', async () => {
      const r = await cli('siwe-login', '--base-url', base, '--key', ACCT1.privateKey, '--chain-id', '31337');
      assert.equal(r.token, `stub.${ACCT1.address}`);
      const host = base.replace('http://', '');
      assert.equal(r.lines[0], `${host} wants you to sign in with your Ethereum account:`);
      assert.equal(r.lines[1], ACCT1.address);
      assert.equal(r.lines[3], 'Sign in to Freeside');
      assert.equal(r.lines[5], `URI: ${base}`);
      assert.equal(r.lines[8], 'Nonce: stubNonce12345678');
      assert.deepEqual(
        seen.slice(-2).map((s) => `${s.method} ${s.url}`),
        ['GET /api/v1/auth/nonce', 'POST /api/v1/auth/siwe'],
      );
    });

    test('non-2xx: body to stderr, exit 1, nothing on stdout', async () => {
      failNext = true;
      const e = await cliFails('siwe-login', '--base-url', base, '--key', ACCT1.privateKey);
      failNext = false;
      assert.equal(e.code, 1);
      assert.equal(e.stdout, '');
      assert.match(e.stderr, /bad_signature/);
    });
  });
});

describe('on anvil', () => {
  let stateDir;
  let rpc;
  let demo;

  async function ethCall(to, data) {
    const res = await fetch(rpc, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to, data }, 'latest'] }),
    });
    return res.json();
  }
  const word = (hexNoPrefix) => hexNoPrefix.toLowerCase().padStart(64, '0');
  const u256 = (n) => word(BigInt(n).toString(16));
  const addr = (a) => word(a.slice(2));

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-anvil-'));
    const port = await freePort();
    const { stdout } = await run(path.join(HERE, 'start-anvil.sh'), [String(port), stateDir], { timeout: 30_000 });
    rpc = stdout.trim();
    assert.equal(rpc, `http://127.0.0.1:${port}`);
  });

  after(async () => {
    if (stateDir) {
      await run(path.join(HERE, 'stop-anvil.sh'), [stateDir], { timeout: 30_000 }).catch(() => {});
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('demo deploys both collections and mints 1,2,3 to account #1', async () => {
    demo = await cli('demo', '--rpc', rpc);
    assert.equal(demo.chain_id, 31337);
    assert.equal(demo.demo_wallet, ACCT1.address);
    assert.equal(demo.demo_private_key, ACCT1.privateKey);
    assert.deepEqual(demo.tokens, [1, 2, 3]);
    assert.match(demo.collection, /^0x[0-9a-fA-F]{40}$/);
    assert.match(demo.plain_collection, /^0x[0-9a-fA-F]{40}$/);
  });

  test('raw eth_call: ownerOf / balanceOf / tokenOfOwnerByIndex / supportsInterface', async () => {
    const ONE = `0x${u256(1)}`;
    const ZERO = `0x${u256(0)}`;
    for (const c of [demo.collection, demo.plain_collection]) {
      assert.equal((await ethCall(c, `0x6352211e${u256(2)}`)).result, `0x${addr(ACCT1.address)}`);
      assert.equal((await ethCall(c, `0x70a08231${addr(ACCT1.address)}`)).result, `0x${u256(3)}`);
      assert.equal((await ethCall(c, `0x01ffc9a7${'80ac58cd'.padEnd(64, '0')}`)).result, ONE); // ERC-721
    }
    // Enumerable only on DemoCollection
    assert.equal((await ethCall(demo.collection, `0x01ffc9a7${'780e9d63'.padEnd(64, '0')}`)).result, ONE);
    assert.equal((await ethCall(demo.plain_collection, `0x01ffc9a7${'780e9d63'.padEnd(64, '0')}`)).result, ZERO);
    for (const i of [0, 1, 2]) {
      const r = await ethCall(demo.collection, `0x2f745c59${addr(ACCT1.address)}${u256(i)}`);
      assert.equal(r.result, `0x${u256(i + 1)}`);
    }
    const r = await ethCall(demo.plain_collection, `0x2f745c59${addr(ACCT1.address)}${u256(0)}`);
    assert.ok(r.error, 'tokenOfOwnerByIndex must revert on the plain collection');
  });

  test('transfer changes ownerOf; non-owner transfer and mint fail', async () => {
    const { tx } = await cli('transfer', '--rpc', rpc, '--key', ACCT1.privateKey, '--contract', demo.collection, '--to', ACCT2, '--token', '2');
    assert.match(tx, /^0x[0-9a-f]{64}$/);
    assert.equal((await ethCall(demo.collection, `0x6352211e${u256(2)}`)).result, `0x${addr(ACCT2)}`);
    let e = await cliFails('transfer', '--rpc', rpc, '--key', ACCT1.privateKey, '--contract', demo.collection, '--to', ACCT2, '--token', '2');
    assert.match(e.stderr, /ERC721InsufficientApproval/);
    e = await cliFails('mint', '--rpc', rpc, '--key', ACCT1.privateKey, '--contract', demo.collection, '--to', ACCT2, '--token', '7');
    assert.match(e.stderr, /OwnableUnauthorizedAccount/);
  });

  test('deploy + mint + transfer --unsafe on a fresh PlainCollection', async () => {
    const { address } = await cli('deploy', '--rpc', rpc, '--key', ACCT0.privateKey, '--contract', 'PlainCollection');
    await cli('mint', '--rpc', rpc, '--key', ACCT0.privateKey, '--contract', address, '--to', ACCT1.address, '--token', '42');
    await cli('transfer', '--unsafe', '--rpc', rpc, '--key', ACCT1.privateKey, '--contract', address, '--to', ACCT2, '--token', '42');
    assert.equal((await ethCall(address, `0x6352211e${u256(42)}`)).result, `0x${addr(ACCT2)}`);
  });

  test('state survives stop + start', async () => {
    await run(path.join(HERE, 'stop-anvil.sh'), [stateDir], { timeout: 30_000 });
    assert.ok(fs.existsSync(path.join(stateDir, 'anvil-state.json')));
    const port = new URL(rpc).port;
    const { stdout } = await run(path.join(HERE, 'start-anvil.sh'), [port, stateDir], { timeout: 30_000 });
    assert.equal(stdout.trim(), rpc);
    assert.equal((await ethCall(demo.collection, `0x6352211e${u256(2)}`)).result, `0x${addr(ACCT2)}`);
    assert.equal((await ethCall(demo.collection, `0x6352211e${u256(3)}`)).result, `0x${addr(ACCT1.address)}`);
  });
});
