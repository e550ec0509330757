// The gate end to end against the running stack, as the README walks through it: an agency
// system takes a token from the identity provider, reads a resident's granted data, the
// resident sees the receipt and its proof bundle passes `onecity verify`, and a revocation
// makes the next read fail with `revoked`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type APIRequestContext } from '@playwright/test';
import { signIn } from './helpers';

const issuer = process.env.ONECITY_OIDC_ISSUER;
const bin = process.env.ONECITY_BIN;

async function agencyToken(request: APIRequestContext): Promise<string> {
  const discovery = await (await request.get(`${issuer}/.well-known/openid-configuration`)).json();
  const resp = await request.post(discovery.token_endpoint, {
    headers: { authorization: `Basic ${Buffer.from('agency-transit:agency-transit-secret').toString('base64')}` },
    form: { grant_type: 'client_credentials', scope: 'agency.read' },
  });
  expect(resp.status()).toBe(200);
  return (await resp.json()).access_token;
}

test('an agency reads granted data through the gate; the resident proves it and revokes', async ({ page, request }, testInfo) => {
  expect(issuer, 'ONECITY_OIDC_ISSUER names the provider').toBeTruthy();
  expect(bin, 'ONECITY_BIN names the onecity binary').toBeTruthy();
  const token = await agencyToken(request);
  const auth = { authorization: `Bearer ${token}` };

  const services = await (await request.get('/api/v1/services', { headers: auth })).json();
  const fare = services.find((s: { slug: string }) => s.slug === 'fare-capping');
  expect(fare, 'the transit authority publishes fare capping').toBeTruthy();
  const grantsUrl = `/api/v1/services/${fare.service_id}/grants`;
  const pseudonyms = async () =>
    ((await (await request.get(grantsUrl, { headers: auth })).json()) as { pseudonym: string; state: string }[]);
  // The seeded resident's grant becomes active once the witnesses cosign it.
  await expect.poll(async () => (await pseudonyms()).map((g) => g.state), { timeout: 30_000 }).toEqual(['active']);
  const seeded = (await pseudonyms())[0].pseudonym;

  // resident2 grants fare capping their trips in the portal.
  await signIn(page, testInfo, 'resident2');
  const until = new Date(Date.now() + 30 * 86400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  // The consent screen sends the version whose terms it showed.
  const offers = (await (await page.request.post('/api/me/offers', { form: {} })).json()) as { service_id: string; version: number }[];
  const version = offers.find((o) => o.service_id === fare.service_id)!.version;
  const issued = await page.request.post('/api/me/grants/issue', {
    form: { service_id: fare.service_id, version: String(version), 'scopes[0]': 'transit.trips', valid_until: until },
  });
  expect(issued.status(), await issued.text()).toBe(200);
  const grant = await issued.json();
  expect(grant.state).toBe('pending');

  // The agency sees a new pseudonym (never an account), active once cosigned, and reads.
  await expect.poll(async () => (await pseudonyms()).filter((g) => g.state === 'active').length, { timeout: 30_000 }).toBe(2);
  const mine = (await pseudonyms()).find((g) => g.pseudonym !== seeded)!;
  const readUrl = `/api/v1/services/${fare.service_id}/reads`;
  const read = await request.post(readUrl, { headers: auth, data: { pseudonym: mine.pseudonym, scopes: ['transit.trips'] } });
  expect(read.status(), await read.text()).toBe(200);
  const body = await read.json();
  // The grant starts now: resident2's trips from before it are not the agency's to read.
  expect(body.data['transit.trips'].kind).toBe('behavioral');
  expect(body.data['transit.trips'].records).toEqual([]);
  expect(JSON.stringify(body)).not.toContain('resident2');

  // The resident sees the receipt; its bundle, once cosigned, passes `onecity verify`.
  await expect
    .poll(async () => (await (await page.request.post('/api/me/receipts', { form: {} })).json())[0]?.leaf_index ?? null, { timeout: 30_000 })
    .not.toBeNull();
  const [receipt] = await (await page.request.post('/api/me/receipts', { form: {} })).json();
  expect(receipt.reader).toBe('transit-authority/client/agency-transit');
  expect(receipt.scopes).toEqual(['transit.trips']);
  const bundleUrl = `/ledger/bundle/${receipt.leaf_index}`;
  await expect.poll(async () => (await request.get(bundleUrl)).status(), { timeout: 30_000 }).toBe(200);
  const dir = mkdtempSync(path.join(tmpdir(), 'onecity-e2e-'));
  writeFileSync(path.join(dir, 'bundle.json'), await (await request.get(bundleUrl)).body());
  writeFileSync(path.join(dir, 'keys.txt'), await (await request.get('/ledger/keys')).body());
  const verdict = execFileSync(bin!, ['verify', '--bundle', path.join(dir, 'bundle.json'), '--keys', path.join(dir, 'keys.txt')]).toString();
  expect(verdict).toContain(`VERIFIED: entry #${receipt.leaf_index} (access.receipt)`);

  // Revocation: the very next read is refused, with the reason.
  const revoked = await page.request.post('/api/me/grants/revoke', { form: { grant_id: grant.grant_id } });
  expect(revoked.status()).toBe(200);
  const denied = await request.post(readUrl, { headers: auth, data: { pseudonym: mine.pseudonym, scopes: ['transit.trips'] } });
  expect(denied.status()).toBe(403);
  expect(await denied.json()).toMatchObject({ error: 'access_denied', reason: 'revoked' });
});
