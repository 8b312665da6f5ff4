// Seed 001's frontend calls, written against the generated types: `npm run check` compiles
// this file, so a change of the spec that breaks them fails the check (and the lines marked
// `@ts-expect-error` prove the types refuse what the API refuses).

import { createConciergeClient, type Schemas } from "./index";

const api = createConciergeClient("http://localhost:8000");

export async function onboard(name: string, email: string): Promise<string | null> {
  const form: Schemas["OnboardingRequest"] = {
    name,
    email,
    selectedPersonality: "loving",
    communicationChannel: "discord",
  };
  const { data, error } = await api.POST("/api/user/onboarding", { body: form });
  if (error !== undefined) {
    // Every error is `{code, message}`.
    const code: string = error.code;
    return code;
  }
  // `verification_url` may be null (the member links later): the type says so.
  const url: string | null | undefined = data.verification_url;
  return url ?? null;
}

export async function users(key: string): Promise<number> {
  const admin = createConciergeClient("http://localhost:8000", () => ({ apiKey: key }));
  const { data } = await admin.GET("/api/users", { params: { query: { per_page: 50, q: "ada" } } });
  const first = data?.users[0];
  // A user's Discord id and invitation may be null.
  const discord: string | null | undefined = first?.discord_id;
  void discord;
  return data?.total ?? 0;
}

export function refused(): void {
  // @ts-expect-error: the channel is one of discord, email, web
  const wrongChannel: Schemas["OnboardingRequest"] = { name: "Ada", email: "a@b.co", communicationChannel: "fax" };
  // @ts-expect-error: a name is a string
  const wrongName: Schemas["OnboardingRequest"] = { name: 12, email: "a@b.co" };
  // @ts-expect-error: no such path
  void api.GET("/api/nope");
  void wrongChannel;
  void wrongName;
}
