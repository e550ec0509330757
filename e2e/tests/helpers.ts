import { execFileSync } from 'node:child_process';
import { expect, type Page, type TestInfo } from '@playwright/test';

/** With JavaScript on, wait until the WebAssembly bundle has hydrated the page. */
export async function ready(page: Page, testInfo: TestInfo) {
  if (testInfo.project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }
}

/** Sign in through the identity provider's real form. */
export async function signIn(page: Page, testInfo: TestInfo, username: string, password = 'password') {
  await page.goto('/');
  await ready(page, testInfo);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await expect(page).toHaveTitle('onecity sign-in');
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-submit').click();
  // Back on the portal once the callback has redirected to the page we came from.
  const portal = new URL(testInfo.project.use.baseURL ?? 'http://localhost:3000');
  await page.waitForURL((url) => url.host === portal.host && !url.pathname.startsWith('/auth'));
}

/**
 * Runs SQL against the portal's database as someone with database access would behind the
 * server's back: triggers off (the tables the ledger relies on refuse edits otherwise).
 */
export function behindTheServersBack(sql: string): string {
  const db = process.env.ONECITY_E2E_DB;
  if (!db) throw new Error('ONECITY_E2E_DB is not set (./dev test sets it)');
  const args = [db, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', `set session_replication_role = replica; ${sql}`];
  return execFileSync('psql', args).toString().trim();
}

/** Reloads until `check` passes: what a person without JavaScript does to see news. */
export async function reloadUntil(page: Page, testInfo: TestInfo, check: () => Promise<void>, timeout = 30_000) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await page.waitForTimeout(1000);
      await page.reload();
      await ready(page, testInfo);
    }
  }
}
