import { defineConfig } from '@playwright/test';

// The stack (PostgreSQL, the identity provider, the portal) is started by `./dev test`,
// which passes the URLs in. The portal runs on `localhost` and the provider on `127.0.0.1`,
// so the browser treats them as different sites, as in production.
const baseURL = process.env.ONECITY_URL ?? 'http://localhost:3000';

const chromium = {
  browserName: 'chromium' as const,
  launchOptions: {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  },
};

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: { baseURL, trace: 'retain-on-failure', screenshot: 'only-on-failure' },
  projects: [
    { name: 'js-on', use: { ...chromium, javaScriptEnabled: true } },
    // Every page and form must work without JavaScript; hydration-only specs are skipped.
    { name: 'js-off', use: { ...chromium, javaScriptEnabled: false }, testIgnore: /\.(hydrate|api)\.spec\.ts$/ },
  ],
});
