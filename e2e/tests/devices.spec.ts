// Devices as a resident uses them, with JavaScript on and off: a device registered on the
// Devices page shows its passport (checked by the browser against the page), its signed
// readings appear with a chart, a forged, replayed or suspended device's reading is refused
// and nothing is stored, and the passport downloads as a bundle a brand platform can check.
// Readings are signed here with Node's own Ed25519 over the canonical encoding of
// docs/ledger-format.md §4.5: a second implementation of the format, independent of the
// chain crate.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type TestInfo } from '@playwright/test';
import { ready, reloadUntil, signIn } from './helpers';

const js = (testInfo: TestInfo) => testInfo.project.use.javaScriptEnabled !== false;

function bin(): string {
  const b = process.env.ONECITY_BIN;
  if (!b) throw new Error('ONECITY_BIN is not set (./dev test sets it)');
  return b;
}

/** A reading signed with the device's seed (hex file), as flat JSON. */
function signed(seedFile: string, device: string, counter: bigint, value: bigint, metric = 'water.litres') {
  const seed = Buffer.from(readFileSync(seedFile, 'utf8').trim(), 'hex');
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  // Measured just after the simulator's readings (which carry their sending time), so these
  // are the newest in the table and on My City.
  const measuredAt = BigInt(Math.floor(Date.now() / 1000) + 2);
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };
  const i64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return b;
  };
  const len = Buffer.alloc(2);
  len.writeUInt16BE(Buffer.byteLength(metric));
  const msg = Buffer.concat([
    Buffer.from('onecity reading v1\n'),
    Buffer.from(device.replace(/-/g, ''), 'hex'),
    u64(counter),
    u64(measuredAt),
    len,
    Buffer.from(metric),
    i64(value),
  ]);
  return {
    device_id: device.replace(/-/g, ''),
    counter: Number(counter),
    measured_at: Number(measuredAt),
    metric,
    value: Number(value),
    signature: sign(null, msg, key).toString('hex'),
  };
}

test('a resident registers a device, sees its passport and its signed readings', async ({ page }, testInfo) => {
  test.setTimeout(150_000);
  const dir = mkdtempSync(join(tmpdir(), 'onecity-device-'));
  const seedFile = join(dir, 'device.key');
  const publicKey = execFileSync(bin(), ['device', 'keygen', '--key-file', seedFile]).toString().trim();
  const label = `Meter ${testInfo.project.name}`;

  await signIn(page, testInfo, 'resident2');
  await page.getByRole('link', { name: 'My devices' }).click();
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('My devices');

  // Registration through the page's form, as a resident does it.
  const form = page.locator('#register-form');
  await form.getByLabel('Your name for it').fill(label);
  await form.getByLabel('Kind').selectOption('meter.water');
  await form.getByLabel('Brand').fill('Aquarius');
  await form.getByLabel('Model').fill('AQ-200');
  await form.getByLabel('Serial number').fill(`E2E-${testInfo.project.name}-${Date.now()}`);
  await form.getByLabel('Public key').fill(publicKey);
  await form.getByRole('button', { name: 'Register and publish its passport' }).click();
  const card = page.locator('article.device', { hasText: label });
  await expect(card).toBeVisible();
  await expect(card).toContainText('Water meter');
  await expect(card.locator('code.key')).toHaveText(publicKey);
  const device = (await card.getAttribute('data-device'))!;

  // The passport, once cosigned: checked in the browser against what the page shows.
  if (js(testInfo)) {
    await expect(card.locator('[data-verify]').first()).toHaveAttribute('data-verify', 'verified', { timeout: 45_000 });
    await expect(card.locator('[data-verify="verified"]')).toContainText('Verified in your browser');
  } else {
    await reloadUntil(page, testInfo, async () => {
      await expect(card.locator('[data-verify="unchecked"]')).toContainText('JavaScript', { timeout: 1000 });
    }, 45_000);
  }
  const bundle = await (await page.request.get(`/devices/${device}/passport?format=bundle`)).json();
  expect(bundle.version).toBe(4);
  expect(bundle.device.status.state).toBe('active');

  // The simulator sends three readings; a forged and a replayed one are refused.
  execFileSync(bin(), [
    'device', 'simulate', '--url', testInfo.project.use.baseURL!, '--device', `${device},${seedFile},water.litres`,
    '--rounds', '3', '--interval-ms', '10',
  ]);
  const post = (readings: object[]) => page.request.post(`/api/v1/devices/${device}/readings`, { data: { readings } });
  const next = BigInt(Date.now()) * 1000n + 999_999n;
  const good = signed(seedFile, device, next, 4242n);
  expect((await post([good])).status()).toBe(202);
  const replay = await post([good]);
  expect(replay.status()).toBe(409);
  expect((await replay.json()).reason).toBe('replayed');
  const forged = { ...signed(seedFile, device, next + 1n, 1n), value: 999999 };
  expect((await post([forged])).status()).toBe(403);

  await page.reload();
  await ready(page, testInfo);
  const rows = card.locator('.readings tbody tr');
  await expect(rows).toHaveCount(4);
  await expect(rows.first()).toContainText('4242');
  await expect(card.locator('svg.chart')).toBeVisible();
  await expect(card).not.toContainText('999999');

  // Suspended: its readings are refused until resumed.
  await card.getByRole('button', { name: 'Suspend: refuse its readings' }).click();
  await expect(card).toHaveAttribute('data-state', 'suspended');
  const refused = await post([signed(seedFile, device, next + 2n, 1n)]);
  expect(refused.status()).toBe(403);
  expect((await refused.json()).reason).toBe('suspended');
  if (js(testInfo)) {
    // The cosigned state follows: the badge says the device is not in service.
    await expect(card.locator('[data-verify]').first()).toHaveAttribute('data-verify', 'verified-not-in-service', {
      timeout: 45_000,
    });
  }
  await card.getByRole('button', { name: 'Resume: accept its readings again' }).click();
  await expect(card).toHaveAttribute('data-state', 'active');
  expect((await post([signed(seedFile, device, next + 3n, 4300n)])).status()).toBe(202);

  // My City shows the device and what it said last.
  await page.goto('/');
  await ready(page, testInfo);
  const mine = page.locator('#my-devices li', { hasText: label });
  await expect(mine).toContainText('4300');
  await expect(mine).toContainText('water.litres');
});
