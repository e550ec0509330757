// End-to-end test of the development identity provider: starts server.mjs as a child process
// on a free port with a temporary data dir and drives it with plain fetch.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));
const DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'onecity-idp-test-'));
const CLIENT_ID = 'onecity-portal';
const CLIENT_SECRET = 'onecity-dev-secret';
const REDIRECT_URI = 'http://localhost:3000/auth/callback';
const POST_LOGOUT_URI = 'http://localhost:3000/';
const API_AUDIENCE = 'http://localhost:3000/api/v1';

const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
});

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, IDP_PORT: '0', IDP_DATA_DIR: DATA_DIR, IDP_ISSUER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}\n${err}`)), 5000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /onecity-idp listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, issuer: m[1], output: () => out + err });
      }
    });
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}):\n${out}\n${err}`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
    child.kill('SIGTERM');
  });
}

// Minimal cookie jar honouring name + path, enough for oidc-provider's cookies.
class Jar {
  #cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cookiePath = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') cookiePath = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name}\0${cookiePath}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path: cookiePath });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names() { return [...this.#cookies.values()].map((c) => c.name); }
}

async function req(jar, url, { method = 'GET', form, headers = {} } = {}) {
  const h = { ...headers };
  const cookie = jar?.header(url);
  if (cookie) h.cookie = cookie;
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, { method, headers: h, body, redirect: 'manual' });
  jar?.store(res);
  return res;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const location = (res, base) => new URL(res.headers.get('location'), base);

let server;
let discovery;
let idToken;
let firstKids;

test('discovery', async () => {
  server = await startServer();
  const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  discovery = await res.json();
  assert.equal(discovery.issuer, server.issuer);
  assert.ok(!discovery.issuer.endsWith('/'));
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint']) {
    assert.ok(discovery[k]?.startsWith(`${server.issuer}/`), k);
  }
  assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  assert.ok(discovery.scopes_supported.includes('roles'));
  const jwks = await (await fetch(discovery.jwks_uri)).json();
  firstKids = jwks.keys.map((k) => k.kid).sort();
  assert.ok(jwks.keys.some((k) => k.alg === 'RS256'));
  assert.ok(jwks.keys.every((k) => !('d' in k)), 'public JWKS must not contain private parts');
  const mode = fs.statSync(path.join(DATA_DIR, 'jwks.json')).mode & 0o777;
  assert.equal(mode, 0o600);
});

test('authorization request without PKCE is rejected', async () => {
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 's0', nonce: 'n0',
  });
  const res = await req(new Jar(), url.href);
  assert.equal(res.status, 303);
  const loc = location(res, server.issuer);
  assert.equal(`${loc.origin}${loc.pathname}`, REDIRECT_URI);
  assert.equal(loc.searchParams.get('error'), 'invalid_request');
  assert.match(loc.searchParams.get('error_description'), /PKCE/);
  assert.equal(loc.searchParams.get('code'), null);

  // the plain method is not accepted either
  url.searchParams.set('code_challenge', 'a'.repeat(43));
  url.searchParams.set('code_challenge_method', 'plain');
  const plain = await req(new Jar(), url.href);
  assert.equal(plain.status, 303);
  assert.equal(location(plain, server.issuer).searchParams.get('error'), 'invalid_request');
});

test('code flow with PKCE S256, login form, token, userinfo, replay, logout', async () => {
  const jar = new Jar();
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const nonce = b64url(crypto.randomBytes(16));
  const state = b64url(crypto.randomBytes(16));

  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid profile email roles',
    redirect_uri: REDIRECT_URI,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  let res = await req(jar, authUrl.href);
  assert.equal(res.status, 303);
  const interactionUrl = location(res, server.issuer);
  assert.match(interactionUrl.pathname, /^\/interaction\/[\w-]+$/);

  // login page
  res = await req(jar, interactionUrl.href);
  assert.equal(res.status, 200);
  let html = await res.text();
  assert.match(html, /<title>onecity sign-in<\/title>/);
  for (const id of ['login-username', 'login-password', 'login-submit']) assert.match(html, new RegExp(`id="${id}"`));
  assert.match(html, /<label for="login-username">/);
  assert.match(html, /<label for="login-password">/);
  assert.doesNotMatch(html, /id="login-error"/);
  const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)[1], server.issuer);

  // wrong username (with markup) -> escaped error page, no login
  res = await req(jar, action.href, { method: 'POST', form: { username: '<b>x</b>"', password: 'password' } });
  assert.equal(res.status, 401);
  html = await res.text();
  assert.match(html, /id="login-error"[^>]*>Invalid username or password/);
  assert.ok(!html.includes('<b>x</b>'), 'echoed username must be escaped');
  assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;&quot;'));

  // wrong password
  res = await req(jar, action.href, { method: 'POST', form: { username: 'resident1', password: 'nope' } });
  assert.equal(res.status, 401);
  html = await res.text();
  assert.match(html, /Invalid username or password/);
  assert.match(html, /id="login-username"[^>]*value="resident1"/);

  // right password -> resume -> redirect to the portal with a code (no consent screen)
  res = await req(jar, action.href, { method: 'POST', form: { username: 'resident1', password: 'password' } });
  assert.equal(res.status, 303);
  let next = location(res, server.issuer);
  for (let i = 0; i < 5 && next.origin === server.issuer; i += 1) {
    res = await req(jar, next.href);
    assert.equal(res.status, 303, `unexpected ${res.status} at ${next.pathname}`);
    next = location(res, server.issuer);
  }
  assert.equal(`${next.origin}${next.pathname}`, REDIRECT_URI);
  assert.equal(next.searchParams.get('state'), state);
  assert.equal(next.searchParams.get('iss'), server.issuer);
  const code = next.searchParams.get('code');
  assert.ok(code);
  assert.ok(jar.names().includes('_session'));

  // token exchange, client_secret_basic
  const tokenForm = {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
  };
  res = await req(null, discovery.token_endpoint, {
    method: 'POST', form: tokenForm, headers: { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
  });
  const tokens = await res.json();
  assert.equal(res.status, 200, JSON.stringify(tokens));
  assert.equal(tokens.token_type, 'Bearer');
  assert.ok(tokens.access_token);
  idToken = tokens.id_token;

  const jwks = createLocalJWKSet(await (await fetch(discovery.jwks_uri)).json());
  const { payload: claims, protectedHeader } = await jwtVerify(idToken, jwks, {
    issuer: server.issuer, audience: CLIENT_ID,
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.sub, 'resident1');
  assert.equal(claims.name, 'Li Wei');
  assert.equal(claims.preferred_username, 'resident1');
  assert.equal(claims.locale, 'zh-CN');
  assert.equal(claims.email, 'resident1@onecity.test');
  assert.deepEqual(claims.roles, ['resident']);
  assert.equal(claims.agency, undefined);

  // userinfo
  res = await req(null, discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(res.status, 200);
  const userinfo = await res.json();
  assert.equal(userinfo.sub, 'resident1');
  assert.equal(userinfo.name, 'Li Wei');
  assert.deepEqual(userinfo.roles, ['resident']);

  // replayed code
  res = await req(null, discovery.token_endpoint, {
    method: 'POST', form: tokenForm, headers: { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');

  // RP-initiated logout: confirmation page (no JS), then redirect to the post-logout URI
  const endUrl = new URL(discovery.end_session_endpoint);
  endUrl.search = new URLSearchParams({
    id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye',
  });
  res = await req(jar, endUrl.href);
  assert.equal(res.status, 200);
  html = await res.text();
  assert.match(html, /id="logout-confirm"/);
  assert.doesNotMatch(html, /<script/);
  const logoutAction = new URL(/<form[^>]*action="([^"]+)"/.exec(html)[1], server.issuer);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)[1];
  res = await req(jar, logoutAction.href, { method: 'POST', form: { xsrf, logout: 'yes' } });
  assert.equal(res.status, 303);
  const after = location(res, server.issuer);
  assert.equal(`${after.origin}${after.pathname}`, POST_LOGOUT_URI);
  assert.equal(after.searchParams.get('state'), 'bye');
  assert.ok(!jar.names().includes('_session'), 'session cookie cleared');

  // the access token of the ended session no longer works at userinfo
  res = await req(null, discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(res.status, 401);
});

async function signIn(username, scope = 'openid profile email roles', extra = {}) {
  const jar = new Jar();
  const verifier = b64url(crypto.randomBytes(32));
  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope,
    redirect_uri: REDIRECT_URI,
    state: 'st',
    nonce: 'nn',
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  });
  let res = await req(jar, authUrl.href);
  const html = await (await req(jar, location(res, server.issuer).href)).text();
  const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)[1], server.issuer);
  res = await req(jar, action.href, { method: 'POST', form: { username, password: 'password' } });
  let next = location(res, server.issuer);
  while (next.origin === server.issuer) next = location(await req(jar, next.href), server.issuer);
  res = await req(null, discovery.token_endpoint, {
    method: 'POST',
    // client_secret_post also works (the main flow test uses client_secret_basic)
    form: {
      grant_type: 'authorization_code',
      code: next.searchParams.get('code'),
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    },
  });
  assert.equal(res.status, 200);
  return res.json();
}

test('agency staff claims (admin1)', async () => {
  const tokens = await signIn('admin1');
  const jwks = createLocalJWKSet(await (await fetch(discovery.jwks_uri)).json());
  const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: server.issuer, audience: CLIENT_ID });
  assert.equal(payload.sub, 'admin1');
  assert.equal(payload.name, 'Ada Admin');
  assert.equal(payload.locale, 'en');
  assert.deepEqual(payload.roles, ['agency_staff', 'admin']);
  assert.equal(payload.agency, 'transit-authority');
  const res = await req(null, discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const userinfo = await res.json();
  assert.equal(userinfo.agency, 'transit-authority');
  assert.deepEqual(userinfo.roles, ['agency_staff', 'admin']);
  // without the roles scope there are no roles claims
  const plain = await signIn('staff1', 'openid profile');
  const { payload: p2 } = await jwtVerify(plain.id_token, jwks);
  assert.equal(p2.name, 'Chen Jing');
  assert.equal(p2.roles, undefined);
  assert.equal(p2.email, undefined);
  assert.equal(plain.refresh_token, undefined);
});

test('offline_access with prompt=consent yields a refresh token (no consent screen)', async () => {
  const tokens = await signIn('resident2', 'openid profile offline_access', { prompt: 'consent' });
  assert.ok(tokens.refresh_token);
  const res = await req(null, discovery.token_endpoint, {
    method: 'POST',
    form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
    headers: { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
  });
  const refreshed = await res.json();
  assert.equal(res.status, 200, JSON.stringify(refreshed));
  const jwks = createLocalJWKSet(await (await fetch(discovery.jwks_uri)).json());
  const { payload } = await jwtVerify(refreshed.id_token, jwks, { issuer: server.issuer, audience: CLIENT_ID });
  assert.equal(payload.name, 'Maria Santos');
});

test('cancel on the login page returns access_denied to the portal', async () => {
  const jar = new Jar();
  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: REDIRECT_URI,
    state: 'cancelled',
    code_challenge: crypto.createHash('sha256').update('x'.repeat(43)).digest('base64url'),
    code_challenge_method: 'S256',
  });
  let res = await req(jar, authUrl.href);
  const html = await (await req(jar, location(res, server.issuer).href)).text();
  const cancel = new URL(/id="login-cancel" href="([^"]+)"/.exec(html)[1], server.issuer);
  res = await req(jar, cancel.href);
  let next = location(res, server.issuer);
  while (next.origin === server.issuer) next = location(await req(jar, next.href), server.issuer);
  assert.equal(`${next.origin}${next.pathname}`, REDIRECT_URI);
  assert.equal(next.searchParams.get('error'), 'access_denied');
  assert.equal(next.searchParams.get('state'), 'cancelled');
});

test('client credentials: JWT access token for the agency API', async () => {
  const res = await req(null, discovery.token_endpoint, {
    method: 'POST',
    form: { grant_type: 'client_credentials', scope: 'agency.read agency.publish' },
    headers: { authorization: basic('agency-transit', 'agency-transit-secret') },
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, 'Bearer');
  assert.ok(body.expires_in > 500 && body.expires_in <= 600);
  assert.equal(decodeProtectedHeader(body.access_token).typ, 'at+jwt');
  const jwks = createLocalJWKSet(await (await fetch(discovery.jwks_uri)).json());
  const { payload } = await jwtVerify(body.access_token, jwks, {
    issuer: server.issuer, audience: API_AUDIENCE, typ: 'at+jwt',
  });
  assert.equal(payload.client_id, 'agency-transit');
  assert.equal(payload.sub, 'agency-transit');
  assert.equal(payload.scope, 'agency.read agency.publish');
  assert.equal(payload.agency, 'transit-authority');

  // wrong secret
  const bad = await req(null, discovery.token_endpoint, {
    method: 'POST',
    form: { grant_type: 'client_credentials', scope: 'agency.read' },
    headers: { authorization: basic('agency-transit', 'wrong') },
  });
  assert.equal(bad.status, 401);
  assert.equal((await bad.json()).error, 'invalid_client');

  // a second agency's client gets its own agency, never the first one's
  const health = await req(null, discovery.token_endpoint, {
    method: 'POST',
    form: { grant_type: 'client_credentials', scope: 'agency.read' },
    headers: { authorization: basic('agency-health', 'agency-health-secret') },
  });
  const healthBody = await health.json();
  assert.equal(health.status, 200, JSON.stringify(healthBody));
  const { payload: hp } = await jwtVerify(healthBody.access_token, jwks, { issuer: server.issuer, audience: API_AUDIENCE });
  assert.equal(hp.agency, 'health-department');
  assert.equal(hp.client_id, 'agency-health');
  assert.equal(hp.scope, 'agency.read');
});

test('restart with the same data dir keeps the signing keys', async () => {
  const { code } = await stopServer(server.child);
  assert.equal(code, 0, 'clean exit on SIGTERM');
  server = await startServer();
  const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
  discovery = await res.json();
  const jwksJson = await (await fetch(discovery.jwks_uri)).json();
  assert.deepEqual(jwksJson.keys.map((k) => k.kid).sort(), firstKids);
  // an ID token issued before the restart still verifies (issuer differs only by port)
  const { payload } = await jwtVerify(idToken, createLocalJWKSet(jwksJson));
  assert.equal(payload.sub, 'resident1');
  assert.doesNotMatch(server.output(), /password|secret/i, 'no secrets in logs');
  const stopped = await stopServer(server.child);
  assert.equal(stopped.code, 0);
});
