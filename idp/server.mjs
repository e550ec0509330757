// onecity development OpenID Connect provider (oidc-provider 9.x).
// Development only: in-memory sessions/tokens, static clients and test accounts.
// Signing keys and cookie keys persist in IDP_DATA_DIR so tokens stay verifiable across restarts.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// Configuration (environment)
// ---------------------------------------------------------------------------

const env = process.env;
const list = (value, fallback) => (value ?? fallback)
  .split(',').map((s) => s.trim()).filter(Boolean);

const HOST = '127.0.0.1';
const PORT = Number.parseInt(env.IDP_PORT ?? '4000', 10);
const DATA_DIR = path.resolve(env.IDP_DATA_DIR || './.data/idp');
const PORTAL = {
  id: env.IDP_CLIENT_ID || 'onecity-portal',
  secret: env.IDP_CLIENT_SECRET || 'onecity-dev-secret',
  redirectUris: list(env.IDP_REDIRECT_URIS, 'http://localhost:3000/auth/callback'),
  postLogoutRedirectUris: list(env.IDP_POST_LOGOUT_REDIRECT_URIS, 'http://localhost:3000/'),
};
// Agency systems (client credentials). Each token carries the `agency` it was issued for;
// the portal maps that claim to its agency records.
const AGENCY_SCOPE = 'agency.read agency.publish';
const AGENCIES = [
  {
    id: env.IDP_AGENCY_CLIENT_ID || 'agency-transit',
    secret: env.IDP_AGENCY_CLIENT_SECRET || 'agency-transit-secret',
    agency: 'transit-authority',
    name: 'transit agency system',
  },
  {
    id: 'agency-health',
    secret: env.IDP_AGENCY_HEALTH_CLIENT_SECRET || 'agency-health-secret',
    agency: 'health-department',
    name: 'health department system',
  },
];
const API_AUDIENCE = env.IDP_API_AUDIENCE || 'http://localhost:3000/api/v1';
const PORTAL_SCOPES = ['openid', 'profile', 'email', 'roles', 'offline_access'];

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`onecity-idp: invalid IDP_PORT ${JSON.stringify(env.IDP_PORT)}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Test accounts (password is "password" for every account)
// ---------------------------------------------------------------------------

const ACCOUNTS = new Map(Object.entries({
  resident1: { name: 'Li Wei', locale: 'zh-CN', roles: ['resident'] },
  resident2: { name: 'Maria Santos', locale: 'en', roles: ['resident'] },
  staff1: { name: 'Chen Jing', locale: 'en', roles: ['agency_staff'], agency: 'transit-authority' },
  admin1: { name: 'Ada Admin', locale: 'en', roles: ['agency_staff', 'admin'], agency: 'transit-authority' },
  staff2: { name: 'Zhang Min', locale: 'zh-CN', roles: ['agency_staff'], agency: 'health-department' },
}).map(([username, a]) => [username, { username, password: 'password', ...a }]));

function accountClaims(account) {
  return {
    sub: account.username,
    name: account.name,
    preferred_username: account.username,
    email: `${account.username}@onecity.test`,
    email_verified: true,
    locale: account.locale,
    roles: [...account.roles],
    ...(account.agency ? { agency: account.agency } : {}),
  };
}

function safeEqual(a, b) {
  const ha = crypto.createHash('sha256').update(String(a)).digest();
  const hb = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(ha, hb);
}

function checkCredentials(username, password) {
  const account = ACCOUNTS.get(username);
  // compare even for unknown users so timing does not reveal which usernames exist
  const ok = safeEqual(password, account ? account.password : '\0no-such-account');
  return account && ok ? account : undefined;
}

// ---------------------------------------------------------------------------
// Durable keys (private JWKS + cookie keys), created on first start
// ---------------------------------------------------------------------------

function thumbprint(jwk) {
  const members = jwk.kty === 'RSA'
    ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function newSigningJwk(alg) {
  const { privateKey } = alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), alg, use: 'sig' };
}

function readOrCreateJson(file, create) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') throw new Error(`cannot read ${file}: ${err.message}`);
  }
  const value = create();
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return value;
}

function loadKeys(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const jwks = readOrCreateJson(path.join(dir, 'jwks.json'), () => ({
    // first key is the default for its algorithm; RS256 is the default ID token alg
    keys: [newSigningJwk('RS256'), newSigningJwk('ES256')],
  }));
  const cookies = readOrCreateJson(path.join(dir, 'cookie-keys.json'), () => ({
    keys: [crypto.randomBytes(32).toString('base64url'), crypto.randomBytes(32).toString('base64url')],
  }));
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0 || !Array.isArray(cookies.keys)) {
    throw new Error(`malformed key files in ${dir}`);
  }
  return { jwks, cookieKeys: cookies.keys };
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;line-height:1.4}
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.25rem;padding:.6rem 1rem;font-size:1rem;cursor:pointer}
.error{border:2px solid #b00020;color:#b00020;padding:.5rem;margin:1rem 0}.hint{color:#444;font-size:.9rem}`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function loginPage({ uid, clientName, username = '', error }) {
  const action = `/interaction/${encodeURIComponent(uid)}/login`;
  const abort = `/interaction/${encodeURIComponent(uid)}/abort`;
  return page('onecity sign-in', `<h1>Sign in to onecity</h1>
<p class="hint">Continue to ${esc(clientName)}.</p>
${error ? `<div id="login-error" class="error" role="alert">${esc(error)}</div>` : ''}
<form id="login-form" method="post" action="${esc(action)}" autocomplete="off">
<label for="login-username">Username</label>
<input id="login-username" name="username" type="text" value="${esc(username)}" required autocapitalize="none" spellcheck="false" ${error ? '' : 'autofocus'}>
<label for="login-password">Password</label>
<input id="login-password" name="password" type="password" required ${error ? 'autofocus' : ''}>
<button id="login-submit" type="submit">Sign in</button>
</form>
<p><a id="login-cancel" href="${esc(abort)}">Cancel</a></p>
<p class="hint">Development identity provider. Test accounts: resident1, resident2, staff1, admin1 (password: <code>password</code>).</p>`);
}

function logoutPage(ctx, form) {
  const client = ctx.oidc.client;
  const who = client ? (client.clientName || client.clientId) : 'onecity';
  // `form` is oidc-provider's <form id="op.logoutForm"> with the xsrf hidden input;
  // the buttons reference it through the form= attribute so no JavaScript is needed.
  ctx.type = 'html';
  ctx.body = page('onecity sign-out', `<h1>Sign out</h1>
<p>Do you want to sign out of ${esc(who)} and this identity provider?</p>
${form}
<button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button id="logout-cancel" type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

function postLogoutPage(ctx) {
  ctx.type = 'html';
  ctx.body = page('onecity sign-out', '<h1 id="logout-success">You are signed out</h1>');
}

function errorPage(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('onecity sign-in error', `<h1>Sign-in error</h1>
<dl id="error-details">${Object.entries(out).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`);
}

// ---------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------

async function importProvider() {
  // oidc-provider 9 prints "Unsupported runtime. Use Node.js v22.x LTS" on Node 20 at import
  // time. It works on Node 20.19+, so drop exactly that one line.
  const original = console.warn;
  console.warn = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime. Use Node.js')) return;
    original(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = original;
  }
}

function buildProvider({ Provider, errors }, issuer, { jwks, cookieKeys }) {
  const isPortal = (client) => client?.clientId === PORTAL.id;

  const configuration = {
    clients: [
      {
        client_id: PORTAL.id,
        client_secret: PORTAL.secret,
        client_name: 'onecity portal',
        application_type: 'web',
        token_endpoint_auth_method: 'client_secret_basic',
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: PORTAL.redirectUris,
        post_logout_redirect_uris: PORTAL.postLogoutRedirectUris,
        scope: PORTAL_SCOPES.join(' '),
      },
      ...AGENCIES.map((a) => ({
        client_id: a.id,
        client_secret: a.secret,
        client_name: a.name,
        token_endpoint_auth_method: 'client_secret_basic',
        response_types: [],
        grant_types: ['client_credentials'],
        redirect_uris: [],
        scope: AGENCY_SCOPE,
      })),
    ],
    // Both clients register client_secret_basic; oidc-provider also accepts client_secret_post
    // for a client registered with a client_secret_* method (both are enabled here).
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks,
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    scopes: ['openid', 'offline_access', 'agency.read', 'agency.publish'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'locale'],
      email: ['email', 'email_verified'],
      roles: ['roles', 'agency'],
    },
    conformIdTokenClaims: false,
    pkce: {
      // S256 is the only method oidc-provider 9 supports; require it for every client.
      required: () => true,
    },
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: logoutPage,
        postLogoutSuccessSource: postLogoutPage,
      },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // client credentials tokens without a `resource` parameter are for the agency API
        defaultResource: (ctx, client, oneOf) => {
          if (oneOf) return oneOf;
          if (ctx.oidc.params?.grant_type === 'client_credentials') return API_AUDIENCE;
          return undefined;
        },
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== API_AUDIENCE) throw new errors.InvalidTarget();
          return {
            scope: AGENCY_SCOPE,
            audience: API_AUDIENCE,
            accessTokenTTL: 10 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (ctx, token) => {
      const agency = token.kind === 'ClientCredentials' && AGENCIES.find((a) => a.id === token.clientId);
      if (agency) return { agency: agency.agency };
      return undefined;
    },
    // first-party portal: grant its scopes automatically so no consent screen is shown
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (isPortal(client) && session.accountId) {
        if (!grant || grant.accountId !== session.accountId) {
          grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
        }
        grant.addOIDCScope(PORTAL_SCOPES.join(' '));
        await grant.save();
      }
      return grant;
    },
    findAccount: (ctx, sub) => {
      const account = ACCOUNTS.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: () => accountClaims(account) };
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError: errorPage,
    ttl: {
      AccessToken: 10 * 60,
      AuthorizationCode: 60,
      ClientCredentials: 10 * 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
      RefreshToken: 24 * 60 * 60,
    },
    clientBasedCORS: () => false,
  };

  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('onecity-idp server_error:', err));
  return provider;
}

// ---------------------------------------------------------------------------
// HTTP: own interaction routes, everything else to oidc-provider
// ---------------------------------------------------------------------------

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    'Referrer-Policy': 'no-referrer',
  });
  res.end(html);
}

function readForm(req, limit = 16 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function interactionHandler(provider) {
  return async (req, res, uid, action) => {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      send(res, 400, page('onecity sign-in error', '<h1>Sign-in session expired</h1><p id="error-details">This sign-in request is no longer valid. Return to the application and sign in again.</p>'));
      return;
    }
    if (details.uid !== uid) {
      send(res, 400, page('onecity sign-in error', '<h1>Sign-in request mismatch</h1>'));
      return;
    }
    const client = await provider.Client.find(details.params.client_id);
    const clientName = client?.clientName || details.params.client_id;
    const prompt = details.prompt.name;

    if (action === 'abort' && req.method === 'GET') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return;
    }

    if (prompt === 'login') {
      if (!action && req.method === 'GET') {
        send(res, 200, loginPage({ uid, clientName }));
        return;
      }
      if (action === 'login' && req.method === 'POST') {
        const form = await readForm(req);
        const username = (form.get('username') ?? '').trim();
        const account = checkCredentials(username, form.get('password') ?? '');
        if (!account) {
          console.log(`onecity-idp: failed login for ${JSON.stringify(username.slice(0, 64))}`);
          send(res, 401, loginPage({ uid, clientName, username, error: 'Invalid username or password.' }));
          return;
        }
        console.log(`onecity-idp: login ${account.username}`);
        await provider.interactionFinished(req, res, {
          login: { accountId: account.username },
        }, { mergeWithLastSubmission: false });
        return;
      }
    }

    if (prompt === 'consent' && !action && req.method === 'GET') {
      // Fallback for any consent prompt: all clients are first-party, grant what was asked.
      const { grantId, params, session, prompt: { details: missing } } = details;
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      if (missing.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      await provider.interactionFinished(req, res, {
        consent: { grantId: await grant.save() },
      }, { mergeWithLastSubmission: true });
      return;
    }

    send(res, 405, page('onecity sign-in error', '<h1>Unsupported request</h1>'));
  };
}

async function main() {
  const keys = loadKeys(DATA_DIR);
  const oidc = await importProvider();

  const notReady = (req, res) => send(res, 503, page('onecity-idp', '<h1>Starting</h1>'));
  let handleOidc = notReady;
  let handleInteraction = notReady;
  const server = http.createServer(async (req, res) => {
    try {
      const { pathname } = new URL(req.url, 'http://placeholder');
      const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?$/.exec(pathname);
      if (m) {
        await handleInteraction(req, res, m[1], m[2]);
        return;
      }
      handleOidc(req, res);
    } catch (err) {
      console.error('onecity-idp error:', err?.message ?? err);
      if (!res.headersSent) send(res, err?.status ?? 500, page('onecity error', '<h1>Something went wrong</h1>'));
      else res.end();
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, HOST, resolve);
  });
  const { port } = server.address();
  const issuer = (env.IDP_ISSUER || `http://${HOST}:${port}`).replace(/\/+$/, '');

  const provider = buildProvider(oidc, issuer, keys);
  handleOidc = provider.callback();
  handleInteraction = interactionHandler(provider);

  const kids = keys.jwks.keys.map((k) => `${k.alg}:${k.kid}`).join(', ');
  console.log(`onecity-idp data dir ${DATA_DIR}, issuer ${issuer}, signing keys ${kids}`);
  console.log(`onecity-idp listening on http://${HOST}:${port}`);

  let closing = false;
  const shutdown = (signal) => {
    if (closing) return;
    closing = true;
    console.log(`onecity-idp: ${signal}, shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  console.error(`onecity-idp failed to start: ${err?.message ?? err}`);
  process.exit(1);
});
