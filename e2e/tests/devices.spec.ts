// Devices as a resident uses them, with JavaScript on and off: a device registered on the
// Devices page shows its passport (checked by the browser against the page), its signed
// readings appear with a chart, a forged, replayed or suspended device's reading is refused
// and nothing is stored, the passport downloads as a bundle a brand platform can check, and a
// reading's seal downloads as a proof that it existed, signed by the device.
// A rule links a leak sensor of one brand to a valve of another: it acts once cosigned, its
// action is a receipt on the page, the valve collects the command, and revoking stops it.
// Readings are signed here with Node's own Ed25519 over the canonical encoding of
// docs/ledger-format.md §4.5: a second implementation of the format, independent of the
// chain crate.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page, test, type TestInfo } from '@playwright/test';
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

/**
 * Downloads a proof bundle as the signed-in resident (once cosigned) with the city's keys and
 * checks it offline with `onecity verify`, as a brand platform or the resident would; its report.
 */
async function verifyDownload(page: Page, url: string): Promise<string> {
  await expect.poll(async () => (await page.request.get(url)).status(), { timeout: 45_000 }).toBe(200);
  const dir = mkdtempSync(join(tmpdir(), 'onecity-proof-'));
  writeFileSync(join(dir, 'bundle.json'), await (await page.request.get(url)).body());
  writeFileSync(join(dir, 'keys.txt'), await (await page.request.get('/ledger/keys')).body());
  return execFileSync(bin(), ['verify', '--bundle', join(dir, 'bundle.json'), '--keys', join(dir, 'keys.txt')]).toString();
}

/** A new key pair for a device: the seed's file and the public key. */
function keygen(name: string): { seedFile: string; publicKey: string } {
  const seedFile = join(mkdtempSync(join(tmpdir(), 'onecity-device-')), `${name}.key`);
  const publicKey = execFileSync(bin(), ['device', 'keygen', '--key-file', seedFile]).toString().trim();
  return { seedFile, publicKey };
}

/** Registers a device through the Devices page's form; its card once shown. */
async function register(page: Page, testInfo: TestInfo, label: string, kind: string, brand: string, key: string) {
  const form = page.locator('#register-form');
  await form.getByLabel('Your name for it').fill(label);
  await form.getByLabel('Kind').selectOption(kind);
  await form.getByLabel('Brand').fill(brand);
  await form.getByLabel('Model').fill(`${brand.slice(0, 2).toUpperCase()}-200`);
  await form.getByLabel('Serial number').fill(`E2E-${kind}-${testInfo.project.name}-${Date.now()}`);
  await form.getByLabel('Public key').fill(key);
  await form.getByRole('button', { name: 'Register and publish its passport' }).click();
  const card = page.locator('article.device', { hasText: label });
  await expect(card).toBeVisible();
  await expect(card).toHaveAttribute('data-state', 'active');
  return card;
}

test('a resident registers a device, sees its passport and its signed readings', async ({ page }, testInfo) => {
  test.setTimeout(150_000);
  const { seedFile, publicKey } = keygen('meter');
  const label = `Meter ${testInfo.project.name}`;

  await signIn(page, testInfo, 'resident2');
  await page.getByRole('link', { name: 'My devices' }).click();
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('My devices');

  // Registration through the page's form, as a resident does it.
  const card = await register(page, testInfo, label, 'meter.water', 'Aquarius', publicKey);
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

  // Each reading is sealed on the ledger: the resident downloads its proof from the table,
  // and it verifies offline as signed by the device's passport key.
  const proofLink = card.locator(`a[data-reading-proof="${next}"]`);
  await reloadUntil(page, testInfo, async () => {
    await expect(proofLink).toBeVisible({ timeout: 1000 });
  }, 45_000);
  const sealed = await verifyDownload(page, (await proofLink.getAttribute('href'))!);
  expect(sealed).toContain('water.litres = 4242');
  expect(sealed).toContain("SIGNED by the key of the device's passport");
  // The browser checks the newest sealed reading's proof itself, against the row it shows.
  if (js(testInfo)) {
    await reloadUntil(page, testInfo, async () => {
      await expect(card.locator('[data-reading-seal] [data-verify="verified"]')).toContainText('Sealed', {
        timeout: 3000,
      });
    }, 45_000);
  } else {
    await expect(card.locator('[data-reading-seal] [data-verify="unchecked"]')).toContainText('JavaScript');
  }

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

test('a rule between two brands closes the valve on a leak, shows its receipt and stops when revoked', async ({
  page,
}, testInfo) => {
  test.setTimeout(180_000);
  const sensorKey = keygen('sensor');
  const valveKey = keygen('valve');
  const sensorLabel = `Leak sensor ${testInfo.project.name}`;
  const valveLabel = `Main valve ${testInfo.project.name}`;

  await signIn(page, testInfo, 'resident2');
  await page.goto('/devices');
  await ready(page, testInfo);
  const sensor = await register(page, testInfo, sensorLabel, 'sensor.leak', 'Drip', sensorKey.publicKey);
  const valve = await register(page, testInfo, valveLabel, 'valve.water', 'Flowmatic', valveKey.publicKey);
  const sensorId = (await sensor.getAttribute('data-device'))!;
  const valveId = (await valve.getAttribute('data-device'))!;

  // The rule, in the page's form: when the sensor reports leak == 1, close the valve.
  const form = page.locator('#rule-form');
  await form.getByLabel('When this device').selectOption({ label: sensorLabel });
  await form.getByLabel('reports the reading').fill('leak');
  await form.getByLabel('that is').selectOption('==');
  await form.getByLabel('the value').fill('1');
  await form.getByLabel('tell this device').selectOption({ label: valveLabel });
  await form.getByLabel('to', { exact: true }).selectOption('close');
  await form.getByRole('button', { name: 'Make the rule and record it on the ledger' }).click();
  const sentence = `When ${sensorLabel} reports leak == 1, tell ${valveLabel} to close`;
  const rule = page.locator('li.rule', { hasText: sentence });
  await expect(rule).toBeVisible();
  // It acts only once the witnesses have cosigned it.
  if (js(testInfo)) {
    await expect(rule).toHaveAttribute('data-state', 'active', { timeout: 45_000 });
  } else {
    await reloadUntil(page, testInfo, async () => {
      await expect(rule).toHaveAttribute('data-state', 'active', { timeout: 1000 });
    }, 45_000);
  }
  await expect(rule).toContainText('It has not acted yet.');

  const post = async (device: string, readings: object[]) => {
    const resp = await page.request.post(`/api/v1/devices/${device}/readings`, { data: { readings } });
    expect(resp.status()).toBe(202);
    return resp.json();
  };
  const next = BigInt(Date.now()) * 1000n;
  // No leak: nothing happens. A leak: the rule acts once.
  expect((await post(sensorId, [signed(sensorKey.seedFile, sensorId, next, 0n, 'leak')])).fired).toBe(0);
  expect((await post(sensorId, [signed(sensorKey.seedFile, sensorId, next + 1n, 1n, 'leak')])).fired).toBe(1);
  // The valve, of another brand, collects the command with its own signed reading, once.
  const collected = await post(valveId, [signed(valveKey.seedFile, valveId, next, 1n, 'valve.open')]);
  expect(collected.commands.map((c: { command: string }) => c.command)).toEqual(['close']);
  const again = await post(valveId, [signed(valveKey.seedFile, valveId, next + 1n, 0n, 'valve.open')]);
  expect(again.commands).toEqual([]);

  // The resident sees what the rule did, with a receipt on the ledger.
  const receipt = rule.locator('table.firings a[data-receipt]');
  await reloadUntil(page, testInfo, async () => {
    await expect(receipt).toHaveCount(1, { timeout: 1000 });
  }, 45_000);
  const firing = rule.locator('table.firings tbody tr');
  await expect(firing).toHaveCount(1);
  if (js(testInfo)) {
    // The browser checks the receipt itself against the row: rule, reading, command.
    await reloadUntil(page, testInfo, async () => {
      await expect(firing.locator('[data-receipt-check] [data-verify="verified"]')).toBeVisible({ timeout: 3000 });
    }, 45_000);
  }
  await expect(firing).toContainText('close');
  await expect(firing.locator('td').nth(3).locator('time')).toBeVisible();
  // The receipt, once cosigned, passes `onecity verify` offline as the action it claims.
  const index = await receipt.getAttribute('data-receipt');
  const verdict = await verifyDownload(page, (await receipt.getAttribute('href'))!);
  expect(verdict).toContain(`VERIFIED: entry #${index} (rule.fired)`);

  // Revoked: it stops at once.
  await rule.getByRole('button', { name: 'Revoke this rule' }).click();
  await expect(rule).toHaveAttribute('data-state', 'revoked');
  await expect(rule.getByRole('button', { name: 'Revoke this rule' })).toHaveCount(0);
  expect((await post(sensorId, [signed(sensorKey.seedFile, sensorId, next + 2n, 1n, 'leak')])).fired).toBe(0);
  const after = await post(valveId, [signed(valveKey.seedFile, valveId, next + 2n, 1n, 'valve.open')]);
  expect(after.commands).toEqual([]);
});

test('a resident hands a device to another with a claim code', async ({ page, browser }, testInfo) => {
  test.setTimeout(120_000);
  const { publicKey } = keygen('gift');
  const label = `Bike lock ${testInfo.project.name}`;
  await signIn(page, testInfo, 'resident2');
  await page.goto('/devices');
  await ready(page, testInfo);
  const card = await register(page, testInfo, label, 'lock.bike', 'Lockwell', publicKey);

  // The holder offers it: a code, shown once, and the offer's expiry.
  await card.getByRole('button', { name: 'Transfer it to someone else' }).click();
  const code = card.locator('[data-claim-code]');
  await expect(code).toBeVisible();
  const claimCode = (await code.getAttribute('data-claim-code'))!;
  expect(claimCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  await expect(card.locator('[data-transfer="offered"]')).toContainText('Transfer offered until');
  await page.reload();
  await ready(page, testInfo);
  await expect(card.locator('[data-claim-code]')).toHaveCount(0);
  await expect(card.locator('[data-transfer="offered"]')).toBeVisible();

  // Another resident, in another browser, claims it with the code as typed by hand.
  const other = await browser.newContext({ javaScriptEnabled: js(testInfo), baseURL: testInfo.project.use.baseURL });
  const them = await other.newPage();
  await signIn(them, testInfo, 'resident1');
  await them.goto('/devices');
  await ready(them, testInfo);
  const claim = them.locator('#claim-form');
  if (js(testInfo)) {
    await claim.getByLabel('Claim code').fill('WRNG-CDEF-GHJK');
    await claim.getByRole('button', { name: 'Claim the device' }).click();
    await expect(them.getByRole('alert')).toContainText('no device is offered');
  }
  await claim.getByLabel('Claim code').fill(claimCode.toLowerCase());
  await claim.getByRole('button', { name: 'Claim the device' }).click();
  const theirs = them.locator('article.device', { hasText: label });
  await expect(theirs).toBeVisible();
  await expect(theirs).toHaveAttribute('data-state', 'active');
  await other.close();

  // Gone from the giver's page.
  await page.reload();
  await ready(page, testInfo);
  await expect(page.locator('article.device', { hasText: label })).toHaveCount(0);
});
