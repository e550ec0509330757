// Sealed records as a resident uses them, with JavaScript on and off: each confirmation
// record shows its seal on the city ledger (checked by the browser against the content the
// page shows), a tampered record or proof fails with the reason, the proof and the record
// download and pass the public check page (as a bank would use it), and an erased record
// leaves only its purge receipt.
import { expect, test, type TestInfo } from '@playwright/test';
import { behindTheServersBack, ready, reloadUntil, signIn } from './helpers';

const js = (testInfo: TestInfo) => testInfo.project.use.javaScriptEnabled !== false;

test('a resident sees each record sealed, shows one to a bank, and erases another', async ({ page }, testInfo) => {
  test.setTimeout(150_000);
  // A record of this project's own, so that the JavaScript and no-JavaScript runs each erase
  // theirs. Its canonical JSON is exactly the text below (one key).
  const bank = `E2E Bank ${testInfo.project.name}`;
  const content = JSON.stringify({ bank });
  behindTheServersBack(
    `insert into confirmation_record (resident_id, scope_key, data, content_hash, recorded_at)
     select r.resident_id, 'bank.accounts', '${content}'::jsonb, sha256(convert_to('${content}', 'UTF8')), now() - interval '1 minute'
     from resident r join account a using (account_id) where a.subject = 'resident2'`,
  );
  await signIn(page, testInfo, 'resident2');
  await page.getByRole('link', { name: 'My records' }).click();
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('My records');
  const title = page.locator('article.record', { hasText: 'Harbor Road' });
  await expect(title).toContainText('flat 4');

  // Sealed and cosigned: the browser checks the seal against the content shown.
  if (js(testInfo)) {
    await expect(title.locator('[data-verify]').first()).toHaveAttribute('data-verify', 'verified', { timeout: 45_000 });
    await expect(title.locator('[data-verify="verified"]')).toContainText('Sealed on the city ledger on');
  } else {
    await reloadUntil(page, testInfo, async () => {
      await expect(title.getByRole('link', { name: 'Download seal' })).toBeVisible({ timeout: 1000 });
    }, 45_000);
    await expect(title.locator('[data-verify="unchecked"]')).toContainText('JavaScript');
  }

  // The two downloads a resident hands over: the seal and the record.
  const proofHref = await title.getByRole('link', { name: 'Download seal' }).getAttribute('href');
  const recordHref = await title.getByRole('link', { name: 'Download record' }).getAttribute('href');
  const proofResp = await page.request.get(proofHref!);
  expect(proofResp.status()).toBe(200);
  expect(proofResp.headers()['content-disposition']).toContain('attachment');
  const proof = await proofResp.json();
  expect(proof.version).toBe(3);
  expect(proof.record.record.scope).toBe('property.titles');
  const record = await (await page.request.get(recordHref!)).text();
  expect(JSON.parse(record).address).toContain('Harbor Road');

  if (js(testInfo)) {
    // The record altered in the database: the page shows the altered content, and the
    // browser's check of it against the seal fails and says so.
    const where = `data->>'address' like '13 Harbor Road%'`;
    const original = behindTheServersBack(`select data::text from confirmation_record where ${where}`);
    behindTheServersBack(`update confirmation_record set data = jsonb_set(data, '{share}', '0.5') where ${where}`);
    try {
      await page.reload();
      await ready(page, testInfo);
      await expect(title.locator('[data-verify="failed"]')).toContainText('differs from what was sealed', {
        timeout: 15_000,
      });
    } finally {
      behindTheServersBack(`update confirmation_record set data = '${original}'::jsonb where ${where}`);
    }
    // The proof altered on its way: the salt no longer gives the sealed commitment.
    await page.route('**/me/records/**/proof', async (route) => {
      const response = await route.fetch();
      const bundle = await response.json();
      bundle.record.record.salt = bundle.record.record.salt.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
      await route.fulfill({ response, json: bundle });
    });
    try {
      await page.reload();
      await ready(page, testInfo);
      await expect(title.locator('[data-verify="failed"]')).toContainText('not in the batch', { timeout: 15_000 });
    } finally {
      await page.unroute('**/me/records/**/proof');
    }
  }

  // A bank checks what the resident showed it, on the public page (signed out is fine).
  await page.goto('/verify');
  await ready(page, testInfo);
  await page.locator('#seal-proof').fill(JSON.stringify(proof));
  await page.locator('#seal-content').fill(record);
  await page.getByRole('button', { name: 'Check' }).click();
  await expect(page.locator('#seal-result')).toContainText('VERIFIED', { timeout: 15_000 });
  await expect(page.locator('#seal-result [data-content-checked]')).toHaveAttribute('data-content-checked', 'true');
  // The same seal with a record that says otherwise.
  await page.goto('/verify');
  await ready(page, testInfo);
  await page.locator('#seal-proof').fill(JSON.stringify(proof));
  await page.locator('#seal-content').fill(record.replace('Harbor Road', 'Harbour Road'));
  await page.getByRole('button', { name: 'Check' }).click();
  await expect(page.getByRole('alert')).toContainText('differs from what was sealed', { timeout: 15_000 });

  // Erasure: the content goes, a purge receipt stays.
  await page.goto('/records');
  await ready(page, testInfo);
  const mine = page.locator('article.record', { hasText: bank });
  await expect(mine).toHaveCount(1);
  await mine.locator('summary').click();
  await mine.getByRole('checkbox').check();
  await mine.getByRole('button', { name: /Erase/ }).click();
  await ready(page, testInfo);
  await expect(page.locator('#erased')).toContainText('erased at your request', { timeout: 15_000 });
  await expect(page.locator('article.record', { hasText: bank })).toHaveCount(0);
  const left = behindTheServersBack(`select count(*) from confirmation_record where data->>'bank' = '${bank}'`);
  expect(left).toBe('0');
});
