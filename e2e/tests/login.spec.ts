import { expect, test } from '@playwright/test';
import { ready, signIn } from './helpers';

test('a resident signs in, stays signed in across a reload, and signs out', async ({ page }, testInfo) => {
  await signIn(page, testInfo, 'resident1');
  await expect(page.locator('#signed-in-name')).toHaveText('Li Wei');
  await expect(page.locator('#signed-in-name')).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Hello, Li Wei');

  await page.reload();
  await ready(page, testInfo);
  await expect(page.locator('#signed-in-name')).toHaveText('Li Wei');

  await page.getByRole('button', { name: 'Sign out' }).click();
  // The provider asks to confirm ending its own session, then returns to the portal.
  await page.locator('#logout-confirm').click();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(page.locator('#signed-in-name')).toHaveCount(0);
  await page.reload();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
});

test('a wrong password keeps the visitor signed out', async ({ page }, testInfo) => {
  await page.goto('/');
  await ready(page, testInfo);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.locator('#login-username').fill('resident1');
  await page.locator('#login-password').fill('wrong');
  await page.locator('#login-submit').click();
  await expect(page.locator('#login-error')).toContainText('Invalid username or password');
  await page.goto('/');
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
});

test('the public city lists its districts', async ({ page }, testInfo) => {
  await page.goto('/');
  await ready(page, testInfo);
  await expect(page.getByRole('heading', { name: 'Districts' })).toBeVisible();
  await expect(page.locator('#district-list')).toBeVisible();
  await expect(page.locator('#district-list li')).toHaveCount(6);
  await expect(page.locator('#district-list')).toContainText('Old Town');
});
