// An independent verifier of the city's log, written from the C2SP specs (signed-note,
// tlog-checkpoint, tlog-cosignature, tlog-tiles) and RFC 6962 with nothing but Node's
// crypto: it shares no code with the Rust implementation it checks.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { expect, test } from '@playwright/test';

const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();

interface VKey {
  name: string;
  id: Buffer;
  type: number;
  key: Buffer;
}

/** `<name>+<hex key id>+<base64(type || public key)>` (C2SP signed-note). */
function parseVKey(line: string): VKey {
  // Base64 may itself contain '+': split at the first two only.
  const first = line.indexOf('+');
  const second = line.indexOf('+', first + 1);
  const [name, idHex, b64] = [line.slice(0, first), line.slice(first + 1, second), line.slice(second + 1)];
  const raw = Buffer.from(b64, 'base64');
  const vkey = { name, id: Buffer.from(idHex, 'hex'), type: raw[0], key: raw.subarray(1) };
  // The key id is the first four bytes of SHA-256(name || "\n" || type || key).
  const expected = sha256(Buffer.from(name + '\n'), raw).subarray(0, 4);
  expect(vkey.id.equals(expected), `key id of ${name}`).toBe(true);
  return vkey;
}

function ed25519Verify(key: Buffer, message: Buffer, signature: Buffer): boolean {
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') }, format: 'jwk' });
  return verify(null, message, publicKey, signature);
}

/** RFC 6962 §2.1 Merkle tree hash of leaf hashes. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** C2SP tlog-tiles index path: 1234067 -> x001/x234/067. */
function tileIndex(n: number): string {
  const groups: string[] = [];
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' + g : g)).join('/');
}

test('the public log verifies independently: signatures, quorum, tiles, entries, anchor', async ({ request }) => {
  const keys = (await (await request.get('/ledger/keys')).text()).trim().split('\n');
  const quorum = Number(keys.pop()!.replace('quorum ', ''));
  const [log, ...witnesses] = keys.map(parseVKey);
  expect(log.type).toBe(0x01);
  expect(witnesses.length).toBe(4);
  expect(quorum).toBe(3);

  // The witnesses cosign within a few sequencer ticks of startup.
  await expect.poll(async () => (await request.get('/ledger/checkpoint')).status(), { timeout: 30_000 }).toBe(200);
  const note = await (await request.get('/ledger/checkpoint')).text();
  const split = note.indexOf('\n\n');
  const body = note.slice(0, split + 1);
  const [origin, sizeText, rootB64] = body.split('\n');
  expect(origin).toBe(log.name);
  const size = Number(sizeText);
  const root = Buffer.from(rootB64, 'base64');

  const sigLines = note.slice(split + 2).trim().split('\n');
  let logSigned = false;
  const cosigned = new Set<string>();
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    expect(m, line).not.toBeNull();
    const [, name, b64] = m!;
    const sig = Buffer.from(b64, 'base64');
    if (name === log.name && sig.subarray(0, 4).equals(log.id)) {
      logSigned = ed25519Verify(log.key, Buffer.from(body), sig.subarray(4));
    }
    const w = witnesses.find((k) => k.name === name && sig.subarray(0, 4).equals(k.id));
    if (w && w.type === 0x04) {
      // cosignature/v1: key id, 8-byte big-endian timestamp, Ed25519 signature over
      // "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint body.
      const time = sig.readBigUInt64BE(4);
      const message = Buffer.from(`cosignature/v1\ntime ${time}\n${body}`);
      if (ed25519Verify(w.key, message, sig.subarray(12))) cosigned.add(name);
    }
  }
  expect(logSigned, 'the log signed the checkpoint').toBe(true);
  expect(cosigned.size).toBeGreaterThanOrEqual(quorum);

  // Every entry, from the entry bundles; then the root from the entries and from the tiles.
  const entries: Buffer[] = [];
  for (let n = 0; n * 256 < size; n++) {
    const width = Math.min(256, size - n * 256);
    const path = `/ledger/tile/entries/${tileIndex(n)}${width < 256 ? `.p/${width}` : ''}`;
    const bundle = Buffer.from(await (await request.get(path)).body());
    for (let off = 0; off < bundle.length; ) {
      const len = bundle.readUInt16BE(off);
      entries.push(bundle.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
  }
  expect(entries.length).toBe(size);
  const leafHashes = entries.map((e) => sha256(Buffer.from([0]), e));
  expect(mth(leafHashes).equals(root), 'entries hash to the checkpoint root').toBe(true);
  if (size < 256) {
    const tile = Buffer.from(await (await request.get(`/ledger/tile/0/000.p/${size}`)).body());
    expect(tile.equals(Buffer.concat(leafHashes)), 'level-0 tile holds the leaf hashes').toBe(true);
  }

  // The newest anchor is on the chain: the transaction's calldata is the recorded hash.
  await expect.poll(async () => (await (await request.get('/ledger/anchors')).json()).length, { timeout: 30_000 }).toBeGreaterThan(0);
  const [anchor] = await (await request.get('/ledger/anchors')).json();
  // ./dev test always runs a chain node and passes its URL.
  const rpc = process.env.ONECITY_ANCHOR_RPC_URL;
  expect(rpc, 'ONECITY_ANCHOR_RPC_URL names the chain node').toBeTruthy();
  const tx = await (
    await request.post(rpc!, { data: { jsonrpc: '2.0', id: 1, method: 'eth_getTransactionByHash', params: [anchor.tx_hash] } })
  ).json();
  expect(tx.result.input).toBe('0x' + anchor.checkpoint_hash);
});
