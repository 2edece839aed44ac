// A real OpenID Connect provider for the console's tests: oidc-provider
// (the npm registry's certified implementation) over HTTPS with a
// certificate of the test federation's CA. Its development sign-in pages
// stand in for the organisation's: the operators below are who it knows,
// each with the groups the console maps to Trama roles.
//
//   node idp.mjs PORT CERT KEY REDIRECT_URL CLIENT_SECRET
//
// Prints "ready" once it serves. It signs ID tokens with an RSA key made at
// each start, named by a random key id: a restart is a key rollover.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, cert, key, redirect, secret] = process.argv.slice(2);

const operators = {
  'marco.bianchi': { name: 'Marco Bianchi', groups: ['dipendenti', 'servizi-sociali'] },
  'ospite': { name: 'Ospite della biblioteca', groups: ['visitatori'] },
};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  use: 'sig',
  alg: 'RS256',
};

const provider = new Provider(`https://127.0.0.1:${port}`, {
  jwks: { keys: [signing] },
  clients: [{
    client_id: 'trama-console',
    client_secret: secret,
    redirect_uris: [redirect],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  cookies: { keys: ['trama-test-provider-cookie-key'] },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
  async findAccount(ctx, id) {
    const who = operators[id];
    if (!who) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: who.name, preferred_username: id, groups: who.groups };
      },
    };
  },
});

https
  .createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => console.log('ready'));
