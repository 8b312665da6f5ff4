// Concierge's API for TypeScript: `paths` and `components` are generated from
// openapi/openapi.json (src/schema.d.ts, `npm run generate`); `createConciergeClient` is a
// typed fetch client over them (openapi-fetch): every path, parameter, body and answer is
// checked by the compiler.

import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

export type { components, paths };

/** Every schema of the API by name, e.g. `Schemas["OnboardingRequest"]`. */
export type Schemas = components["schemas"];

/**
 * How requests are signed: the admin key (`x-api-key`, seed 003), a bearer token (an API
 * token `cnc_…`, seed 004, or a signed-in user's access JWT, seed 002), or nothing.
 */
export type Credentials = { apiKey: string } | { bearer: string } | null;

/**
 * A client for the API at `baseUrl` (e.g. `http://localhost:8000`). `credentials` is asked
 * before every request, so a token refreshed meanwhile is used at once.
 */
export function createConciergeClient(
  baseUrl: string,
  credentials: () => Credentials = () => null,
): Client<paths> {
  const client = createClient<paths>({ baseUrl });
  const sign: Middleware = {
    onRequest({ request }) {
      const given = credentials();
      if (given !== null && "apiKey" in given) {
        request.headers.set("x-api-key", given.apiKey);
      } else if (given !== null) {
        request.headers.set("authorization", `Bearer ${given.bearer}`);
      }
      return request;
    },
  };
  client.use(sign);
  return client;
}
