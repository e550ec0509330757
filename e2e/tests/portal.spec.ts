// The portal as people use it, with JavaScript on and off: an agency publishes a service in
// its console, a resident enables it through the consent screen, the card fills once the
// witnesses cosigned the permission, the agency reads through the gate, the resident sees the
// receipt with a proof their browser checked, revokes, and the next read is refused.
// Then: two residents see different cities, the language switch is remembered, every page
// passes axe (WCAG 2.2 AA) and is photographed at phone and desktop size.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Browser, type Page, type TestInfo } from '@playwright/test';
import { behindTheServersBack, ready, reloadUntil, signIn } from './helpers';

const js = (testInfo: TestInfo) => testInfo.project.use.javaScriptEnabled !== false;

/** A second person in their own browser context, with this project's settings. */
async function person(browser: Browser, testInfo: TestInfo): Promise<Page> {
  const context = await browser.newContext({
    baseURL: testInfo.project.use.baseURL,
    javaScriptEnabled: js(testInfo),
  });
  return context.newPage();
}

const SCREENSHOTS = path.join(__dirname, '..', 'artifacts', 'screenshots');

/** axe (WCAG 2.0–2.2 A and AA rules) on the page as it is now; then phone and desktop shots. */
async function auditAndShoot(page: Page, testInfo: TestInfo, name: string) {
  if (js(testInfo)) {
    const results = await new AxeBuilder({ page })
      .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
      .analyze();
    const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(summary, `axe violations on ${name}`).toEqual([]);
  }
  const dir = path.join(SCREENSHOTS, testInfo.project.name);
  mkdirSync(dir, { recursive: true });
  for (const [size, viewport] of [
    ['phone', { width: 390, height: 844 }],
    ['desktop', { width: 1280, height: 900 }],
  ] as const) {
    await page.setViewportSize(viewport);
    // Nothing may stick out sideways on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth).catch(() => 0);
    expect(overflow, `${name} scrolls sideways at ${size} size`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(dir, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

test('an agency publishes, a resident consents, the agency reads, the resident checks the proof and revokes', async ({
  page,
  browser,
}, testInfo) => {
  test.setTimeout(180_000);
  const tag = `${testInfo.project.name}-${Date.now().toString(36)}`;
  const slug = `night-pass-${tag}`;
  const serviceName = `Night pass ${tag}`;

  // staff1 of the transit authority creates a draft and publishes its first version.
  const staff = await person(browser, testInfo);
  await signIn(staff, testInfo, 'staff1');
  await staff.goto('/console');
  await ready(staff, testInfo);
  await staff.locator('#new-slug').fill(slug);
  await staff.getByRole('button', { name: 'Create draft' }).click();
  await expect(staff.locator(`#console-services li[data-slug="${slug}"]`)).toContainText('Draft');
  await staff.locator(`#console-services li[data-slug="${slug}"] a`).click();
  await ready(staff, testInfo);
  await expect(staff.locator('#service-status')).toHaveText('Draft');
  await staff.locator('#v-name-en').fill(serviceName);
  await staff.locator('#v-name-zh').fill(`夜间通行 ${tag}`);
  await staff.locator('#v-desc-en').fill('Half-price night trips for regular night travellers.');
  await staff.locator('#v-desc-zh').fill('为经常夜间出行的乘客提供半价优惠。');
  await staff.locator('#v-category').fill('transport');
  await staff.locator('#v-purpose').fill('Count your night trips to apply the night pass discount');
  await staff.getByRole('checkbox', { name: 'Required: transit.trips' }).check();
  await staff.getByRole('checkbox', { name: 'Optional: residence.district' }).check();
  await staff.locator('#v-retention').fill('30');
  await staff.locator('#v-mode').selectOption('recurring');
  await staff.locator('#v-per-day').fill('4');
  // No history before the grant, and the whole city: no district ticked (each district is offered).
  await expect(staff.locator('#v-history')).toHaveValue('0');
  expect(await staff.locator('#v-districts input[type="checkbox"]').count()).toBeGreaterThan(1);
  await staff.locator('#publish-version').click();
  await expect(staff.locator('#service-status')).toHaveText('Published');
  await expect(staff.locator('#versions tbody tr')).toHaveCount(1);
  const serviceUrl = new URL(staff.url()).pathname;
  const serviceId = serviceUrl.split('/').pop()!;

  // resident1 finds the offer on My City, with the agency, the exact data and the purpose.
  await signIn(page, testInfo, 'resident1');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Hello, Li Wei');
  const offer = page.locator(`#offers article[data-service-id="${serviceId}"]`);
  await expect(offer).toContainText(serviceName);
  await expect(offer).toContainText('Transit Authority');
  await expect(offer).toContainText('Your public transport trips');
  await expect(offer).toContainText('Count your night trips');
  await expect(page.locator(`#service-cards article[data-service-id="${serviceId}"]`)).toHaveCount(0);

  // The consent screen: who, what (required and optional), why, how long, how often.
  await offer.getByRole('link', { name: /Review and enable/ }).click();
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Review what you share');
  await expect(page.locator('#consent-agency')).toHaveText('Transit Authority');
  await expect(page.locator('#required-scopes')).toContainText('Your public transport trips');
  await expect(page.locator('.consent')).toContainText('Up to 4 times a day');
  await expect(page.locator('#consent-history')).toHaveText('Only what happens from the day you agree');
  await page.getByRole('checkbox', { name: /Only which district you live in/ }).check();
  await page.locator('#valid-until').selectOption({ index: 0 });
  await page.locator('#consent-confirm').click();

  // Pending until the witnesses cosign, then active: by itself with JavaScript, by
  // "Check again" without.
  await expect(page.locator('#grant-status')).toBeVisible();
  if (js(testInfo)) {
    await expect(page.locator('#grant-status')).toHaveAttribute('data-state', 'active', { timeout: 30_000 });
  } else {
    await reloadUntil(page, testInfo, () => expect(page.locator('#grant-status')).toHaveAttribute('data-state', 'active', { timeout: 1000 }));
  }
  await expect(page.locator('#grant-status')).toContainText('Your permission is active.');

  // The card appears on My City, verified, with this month's trips.
  await page.goto('/');
  await ready(page, testInfo);
  const card = page.locator(`#service-cards article[data-service-id="${serviceId}"]`);
  await expect(card.locator('[data-check="verified"]')).toBeVisible();
  await expect(card.locator('[data-value="trips"]')).toContainText(/\d+ trips?/);
  await expect(page.locator(`#offers article[data-service-id="${serviceId}"]`)).toHaveCount(0);

  // The agency reads through the gate from its console.
  await staff.goto(serviceUrl);
  await ready(staff, testInfo);
  const row = staff.locator('#agency-grants tbody tr');
  await expect(row).toHaveCount(1);
  await expect(row.locator('[data-state]')).toHaveAttribute('data-state', 'active');
  const pseudonym = (await row.getAttribute('data-pseudonym'))!;
  expect(pseudonym).toMatch(/^[0-9a-f]{64}$/);
  await staff.locator('#query-pseudonym').fill(pseudonym);
  await staff.locator('#query-run').click();
  await expect(staff.locator('#query-result [data-outcome="released"]')).toBeVisible();
  if (js(testInfo)) {
    await expect(staff.locator('#query-result pre')).toContainText('transit.trips');
    await expect(staff.locator('#query-result pre')).not.toContainText('Li Wei');
  }

  // resident1 sees the read in Data use; their browser checks its proof once cosigned.
  await page.goto(`/data-use?agency=transit-authority`);
  await ready(page, testInfo);
  const receipt = page.locator('#receipts tbody tr', { hasText: serviceName }).first();
  await expect(receipt).toContainText('transit-authority/console/');
  await expect(receipt).toContainText('Count your night trips');
  await expect(page.locator('#reads-chart')).toBeVisible();
  if (js(testInfo)) {
    await reloadUntil(page, testInfo, () => expect(receipt.locator('[data-verify="verified"]')).toBeVisible({ timeout: 3000 }));
    await expect(receipt.locator('[data-verify="verified"]')).toContainText('cosigned by');
    await expect(receipt.locator('[data-verify="verified"]')).toContainText('permission active at the time of the read');
  } else {
    await expect(receipt.locator('[data-verify="unchecked"]')).toContainText('needs JavaScript');
  }
  const proofHref = await receipt.getByRole('link', { name: 'Download proof' }).getAttribute('href');
  await expect.poll(async () => (await page.request.get(proofHref!)).status(), { timeout: 30_000 }).toBe(200);
  if (js(testInfo)) {
    // The badge vouches for what the row shows, not only for the entry's index: a reader edited
    // in the database keeps a valid proof of #n, and the badge names the field that differs.
    const index = Number(proofHref!.split('/').pop());
    const where = `ledger_entry_id = (select ledger_entry_id from ledger_entry where leaf_index = ${index})`;
    const reader = behindTheServersBack(`select reader from access_receipt where ${where}`);
    expect(reader).toMatch(/^transit-authority\/console\/staff-[0-9a-f]{16}$/);
    behindTheServersBack(`update access_receipt set reader = 'transit-authority/console/staff-0000000000000000' where ${where}`);
    try {
      await page.reload();
      await ready(page, testInfo);
      await expect(receipt.locator('[data-verify="differs"]')).toBeVisible({ timeout: 15_000 });
      await expect(receipt.locator('[data-verify="differs"]')).toContainText('another reader');
    } finally {
      behindTheServersBack(`update access_receipt set reader = '${reader}' where ${where}`);
    }
    // A bundle tampered with on its way to the browser: the check fails and names the part.
    // First the consistency between the checkpoint verified at the read and the later one...
    const tamper = async (edit: (bundle: any) => void) => {
      await page.unroute(`**/ledger/bundle/${index}`);
      await page.route(`**/ledger/bundle/${index}`, async (route) => {
        const response = await route.fetch();
        const bundle = await response.json();
        edit(bundle);
        await route.fulfill({ response, json: bundle });
      });
      await page.reload();
      await ready(page, testInfo);
    };
    try {
      await tamper((b) => { b.at_read.consistency = ['A'.repeat(43) + '=', ...b.at_read.consistency]; });
      await expect(receipt.locator('[data-verify="failed"]')).toContainText('at_read.consistency', { timeout: 15_000 });
      // ...then a genuine but different checkpoint in place of the one the receipt names.
      await tamper((b) => { b.at_read.checkpoint = b.checkpoint; });
      await expect(receipt.locator('[data-verify="failed"]')).toContainText('at_read.checkpoint', { timeout: 15_000 });
    } finally {
      await page.unroute(`**/ledger/bundle/${index}`);
    }
  }

  // The permission, verified in the browser, then revoked in one step.
  await page.goto('/permissions');
  await ready(page, testInfo);
  const grant = page.locator(`#grants article[data-service-id="${serviceId}"]`);
  await expect(grant).toHaveAttribute('data-state', 'active');
  await expect(grant).toContainText('Only which district you live in');
  if (js(testInfo)) {
    await expect(grant.locator('dl [data-verify="verified"]')).toBeVisible({ timeout: 15_000 });
  }
  await grant.locator('[data-action="revoke"]').click();
  await expect(page.locator(`#grants article[data-service-id="${serviceId}"]`)).toHaveAttribute('data-state', 'revoked');

  // The agency's next read is refused, with the reason.
  await staff.goto(serviceUrl);
  await ready(staff, testInfo);
  await staff.locator('#query-pseudonym').fill(pseudonym);
  await staff.locator('#query-run').click();
  await expect(staff.locator('#query-result [data-outcome="denied"]')).toBeVisible();
  await expect(staff.locator('#query-result [data-reason]')).toHaveAttribute('data-reason', 'revoked');
  await expect(staff.locator('#query-result')).toContainText('The resident revoked the permission.');

  // And on My City the card is an offer again.
  await page.goto('/');
  await ready(page, testInfo);
  await expect(page.locator(`#service-cards article[data-service-id="${serviceId}"]`)).toHaveCount(0);
  await expect(page.locator(`#offers article[data-service-id="${serviceId}"]`)).toBeVisible();
  await staff.context().close();
});

test('two residents see two different cities', async ({ page, browser }, testInfo) => {
  await signIn(page, testInfo, 'resident1');
  await expect(page.locator('#district-line')).toHaveText('You live in Harbor.');
  await expect(page.locator('#district-map .area.home')).toHaveAttribute('data-district', 'harbor');
  // The seeded senior check-up: verified, and the predicate says yes (born 1955).
  const clinic = page.locator('#service-cards article', { hasText: 'Senior health check' });
  await expect(clinic.locator('[data-part="eligibility"]')).toHaveAttribute('data-eligible', 'true');
  await expect(page.locator('#notices')).toContainText('Free flu vaccination at Harbor');

  const other = await person(browser, testInfo);
  await signIn(other, testInfo, 'resident2');
  await expect(other.getByRole('heading', { level: 1 })).toHaveText('Hello, Maria Santos');
  await expect(other.locator('#district-line')).toHaveText('You live in Riverside.');
  await expect(other.locator('#district-map .area.home')).toHaveAttribute('data-district', 'riverside');
  await expect(other.locator('#service-cards article', { hasText: 'Senior health check' })).toHaveCount(0);
  await expect(other.locator('#offers article', { hasText: 'Senior health check' })).toBeVisible();
  await expect(other.locator('#notices')).toContainText('Water main renewal on Riverside Road');
  await expect(other.locator('#notices')).not.toContainText('Free flu vaccination at Harbor');
  await other.context().close();
});

test('the language switch is remembered, on this browser and for the account', async ({ page, browser }, testInfo) => {
  await signIn(page, testInfo, 'resident1');
  await page.getByRole('button', { name: '中文' }).click();
  await ready(page, testInfo);
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Li Wei，您好');
  await expect(page.locator('#district-line')).toHaveText('您住在海港区。');
  await expect(page.getByRole('link', { name: '授权管理' })).toBeVisible();
  await page.goto('/permissions');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('授权管理');
  // Dates follow the language.
  await expect(page.locator('#grants time').first()).toHaveText(/\d{4}年\d{1,2}月\d{1,2}日/);

  // Another browser: Chinese again as soon as resident1 signs in.
  const other = await person(browser, testInfo);
  await other.goto('/');
  await expect(other.locator('html')).toHaveAttribute('lang', 'en');
  await signIn(other, testInfo, 'resident1');
  await expect(other.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await other.context().close();

  await page.getByRole('button', { name: 'English' }).click();
  await ready(page, testInfo);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Permissions');
});

test('every page passes axe and fits a phone and a desktop', async ({ page, browser }, testInfo) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'city');
  await page.goto('/transparency');
  await ready(page, testInfo);
  await expect(page.locator('#witnesses > li')).toHaveCount(4);
  await auditAndShoot(page, testInfo, 'transparency');

  await signIn(page, testInfo, 'resident1');
  await auditAndShoot(page, testInfo, 'my-city');
  const offer = page.locator('#offers article').first();
  await offer.getByRole('link', { name: /Review and enable/ }).click();
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'consent');
  await page.goto('/permissions');
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'permissions');
  await page.goto('/data-use');
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'data-use');
  await page.getByRole('button', { name: '中文' }).click();
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'data-use-zh');
  await page.getByRole('button', { name: 'English' }).click();
  await page.goto('/records');
  await ready(page, testInfo);
  await expect(page.locator('article.record').first()).toBeVisible();
  await auditAndShoot(page, testInfo, 'records');
  await page.goto('/verify');
  await ready(page, testInfo);
  await auditAndShoot(page, testInfo, 'verify');
  await page.goto('/devices');
  await ready(page, testInfo);
  await expect(page.locator('#register-form')).toBeVisible();
  await auditAndShoot(page, testInfo, 'devices');

  const staff = await person(browser, testInfo);
  await signIn(staff, testInfo, 'staff1');
  await staff.goto('/console');
  await ready(staff, testInfo);
  await auditAndShoot(staff, testInfo, 'console');
  await staff.locator('#console-services li', { hasText: 'fare-capping' }).locator('a').click();
  await ready(staff, testInfo);
  await auditAndShoot(staff, testInfo, 'console-service');
  await staff.context().close();
});
