// Loopback OAuth 2.0 / OpenID Connect authorization server standing in for an EHR's, for the planner's
// SMART App Launch tests: oidc-provider (the certified Node implementation), one public client with
// PKCE, the SMART scopes, and the EHR launch's context in the token response.
//
// Test-only simplifications, said here: the sign-in is automatic (one practitioner, no login form),
// and the launch context is registered by the test (POST /$test/launch {patient, appContext}) the way
// an EHR registers it before launching an app. Everything OAuth — authorization code, PKCE S256
// verification, state, redirect_uri matching, code reuse — is oidc-provider's own.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number.parseInt(process.env.PORT ?? '0', 10) || 0;
const CLIENT_ID = process.env.CLIENT_ID ?? 'trappa-planner';
const REDIRECT_URIS = (process.env.REDIRECT_URIS ?? '').split(',').filter(Boolean);
const PRACTITIONER = process.env.PRACTITIONER ?? 'Practitioner/dr-test';
const SCOPES = ['openid', 'fhirUser', 'launch', 'patient/MedicationRequest.rs', 'patient/MedicationRequest.c',
  'patient/CarePlan.c', 'patient/Flag.c'];

const launches = new Map(); // launch id -> {patient, appContext}
const launchOfGrant = new Map(); // grant id -> launch id

import http from 'node:http';

const server = http.createServer();
server.listen(PORT, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code'], response_types: ['code'] }],
    scopes: SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    extraParams: ['launch', 'aud'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub, fhirUser: PRACTITIONER }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600, IdToken: 600 },
  });
  provider.proxy = false;

  provider.use(async (ctx, next) => {
    if (ctx.path === '/$test/launch' && ctx.method === 'POST') {
      const chunks = [];
      for await (const c of ctx.req) chunks.push(c);
      const id = crypto.randomBytes(16).toString('hex');
      launches.set(id, JSON.parse(Buffer.concat(chunks).toString() || '{}'));
      ctx.body = { launch: id };
      return;
    }
    if (ctx.path.startsWith('/interaction/') && ctx.method === 'GET') {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { params } = details;
      const accountId = 'dr-test';
      const grant = new provider.Grant({ accountId, clientId: params.client_id });
      grant.addOIDCScope(String(params.scope ?? ''));
      const grantId = await grant.save();
      if (params.launch) launchOfGrant.set(grantId, String(params.launch));
      const url = await provider.interactionResult(ctx.req, ctx.res,
        { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
      ctx.redirect(url);
      return;
    }
    await next();
    // The EHR launch's context beside the token (SMART App Launch 2.0: patient, appContext).
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.access_token) {
      const code = ctx.oidc?.entities?.AuthorizationCode;
      const launch = code ? launches.get(launchOfGrant.get(code.grantId)) : undefined;
      if (launch) {
        ctx.body = { ...ctx.body, patient: launch.patient, appContext: launch.appContext };
      }
    }
  });
  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
