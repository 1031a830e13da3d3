#!/usr/bin/env node
// Freeside local-chain CLI.
//
// Every subcommand prints exactly ONE line of JSON to stdout on success; all logs go to
// stderr. On failure it prints a message to stderr and exits 1.
//
//   compile
//   deploy      --rpc URL --key PRIVKEY --contract DemoCollection|PlainCollection
//   mint        --rpc URL --key PRIVKEY --contract ADDR --to ADDR --token N
//   transfer    --rpc URL --key PRIVKEY --contract ADDR --to ADDR --token N [--unsafe]
//   demo        --rpc URL
//   siwe-login  --base-url URL --key PRIVKEY [--chain-id 31337] [--nonce N --dry-run]
//   link        --url LINK_URL --key PRIVKEY [--chain-id 31337]
//   sign        --key PRIVKEY --message-file FILE
//
// --key may be omitted if FREESIDE_CHAIN_KEY is set in the environment.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONTRACTS_DIR = path.join(HERE, 'contracts');
const BUILD_DIR = path.join(HERE, 'build');
const NODE_MODULES = path.join(HERE, 'node_modules');

export const CONTRACT_NAMES = ['DemoCollection', 'PlainCollection'];

// Anvil's default dev accounts (mnemonic "test test test test test test test test test test
// test junk", path m/44'/60'/0'/0/i). These are PUBLIC, well-known test keys: never use them
// on a real network.
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
export const ANVIL_ACCOUNTS = [
  {
    address: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
    privateKey: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  },
  {
    address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    privateKey: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  },
];

export const SIWE_STATEMENT = 'Sign in to Freeside';

const COMPILER_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Pinned so the bytecode does not depend on the solc default (which moves with each
  // release); cancun (MCOPY, transient storage) is supported by every current anvil.
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

// ---------------------------------------------------------------------------------------
// small helpers

const T0 = Date.now();
function log(...args) {
  console.error(`[chain +${Date.now() - T0}ms]`, ...args);
}

class UsageError extends Error {}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function need(values, name) {
  const v = values[name];
  if (v === undefined || v === '') throw new UsageError(`missing --${name}`);
  return v;
}

function keyOf(values) {
  const k = values.key ?? process.env.FREESIDE_CHAIN_KEY;
  if (!k) throw new UsageError('missing --key (or FREESIDE_CHAIN_KEY)');
  return k.startsWith('0x') ? k : `0x${k}`;
}

function tokenOf(values) {
  const raw = need(values, 'token');
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(raw)) throw new UsageError(`--token must be an unsigned integer, got ${raw}`);
  return BigInt(raw);
}

async function ethersLib() {
  // Imported lazily so `compile` does not pay for loading ethers.
  ethersMod ??= await import('ethers');
  return ethersMod;
}

async function connect(rpc, key) {
  const { JsonRpcProvider, Wallet } = await ethersLib();
  // pollingInterval: anvil mines instantly; ethers' default 4 s poll would make every
  // tx.wait() take ~4 s. cacheTimeout -1: the default 250 ms response cache returns a stale
  // eth_getTransactionCount for back-to-back txs ("nonce has already been used").
  const provider = new JsonRpcProvider(rpc, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  let network;
  try {
    network = await Promise.race([
      provider.getNetwork(),
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 10_000)),
    ]);
  } catch (e) {
    provider.destroy();
    throw new Error(`cannot reach JSON-RPC at ${rpc}: ${e.message}`);
  }
  const wallet = key ? new Wallet(key, provider) : undefined;
  return { provider, wallet, chainId: Number(network.chainId) };
}

// ---------------------------------------------------------------------------------------
// compile

function resolveImport(importPath) {
  // Only node_modules packages (e.g. @openzeppelin/contracts/...) and files next to our own
  // contracts are resolvable; anything escaping those roots is refused.
  const candidates = [path.join(CONTRACTS_DIR, importPath), path.join(NODE_MODULES, importPath)];
  for (const file of candidates) {
    const root = file.startsWith(CONTRACTS_DIR + path.sep) ? CONTRACTS_DIR : NODE_MODULES;
    if (!path.resolve(file).startsWith(root + path.sep)) continue;
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}

function packageVersion(name) {
  return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
}

function compileCacheKey(sources) {
  const h = createHash('sha256');
  h.update(JSON.stringify(COMPILER_SETTINGS));
  h.update(`solc@${packageVersion('solc')}`);
  h.update(`oz@${packageVersion('@openzeppelin/contracts')}`);
  for (const [name, { content }] of Object.entries(sources).sort()) {
    h.update(name);
    h.update('\0');
    h.update(content);
    h.update('\0');
  }
  return h.digest('hex');
}

export function artifactPath(name) {
  return path.join(BUILD_DIR, `${name}.json`);
}

export async function compile({ force = false } = {}) {
  const sources = {};
  for (const name of CONTRACT_NAMES) {
    sources[`${name}.sol`] = { content: fs.readFileSync(path.join(CONTRACTS_DIR, `${name}.sol`), 'utf8') };
  }
  const key = compileCacheKey(sources);
  const keyFile = path.join(BUILD_DIR, '.cache-key');
  const artifacts = Object.fromEntries(CONTRACT_NAMES.map((n) => [n, path.relative(HERE, artifactPath(n))]));
  if (
    !force &&
    fs.existsSync(keyFile) &&
    fs.readFileSync(keyFile, 'utf8').trim() === key &&
    CONTRACT_NAMES.every((n) => fs.existsSync(artifactPath(n)))
  ) {
    log('sources unchanged; using cached build/');
    return { cached: true, artifacts };
  }

  const solc = require('solc');
  log(`compiling ${CONTRACT_NAMES.join(', ')} with solc ${solc.version()} (this takes a few seconds)`);
  const input = { language: 'Solidity', sources, settings: COMPILER_SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport }));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  for (const e of output.errors ?? []) if (e.severity !== 'error') log(e.formattedMessage.trim());
  if (errors.length) throw new Error('solc errors:\n' + errors.map((e) => e.formattedMessage).join('\n'));

  fs.mkdirSync(BUILD_DIR, { recursive: true });
  for (const name of CONTRACT_NAMES) {
    const c = output.contracts?.[`${name}.sol`]?.[name];
    if (!c) throw new Error(`solc produced no output for ${name}`);
    const artifact = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
    fs.writeFileSync(artifactPath(name), JSON.stringify(artifact, null, 2) + '\n');
  }
  fs.writeFileSync(keyFile, key + '\n');
  return { cached: false, artifacts };
}

let compiledOnce;
export async function loadArtifact(name) {
  if (!CONTRACT_NAMES.includes(name)) {
    throw new UsageError(`--contract must be one of ${CONTRACT_NAMES.join(', ')}, got ${name}`);
  }
  compiledOnce ??= compile(); // compiles only if build/ is missing or stale
  await compiledOnce;
  return JSON.parse(fs.readFileSync(artifactPath(name), 'utf8'));
}

// ---------------------------------------------------------------------------------------
// chain operations

async function deployWith(wallet, name) {
  const { ContractFactory } = await ethersLib();
  const { abi, bytecode } = await loadArtifact(name);
  const factory = new ContractFactory(abi, bytecode, wallet);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  const address = await contract.getAddress();
  log(`deployed ${name} at ${address} (tx ${contract.deploymentTransaction().hash})`);
  return address;
}

async function nftAt(address, wallet) {
  const { Contract, isAddress } = await ethersLib();
  if (!isAddress(address)) throw new UsageError(`not an address: ${address}`);
  // Both contracts share this ABI subset; use the Demo ABI (a superset).
  const { abi } = await loadArtifact('DemoCollection');
  return new Contract(address, abi, wallet);
}

async function mintWith(wallet, address, to, tokenId) {
  const { isAddress } = await ethersLib();
  if (!isAddress(to)) throw new UsageError(`--to is not an address: ${to}`);
  const nft = await nftAt(address, wallet);
  const tx = await nft.mint(to, tokenId);
  const receipt = await tx.wait();
  log(`minted token ${tokenId} to ${to} in block ${receipt.blockNumber}`);
  return tx.hash;
}

async function transferWith(wallet, address, to, tokenId, { unsafe = false } = {}) {
  const { isAddress } = await ethersLib();
  if (!isAddress(to)) throw new UsageError(`--to is not an address: ${to}`);
  const nft = await nftAt(address, wallet);
  const from = await wallet.getAddress();
  const tx = unsafe
    ? await nft.transferFrom(from, to, tokenId)
    : await nft['safeTransferFrom(address,address,uint256)'](from, to, tokenId);
  const receipt = await tx.wait();
  log(`transferred token ${tokenId} ${from} -> ${to} in block ${receipt.blockNumber}`);
  return tx.hash;
}

// ---------------------------------------------------------------------------------------
// SIWE (EIP-4361)

/** Builds the EIP-4361 message text exactly as specified (LF line endings, no trailing LF). */
export function buildSiweMessage({ domain, address, statement = SIWE_STATEMENT, uri, chainId, nonce, issuedAt, expirationTime }) {
  const lines = [
    `${domain} wants you to sign in with your Ethereum account:`,
    address,
    '',
    statement,
    '',
    `URI: ${uri}`,
    'Version: 1',
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${issuedAt}`,
  ];
  if (expirationTime) lines.push(`Expiration Time: ${expirationTime}`);
  return lines.join('\n');
}

/** RFC 3339 UTC timestamp without fractional seconds, e.g. 2025-01-02T03:04:05Z. */
export function isoNow(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function siweParamsFromBase(baseUrl) {
  let u;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new UsageError(`--base-url is not a URL: ${baseUrl}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('--base-url must be http(s)');
  // URL.host is "host:port" (port omitted only when it is the scheme default).
  const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  return { base, domain: u.host, uri: base };
}

async function signSiwe({ baseUrl, key, chainId, nonce, issuedAt }) {
  const { Wallet } = await ethersLib();
  const wallet = new Wallet(key);
  const { domain, uri } = siweParamsFromBase(baseUrl);
  if (!/^[A-Za-z0-9]{8,}$/.test(nonce)) log(`warning: nonce "${nonce}" is not >= 8 alphanumerics as EIP-4361 requires`);
  const message = buildSiweMessage({ domain, address: wallet.address, uri, chainId, nonce, issuedAt: issuedAt ?? isoNow() });
  const signature = await wallet.signMessage(message);
  return { message, signature, address: wallet.address };
}

async function httpJson(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(text.endsWith('\n') || text === '' ? text : text + '\n');
    throw new Error(`${method} ${url} -> HTTP ${res.status}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url} returned non-JSON: ${text.slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------
// CLI

const COMMON = {
  rpc: { type: 'string' },
  key: { type: 'string' },
  contract: { type: 'string' },
  to: { type: 'string' },
  token: { type: 'string' },
  'base-url': { type: 'string' },
  url: { type: 'string' },
  'chain-id': { type: 'string' },
  nonce: { type: 'string' },
  'issued-at': { type: 'string' },
  'dry-run': { type: 'boolean' },
  'message-file': { type: 'string' },
  unsafe: { type: 'boolean' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const USAGE = `usage: node chain.mjs <command> [options]
  compile [--force]
  deploy     --rpc URL --key PRIVKEY --contract DemoCollection|PlainCollection
  mint       --rpc URL --key PRIVKEY --contract ADDR --to ADDR --token N
  transfer   --rpc URL --key PRIVKEY --contract ADDR --to ADDR --token N [--unsafe]
  demo       --rpc URL
  siwe-login --base-url URL --key PRIVKEY [--chain-id 31337] [--nonce N --dry-run] [--issued-at T]
  link       --url LINK_URL --key PRIVKEY [--chain-id 31337]
  sign       --key PRIVKEY --message-file FILE
Each command prints one JSON line to stdout; logs go to stderr.`;

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stderr.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const { values } = parseArgs({ args: rest, options: COMMON, strict: true, allowPositionals: false });
  if (values.help) {
    process.stderr.write(USAGE + '\n');
    return 0;
  }

  switch (cmd) {
    case 'compile': {
      out(await compile({ force: !!values.force }));
      return 0;
    }
    case 'deploy': {
      const name = need(values, 'contract');
      await loadArtifact(name); // validate name / compile before touching the chain
      const { provider, wallet } = await connect(need(values, 'rpc'), keyOf(values));
      try {
        out({ address: await deployWith(wallet, name) });
      } finally {
        provider.destroy();
      }
      return 0;
    }
    case 'mint':
    case 'transfer': {
      const address = need(values, 'contract');
      const to = need(values, 'to');
      const tokenId = tokenOf(values);
      const { provider, wallet } = await connect(need(values, 'rpc'), keyOf(values));
      try {
        const tx =
          cmd === 'mint'
            ? await mintWith(wallet, address, to, tokenId)
            : await transferWith(wallet, address, to, tokenId, { unsafe: !!values.unsafe });
        out({ tx });
      } finally {
        provider.destroy();
      }
      return 0;
    }
    case 'demo': {
      const [deployer, demo] = ANVIL_ACCOUNTS;
      const { provider, wallet, chainId } = await connect(need(values, 'rpc'), deployer.privateKey);
      try {
        if (chainId !== 31337) log(`warning: chain id is ${chainId}, not 31337`);
        const tokens = [1, 2, 3];
        const collection = await deployWith(wallet, 'DemoCollection');
        for (const t of tokens) await mintWith(wallet, collection, demo.address, BigInt(t));
        const plain = await deployWith(wallet, 'PlainCollection');
        for (const t of tokens) await mintWith(wallet, plain, demo.address, BigInt(t));
        out({
          collection,
          chain_id: chainId,
          demo_wallet: demo.address,
          demo_private_key: demo.privateKey,
          tokens,
          plain_collection: plain,
        });
      } finally {
        provider.destroy();
      }
      return 0;
    }
    case 'siwe-login': {
      const baseUrl = need(values, 'base-url');
      const key = keyOf(values);
      const chainId = Number(values['chain-id'] ?? '31337');
      if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new UsageError('--chain-id must be a positive integer');
      const { base } = siweParamsFromBase(baseUrl);
      if (values['dry-run']) {
        // Offline: build + sign with a caller-supplied nonce, print {message, signature, address}.
        const signed = await signSiwe({ baseUrl, key, chainId, nonce: need(values, 'nonce'), issuedAt: values['issued-at'] });
        out(signed);
        return 0;
      }
      let nonce = values.nonce;
      if (!nonce) {
        const n = await httpJson('GET', `${base}/api/v1/auth/nonce`);
        if (typeof n?.nonce !== 'string') throw new Error(`nonce endpoint returned no "nonce": ${JSON.stringify(n)}`);
        nonce = n.nonce;
        log(`got nonce ${nonce} (expires_at ${n.expires_at ?? '?'})`);
      }
      const { message, signature, address } = await signSiwe({ baseUrl, key, chainId, nonce, issuedAt: values['issued-at'] });
      log(`signing in as ${address}`);
      out(await httpJson('POST', `${base}/api/v1/auth/siwe`, { message, signature }));
      return 0;
    }
    case 'link': {
      // What the /link/{token} page does in a browser, for a terminal: sign the EIP-4361 message that
      // names the link (Request ID = its token) and complete it (docs/linking.md).
      const url = new URL(need(values, 'url'));
      const token = url.pathname.split('/').pop();
      const chainId = Number(values['chain-id'] ?? '31337');
      if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new UsageError('--chain-id must be a positive integer');
      const base = `${url.protocol}//${url.host}`;
      const link = await httpJson('GET', `${base}/api/v1/links/${token}`);
      const { nonce } = await httpJson('GET', `${base}/api/v1/auth/nonce`);
      const { Wallet } = await ethersLib();
      const wallet = new Wallet(keyOf(values));
      const message = buildSiweMessage({
        domain: url.host, address: wallet.address, statement: link.statement, uri: `${base}${url.pathname}`, chainId, nonce,
        issuedAt: isoNow(), expirationTime: isoNow(new Date(Date.now() + 10 * 60_000)),
      }) + `\nRequest ID: ${token}`;
      log(`linking ${link.platform} to ${wallet.address}`);
      out(await httpJson('POST', `${base}/api/v1/links/${token}`, { message, signature: await wallet.signMessage(message) }));
      return 0;
    }
    case 'sign': {
      const { Wallet } = await ethersLib();
      const wallet = new Wallet(keyOf(values));
      // The file's exact contents (UTF-8, no trimming) are signed as an EIP-191 personal message.
      const message = fs.readFileSync(need(values, 'message-file'), 'utf8');
      out({ signature: await wallet.signMessage(message), address: wallet.address });
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

let ethersMod; // set once ethers has been imported, for decoding revert data in errors

function decodeRevert(data) {
  // ethers leaves custom errors raised during gas estimation undecoded ("unknown custom
  // error"); decode them against our ABIs, e.g. OwnableUnauthorizedAccount(0x7099...).
  if (!ethersMod || typeof data !== 'string' || data.length < 10) return undefined;
  for (const name of CONTRACT_NAMES) {
    try {
      const { abi } = JSON.parse(fs.readFileSync(artifactPath(name), 'utf8'));
      const err = ethersMod.Interface.from(abi).parseError(data);
      if (err) return `${err.name}(${err.args.map(String).join(', ')})`;
    } catch {
      // artifact missing or not ours: keep trying / fall through
    }
  }
  return undefined;
}

function describe(e) {
  // ethers errors carry a lot of detail; keep the useful bits.
  if (e?.shortMessage) {
    const decoded = e.revert ? `${e.revert.name}(${e.revert.args.map(String).join(', ')})` : decodeRevert(e.data);
    return `${e.shortMessage}${decoded ? ` -> ${decoded}` : e.data ? ` data=${e.data}` : ''}${e.reason ? ` (reason: ${e.reason})` : ''}`;
  }
  return e?.message ?? String(e);
}

function isMain() {
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

// Exit explicitly once stdout/stderr are flushed: HTTP keep-alive sockets to the node would
// otherwise keep the process alive for several seconds after the work is done.
function exitWhenFlushed(code) {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

if (isMain()) {
  main(process.argv.slice(2)).then(exitWhenFlushed, (e) => {
    console.error(`[chain] error: ${describe(e)}`);
    if (e instanceof UsageError || e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') process.stderr.write(USAGE + '\n');
    exitWhenFlushed(1);
  });
}
