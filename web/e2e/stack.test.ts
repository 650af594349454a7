// The stack the browser tests run against, checked without the web client's UI: passkeys work
// in Chromium on http://localhost (RP ID `localhost`, the virtual authenticator), and the anchor
// helpers pair an anchor through the device flow and run it against codex and the mock model.
import { anchorLogin, anchorRun, approveDevice, devSession, expect, test } from "./support";

test("a passkey made in Chromium on localhost signs up, then signs in", async ({ page, authenticator }) => {
  await page.goto("/");
  const name = `e2e-${Date.now().toString(36)}`;
  const ceremonies = await page.evaluate(async (name) => {
    const post = async (path: string, body: unknown) => {
      const response = await fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
      return JSON.parse(text);
    };
    const creation = await post("/auth/passkey/register/options", { name });
    const created = (await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(creation.publicKey),
    })) as PublicKeyCredential;
    const signedUp = await post("/auth/passkey/register/verify", {
      challengeId: creation.challengeId,
      credential: created.toJSON(),
      label: "e2e",
    });
    const request = await post("/auth/passkey/login/options", {});
    const asserted = (await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(request.publicKey),
    })) as PublicKeyCredential;
    const signedIn = await post("/auth/passkey/login/verify", {
      challengeId: request.challengeId,
      credential: asserted.toJSON(),
    });
    return { rpId: creation.publicKey.rp.id, signedUp, signedIn };
  }, name);
  expect(ceremonies.rpId).toBe("localhost");
  expect(ceremonies.signedUp.name).toBe(name);
  expect(ceremonies.signedIn.userId).toBe(ceremonies.signedUp.userId);
  const credentials = await authenticator.credentials();
  expect(credentials).toHaveLength(1);
  expect(credentials[0]).toMatchObject({ rpId: "localhost", isResidentCredential: true });
});

test("an anchor pairs through the device flow and bridges codex", async ({ stack }) => {
  const web = await devSession(stack);
  const login = await anchorLogin(stack, "e2e-laptop");
  expect(login.userCode).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  expect(login.verificationUri).toBe(`${stack.orbit}/device`);
  expect(login.verificationUriComplete).toMatch(new RegExp(`^${stack.orbit}/device\\?link=[A-Za-z0-9_-]{22}$`));
  const approved = await approveDevice(stack, web.accessToken, login.userCode);
  const { anchorId } = await login.done();
  expect(approved.anchorId).toBe(anchorId);

  const anchor = await anchorRun(stack, login.stateDir);
  const status = await anchor.waitReady();
  expect(status.orbit.connected).toBe(true);
  await anchor.stop();
  expect(anchor.running()).toBe(false);
});
